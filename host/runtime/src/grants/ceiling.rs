//! A supervisor's `child_grants`: the most a child started under it at
//! run time may be granted. A request within it is granted as asked; one
//! that reaches further is refused whole, with the first grant that does
//! ([`Denied`]). A supervisor without `child_grants` lets run-time
//! children have no grants at all.

use std::path::PathBuf;

use super::{AddrPattern, Authority, DirMode, Grants, SocketGrant, list};

/// What children started at run time under one supervisor may be granted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildGrants {
    /// Host directories (canonical) a child may be given, or any
    /// directory below one, read-only or up to the mode named.
    pub dirs: Vec<(PathBuf, DirMode)>,
    /// Environment variables a child may be given, by name, any value.
    pub env: Vec<String>,
    /// Authorities a child's outgoing HTTP may go to.
    pub http_outgoing: Vec<Authority>,
    /// Socket addresses a child may use.
    pub sockets: Option<SocketGrant>,
    /// Buckets a child may open.
    pub keyvalue: Vec<String>,
}

/// A run-time child asked for more than its supervisor's `child_grants`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("denied: {}", self.reason())]
pub struct Denied {
    /// The supervisor.
    pub supervisor: String,
    /// The grant: `dirs`, `env`, `http_outgoing`, `sockets`, `keyvalue`,
    /// or `child_grants` (a subtree's own ceiling).
    pub grant: &'static str,
    /// What was asked for, as written.
    pub asked: String,
    /// What the supervisor allows for that grant (`none` when nothing).
    pub allowed: String,
}

impl Denied {
    /// Why, without the leading `denied: ` (a guest's `child-error` is
    /// the case `denied` with this text).
    pub fn reason(&self) -> String {
        format!(
            "{grant} {asked} is not within what {supervisor:?} may grant its children (child_grants {grant}: {allowed})",
            grant = self.grant,
            asked = self.asked,
            supervisor = self.supervisor,
            allowed = self.allowed
        )
    }
}

impl ChildGrants {
    /// One line per kind of grant, for `arbor check`.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if !self.dirs.is_empty() {
            lines.push(format!("dirs: {}", self.allowed_dirs()));
        }
        if !self.env.is_empty() {
            lines.push(format!("env: {}", self.env.join(", ")));
        }
        if !self.http_outgoing.is_empty() {
            lines.push(format!("http_outgoing: {}", list(&self.http_outgoing)));
        }
        if let Some(sockets) = &self.sockets {
            lines.push(format!("sockets: {sockets}"));
        }
        if !self.keyvalue.is_empty() {
            lines.push(format!("keyvalue: {}", self.keyvalue.join(", ")));
        }
        lines
    }

    fn allowed_dirs(&self) -> String {
        let dirs: Vec<String> = self
            .dirs
            .iter()
            .map(|(host, mode)| format!("{} ({mode})", host.display()))
            .collect();
        or_none(dirs.join(", "))
    }

    /// Whether a worker with `grants` and `keyvalue` buckets fits under
    /// `ceiling` (of `supervisor`; `None`: it grants nothing). Directories
    /// must already be canonical ([`super::request::resolve_dirs_of`]).
    pub fn admits(
        ceiling: Option<&ChildGrants>,
        supervisor: &str,
        grants: Option<&Grants>,
        keyvalue: &[String],
    ) -> Result<(), Denied> {
        let empty = ChildGrants::default();
        let ceiling = ceiling.unwrap_or(&empty);
        let deny = |grant: &'static str, asked: String, allowed: String| Denied {
            supervisor: supervisor.to_string(),
            grant,
            asked,
            allowed: or_none(allowed),
        };
        if let Some(grants) = grants {
            for dir in &grants.dirs {
                let within = ceiling
                    .dirs
                    .iter()
                    .any(|(host, mode)| dir.host.starts_with(host) && dir.mode <= *mode);
                if !within {
                    let asked = format!("{} ({})", dir.host.display(), dir.mode);
                    return Err(deny("dirs", asked, ceiling.allowed_dirs()));
                }
            }
            for (name, _) in &grants.env {
                if !ceiling.env.contains(name) {
                    return Err(deny("env", name.clone(), ceiling.env.join(", ")));
                }
            }
            for authority in &grants.http_outgoing {
                if !ceiling.http_outgoing.contains(authority) {
                    let allowed = list(&ceiling.http_outgoing);
                    return Err(deny("http_outgoing", authority.to_string(), allowed));
                }
            }
            if let Some(asked) = &grants.sockets {
                let allowed = ceiling
                    .sockets
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let Some(granted) = &ceiling.sockets else {
                    return Err(deny("sockets", asked.to_string(), allowed));
                };
                if let Some(wider) = uncovered(&asked.connect, &granted.connect)
                    .map(|p| format!("connect {p}"))
                    .or_else(|| uncovered(&asked.bind, &granted.bind).map(|p| format!("bind {p}")))
                    .or_else(|| {
                        (asked.ip_name_lookup && !granted.ip_name_lookup)
                            .then(|| "ip_name_lookup".to_string())
                    })
                {
                    return Err(deny("sockets", wider, allowed));
                }
            }
        }
        if let Some(bucket) = keyvalue.iter().find(|b| !ceiling.keyvalue.contains(b)) {
            return Err(deny(
                "keyvalue",
                bucket.clone(),
                ceiling.keyvalue.join(", "),
            ));
        }
        Ok(())
    }

    /// Whether a run-time subtree's own `child_grants` (`inner`) fits under
    /// `ceiling`: otherwise its dynamic supervisors could grant their
    /// children more than the supervisor it joins allows.
    pub fn admits_ceiling(
        ceiling: Option<&ChildGrants>,
        supervisor: &str,
        inner: &ChildGrants,
    ) -> Result<(), Denied> {
        let as_grants = Grants {
            dirs: inner
                .dirs
                .iter()
                .map(|(host, mode)| super::DirGrant {
                    host: host.clone(),
                    guest: String::new(),
                    mode: *mode,
                })
                .collect(),
            env: inner
                .env
                .iter()
                .map(|name| (name.clone(), String::new()))
                .collect(),
            http_outgoing: inner.http_outgoing.clone(),
            sockets: inner.sockets.clone(),
        };
        ChildGrants::admits(ceiling, supervisor, Some(&as_grants), &inner.keyvalue).map_err(
            |denied| Denied {
                grant: "child_grants",
                asked: format!("{} {}", denied.grant, denied.asked),
                ..denied
            },
        )
    }
}

/// The first of `asked` that no pattern of `granted` covers.
fn uncovered<'a>(asked: &'a [AddrPattern], granted: &[AddrPattern]) -> Option<&'a AddrPattern> {
    asked
        .iter()
        .find(|pattern| !granted.iter().any(|g| g.covers(pattern)))
}

fn or_none(text: String) -> String {
    if text.is_empty() {
        "none".to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::DirGrant;

    fn ceiling() -> ChildGrants {
        ChildGrants {
            dirs: vec![
                (PathBuf::from("/srv/data"), DirMode::ReadWrite),
                (PathBuf::from("/srv/ro"), DirMode::ReadOnly),
            ],
            env: vec!["REGION".into()],
            http_outgoing: vec![Authority {
                host: "api.example.com".into(),
                port: None,
            }],
            sockets: Some(SocketGrant {
                connect: vec![AddrPattern {
                    ip: "127.0.0.1".parse().unwrap(),
                    port: None,
                }],
                ..SocketGrant::default()
            }),
            keyvalue: vec!["orders".into()],
        }
    }

    fn dir(host: &str, mode: DirMode) -> Grants {
        Grants {
            dirs: vec![DirGrant {
                host: host.into(),
                guest: "/d".into(),
                mode,
            }],
            ..Grants::default()
        }
    }

    #[test]
    fn a_directory_below_a_granted_one_in_its_mode_or_narrower_is_admitted() {
        let c = ceiling();
        for (host, mode) in [
            ("/srv/data", DirMode::ReadWrite),
            ("/srv/data/o17", DirMode::ReadOnly),
            ("/srv/ro/x", DirMode::ReadOnly),
        ] {
            ChildGrants::admits(Some(&c), "pool", Some(&dir(host, mode)), &[]).unwrap();
        }
    }

    #[test]
    fn a_directory_outside_or_writable_where_only_reading_is_allowed_is_denied_naming_dirs() {
        let c = ceiling();
        for (host, mode) in [
            ("/srv/database", DirMode::ReadOnly),
            ("/srv", DirMode::ReadOnly),
            ("/srv/ro/x", DirMode::ReadWrite),
        ] {
            let denied =
                ChildGrants::admits(Some(&c), "pool", Some(&dir(host, mode)), &[]).unwrap_err();
            assert_eq!(denied.grant, "dirs");
            assert!(denied.to_string().starts_with("denied: dirs "), "{denied}");
        }
    }

    #[test]
    fn every_kind_of_grant_is_checked_and_no_ceiling_admits_nothing() {
        let c = ceiling();
        let env = Grants {
            env: vec![("TOKEN".into(), "x".into())],
            ..Grants::default()
        };
        assert_eq!(
            ChildGrants::admits(Some(&c), "p", Some(&env), &[])
                .unwrap_err()
                .grant,
            "env"
        );
        let http = Grants {
            http_outgoing: vec![Authority {
                host: "evil.com".into(),
                port: None,
            }],
            ..Grants::default()
        };
        assert_eq!(
            ChildGrants::admits(Some(&c), "p", Some(&http), &[])
                .unwrap_err()
                .grant,
            "http_outgoing"
        );
        let sockets = Grants {
            sockets: Some(SocketGrant {
                ip_name_lookup: true,
                ..SocketGrant::default()
            }),
            ..Grants::default()
        };
        let denied = ChildGrants::admits(Some(&c), "p", Some(&sockets), &[]).unwrap_err();
        assert_eq!(
            (denied.grant, denied.asked.as_str()),
            ("sockets", "ip_name_lookup")
        );
        let denied = ChildGrants::admits(Some(&c), "p", None, &["stock".into()]).unwrap_err();
        assert_eq!(denied.grant, "keyvalue");
        ChildGrants::admits(Some(&c), "p", None, &["orders".into()]).unwrap();
        let denied = ChildGrants::admits(None, "p", None, &["orders".into()]).unwrap_err();
        assert_eq!(
            denied.to_string(),
            "denied: keyvalue orders is not within what \"p\" may grant its children (child_grants keyvalue: none)"
        );
        ChildGrants::admits(None, "p", None, &[]).unwrap();
    }

    #[test]
    fn a_subtrees_own_ceiling_must_fit_under_the_supervisor_it_joins() {
        let c = ceiling();
        let narrower = ChildGrants {
            dirs: vec![(PathBuf::from("/srv/data/x"), DirMode::ReadOnly)],
            keyvalue: vec!["orders".into()],
            ..ChildGrants::default()
        };
        ChildGrants::admits_ceiling(Some(&c), "p", &narrower).unwrap();
        let wider = ChildGrants {
            env: vec!["SECRET".into()],
            ..ChildGrants::default()
        };
        let denied = ChildGrants::admits_ceiling(Some(&c), "p", &wider).unwrap_err();
        assert_eq!(
            (denied.grant, denied.asked.as_str()),
            ("child_grants", "env SECRET")
        );
    }
}
