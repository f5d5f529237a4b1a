//! Grants as they are asked for, in the same words everywhere: a worker's
//! fields in the tree file (`dirs`, `env`, `http_outgoing`, `sockets`), a
//! supervisor's `child_grants`, the JSON of `arbor ctl start-child
//! --grants`, and a guest's `start-child-with-grants`. Reading one checks
//! it and resolves it: host directories against a base directory (the
//! tree file's), to canonical paths that must exist.

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{AddrPattern, Authority, DirGrant, DirMode, Grants, SocketGrant, normalize_host};
use crate::grants::ChildGrants;

/// A grant that cannot be read: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct GrantError {
    /// The field: `dirs`, `env`, `http_outgoing`, `sockets`, `keyvalue`.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl GrantError {
    fn new(field: &'static str, message: impl Into<String>) -> GrantError {
        GrantError {
            field,
            message: message.into(),
        }
    }
}

/// A directory asked for: `{ host = "data/in", guest = "/in", mode = "ro" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirRequest {
    /// The host directory, relative to the tree file's directory unless absolute.
    pub host: String,
    /// Where the guest sees it (absolute: `/in`). A supervisor's
    /// `child_grants` leaves it out: each child says where it sees the
    /// directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest: Option<String>,
    /// `ro` (the default) or `rw`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// Sockets asked for: `{ connect = ["127.0.0.1:5432"], bind = ["0.0.0.0:*"], ip_name_lookup = true }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SocketRequest {
    /// `IP:PORT` or `IP:*` that TCP may connect to and UDP send to.
    pub connect: Vec<String>,
    /// `IP:PORT` or `IP:*` that TCP may bind and listen on and UDP bind.
    pub bind: Vec<String>,
    /// Whether `wasi:sockets/ip-name-lookup` may resolve names.
    pub ip_name_lookup: bool,
}

/// Grants asked for at run time (`start-child` from Rust, `arbor ctl`, or
/// a guest), or a supervisor's `child_grants` when `env` lists names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrantRequest {
    /// Preopened directories.
    pub dirs: Vec<DirRequest>,
    /// Environment variables, by name.
    pub env: BTreeMap<String, String>,
    /// `host` or `host:port` that outgoing HTTP may go to.
    pub http_outgoing: Vec<String>,
    /// `wasi:sockets`; absent: off.
    pub sockets: Option<SocketRequest>,
    /// `wasi:keyvalue` buckets.
    pub keyvalue: Vec<String>,
}

impl GrantRequest {
    /// Checks it, without touching the filesystem: the grants (`None` when
    /// it grants none of them) and the buckets. Host directories stay as
    /// written: the supervisor the child joins resolves them against the
    /// tree file's directory ([`resolve_dirs_of`]).
    pub fn read(&self) -> Result<(Option<Grants>, Vec<String>), GrantError> {
        let grants = Grants {
            dirs: dirs_as_written(&self.dirs)?,
            env: env(&self.env)?,
            http_outgoing: http_outgoing(&self.http_outgoing)?,
            sockets: self.sockets.as_ref().map(sockets).transpose()?,
        };
        let keyvalue = keyvalue(&self.keyvalue)?;
        Ok(((!grants.is_empty()).then_some(grants), keyvalue))
    }
}

/// A supervisor's `child_grants` as written: what its run-time children
/// may ask for at most.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CeilingRequest {
    /// Host directories (`host`, `mode`) children may be given, or any
    /// directory below one of them.
    pub dirs: Vec<DirRequest>,
    /// Names of the environment variables children may be given, with any value.
    pub env: Vec<String>,
    /// Authorities children's outgoing HTTP may go to.
    pub http_outgoing: Vec<String>,
    /// Socket addresses children may use.
    pub sockets: Option<SocketRequest>,
    /// Buckets children may open.
    pub keyvalue: Vec<String>,
}

impl CeilingRequest {
    /// Checks and resolves it (host directories against `base`).
    pub fn resolve(&self, base: &Path) -> Result<ChildGrants, GrantError> {
        let mut dirs_allowed = Vec::new();
        for dir in &self.dirs {
            if dir.guest.is_some() {
                return Err(GrantError::new(
                    "dirs",
                    format!(
                        "child_grants name host directories only (drop `guest = {:?}`): each child says where it sees one",
                        dir.guest.as_deref().unwrap_or_default()
                    ),
                ));
            }
            let host = host_as_written(&dir.host)?;
            dirs_allowed.push((host_dir(&host, base)?, mode(dir.mode.as_deref())?));
        }
        for name in &self.env {
            env_name(name)?;
        }
        Ok(ChildGrants {
            dirs: dirs_allowed,
            env: self.env.clone(),
            http_outgoing: http_outgoing(&self.http_outgoing)?,
            sockets: self.sockets.as_ref().map(sockets).transpose()?,
            keyvalue: keyvalue(&self.keyvalue)?,
        })
    }
}

/// Directories: each host directory exists (resolved against `base`),
/// each guest path is absolute and used once.
pub fn dirs(requests: &[DirRequest], base: &Path) -> Result<Vec<DirGrant>, GrantError> {
    let mut dirs = dirs_as_written(requests)?;
    for dir in &mut dirs {
        dir.host = host_dir(&dir.host, base)?;
    }
    Ok(dirs)
}

/// [`dirs`] without the filesystem: host directories as written.
fn dirs_as_written(requests: &[DirRequest]) -> Result<Vec<DirGrant>, GrantError> {
    let mut seen = HashSet::new();
    let mut dirs = Vec::with_capacity(requests.len());
    for request in requests {
        let Some(guest) = &request.guest else {
            return Err(GrantError::new(
                "dirs",
                format!(
                    "{:?} needs `guest`, the path the guest sees it at (e.g. \"/data\")",
                    request.host
                ),
            ));
        };
        let guest = guest_path(guest)?;
        if !seen.insert(guest.clone()) {
            return Err(GrantError::new(
                "dirs",
                format!("the guest path {guest:?} is granted twice"),
            ));
        }
        dirs.push(DirGrant {
            host: host_as_written(&request.host)?,
            guest,
            mode: mode(request.mode.as_deref())?,
        });
    }
    Ok(dirs)
}

fn host_as_written(host: &str) -> Result<PathBuf, GrantError> {
    if host.trim().is_empty() {
        return Err(GrantError::new("dirs", "a host directory may not be empty"));
    }
    Ok(PathBuf::from(host))
}

/// `host` resolved against `base`: an existing directory, canonical (so a
/// symlink out of a ceiling is seen for what it is).
fn host_dir(host: &Path, base: &Path) -> Result<PathBuf, GrantError> {
    let path = base.join(host);
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_dir() => std::fs::canonicalize(&path).map_err(|e| {
            GrantError::new(
                "dirs",
                format!(
                    "cannot resolve {} ({}): {e}",
                    host.display(),
                    path.display()
                ),
            )
        }),
        Ok(_) => Err(GrantError::new(
            "dirs",
            format!("{} ({}) is not a directory", host.display(), path.display()),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(GrantError::new(
            "dirs",
            format!(
                "the directory {} does not exist ({})",
                host.display(),
                path.display()
            ),
        )),
        Err(e) => Err(GrantError::new(
            "dirs",
            format!("cannot read {} ({}): {e}", host.display(), path.display()),
        )),
    }
}

/// A guest path: absolute, without `..`, trailing `/` dropped.
fn guest_path(guest: &str) -> Result<String, GrantError> {
    let bad = |why: &str| GrantError::new("dirs", format!("guest path {guest:?}: {why}"));
    if !guest.starts_with('/') {
        return Err(bad("must be absolute (start with /)"));
    }
    if Path::new(guest)
        .components()
        .any(|c| matches!(c, Component::ParentDir))
    {
        return Err(bad("may not contain `..`"));
    }
    if guest.contains('\0') {
        return Err(bad("may not contain a NUL byte"));
    }
    let trimmed = guest.trim_end_matches('/');
    Ok(if trimmed.is_empty() { "/" } else { trimmed }.to_string())
}

fn mode(word: Option<&str>) -> Result<DirMode, GrantError> {
    match word {
        None | Some("ro") => Ok(DirMode::ReadOnly),
        Some("rw") => Ok(DirMode::ReadWrite),
        Some(other) => Err(GrantError::new(
            "dirs",
            format!("mode must be \"ro\" or \"rw\", got {other:?}"),
        )),
    }
}

/// Environment variables: names without `=` or NUL, values without NUL.
pub fn env(variables: &BTreeMap<String, String>) -> Result<Vec<(String, String)>, GrantError> {
    let mut env = Vec::with_capacity(variables.len());
    for (name, value) in variables {
        env_name(name)?;
        if value.contains('\0') {
            return Err(GrantError::new(
                "env",
                format!("the value of {name} contains a NUL byte"),
            ));
        }
        env.push((name.clone(), value.clone()));
    }
    Ok(env)
}

fn env_name(name: &str) -> Result<(), GrantError> {
    if name.is_empty() || name.contains(['=', '\0']) {
        return Err(GrantError::new(
            "env",
            format!("{name:?} is not a variable name (non-empty, no `=` or NUL)"),
        ));
    }
    Ok(())
}

/// Authorities: `host` or `host:port`, no scheme, path or wildcard.
pub fn http_outgoing(entries: &[String]) -> Result<Vec<Authority>, GrantError> {
    entries.iter().map(|entry| authority(entry)).collect()
}

fn authority(text: &str) -> Result<Authority, GrantError> {
    let bad = |why: &str| GrantError::new("http_outgoing", format!("{text:?}: {why}"));
    if text.contains("://") {
        return Err(bad(
            "name the host, or host:port, not a URL (e.g. \"api.example.com\" or \"127.0.0.1:9000\")",
        ));
    }
    if text.contains(['/', '@', '*', '?', '#']) || text.trim() != text {
        return Err(bad(
            "expected a host or host:port (no path, user, wildcard or spaces)",
        ));
    }
    let parsed = hyper::http::uri::Authority::from_str(text)
        .map_err(|e| bad(&format!("not a host or host:port ({e})")))?;
    if parsed.host().is_empty() {
        return Err(bad("the host is empty"));
    }
    if text.ends_with(':') {
        return Err(bad("the port is empty"));
    }
    Ok(Authority {
        host: normalize_host(parsed.host()),
        port: parsed.port_u16(),
    })
}

/// Sockets: each address `IP:PORT` or `IP:*`.
pub fn sockets(request: &SocketRequest) -> Result<SocketGrant, GrantError> {
    let patterns = |entries: &[String]| -> Result<Vec<AddrPattern>, GrantError> {
        entries.iter().map(|e| addr_pattern(e)).collect()
    };
    Ok(SocketGrant {
        connect: patterns(&request.connect)?,
        bind: patterns(&request.bind)?,
        ip_name_lookup: request.ip_name_lookup,
    })
}

fn addr_pattern(text: &str) -> Result<AddrPattern, GrantError> {
    let bad = || {
        GrantError::new(
            "sockets",
            format!(
                "expected IP:PORT or IP:* (e.g. \"127.0.0.1:5432\", \"[::1]:*\"), got {text:?}"
            ),
        )
    };
    if let Some(ip) = text.strip_suffix(":*") {
        let ip = ip
            .strip_prefix('[')
            .and_then(|v6| v6.strip_suffix(']'))
            .unwrap_or(ip);
        let ip: IpAddr = ip.parse().map_err(|_| bad())?;
        return Ok(AddrPattern { ip, port: None });
    }
    let address: SocketAddr = text.parse().map_err(|_| bad())?;
    Ok(AddrPattern {
        ip: address.ip(),
        port: Some(address.port()),
    })
}

/// Buckets: 1 to 255 bytes each.
pub fn keyvalue(buckets: &[String]) -> Result<Vec<String>, GrantError> {
    let max = crate::keyvalue::MAX_BUCKET_BYTES;
    if let Some(bad) = buckets.iter().find(|b| b.is_empty() || b.len() > max) {
        return Err(GrantError::new(
            "keyvalue",
            format!("bucket names are 1 to {max} bytes, got {bad:?}"),
        ));
    }
    Ok(buckets.to_vec())
}

/// Run-time grants whose host directories may still be relative, or not
/// canonical: resolved against `base` as the tree file's are.
pub fn resolve_dirs_of(grants: &Grants, base: &Path) -> Result<Grants, GrantError> {
    let mut resolved = grants.clone();
    for dir in &mut resolved.dirs {
        dir.host = host_dir(&dir.host, base)?;
        dir.guest = guest_path(&dir.guest)?;
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "arbor-grants-request-{name}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(dir.join("data/in")).unwrap();
        std::fs::write(dir.join("file"), "x").unwrap();
        dir
    }

    fn dir(host: &str, guest: Option<&str>, mode: Option<&str>) -> DirRequest {
        DirRequest {
            host: host.into(),
            guest: guest.map(String::from),
            mode: mode.map(String::from),
        }
    }

    #[test]
    fn a_directory_resolves_against_the_base_to_a_canonical_path_read_only_by_default() {
        let base = scratch("resolve");
        let dirs = dirs(&[dir("data/./in", Some("/in/"), None)], &base).unwrap();
        assert_eq!(
            dirs[0].host,
            std::fs::canonicalize(base.join("data/in")).unwrap()
        );
        assert_eq!(dirs[0].guest, "/in");
        assert_eq!(dirs[0].mode, DirMode::ReadOnly);
        let _ = std::fs::remove_dir_all(base);
    }

    #[test]
    fn a_missing_directory_a_file_a_relative_guest_path_and_a_bad_mode_are_refused() {
        let base = scratch("refuse");
        let cases = [
            (dir("nope", Some("/x"), None), "does not exist"),
            (dir("file", Some("/x"), None), "is not a directory"),
            (dir("data", Some("x"), None), "must be absolute"),
            (dir("data", Some("/a/../b"), None), "`..`"),
            (dir("data", None, None), "needs `guest`"),
            (dir("data", Some("/x"), Some("wo")), "\"ro\" or \"rw\""),
        ];
        for (request, why) in cases {
            let err = dirs(&[request], &base).unwrap_err();
            assert_eq!(err.field, "dirs");
            assert!(err.message.contains(why), "{err}");
        }
        let twice = [
            dir("data", Some("/x"), None),
            dir("data/in", Some("/x"), None),
        ];
        assert!(dirs(&twice, &base).unwrap_err().message.contains("twice"));
        let _ = std::fs::remove_dir_all(base);
    }

    #[test]
    fn authorities_are_hosts_or_host_port_never_urls_or_wildcards() {
        let ok = http_outgoing(&[
            "API.Example.com".into(),
            "127.0.0.1:9000".into(),
            "[::1]:80".into(),
        ])
        .unwrap();
        assert_eq!(ok[0].to_string(), "api.example.com");
        assert_eq!(ok[1].port, Some(9000));
        assert_eq!(ok[2].host, "[::1]");
        for bad in [
            "http://x.com",
            "x.com/path",
            "*.x.com",
            "user@x.com",
            "",
            "x.com:",
            " x.com",
        ] {
            let err = http_outgoing(&[bad.into()]).unwrap_err();
            assert_eq!(err.field, "http_outgoing", "{bad}");
        }
    }

    #[test]
    fn socket_addresses_are_ip_and_port_or_star() {
        let grant = sockets(&SocketRequest {
            connect: vec!["127.0.0.1:5432".into(), "[::1]:*".into()],
            bind: vec!["0.0.0.0:*".into()],
            ip_name_lookup: false,
        })
        .unwrap();
        assert_eq!(grant.connect[0].port, Some(5432));
        assert_eq!(grant.connect[1].port, None);
        assert_eq!(
            grant.to_string(),
            "connect 127.0.0.1:5432, [::1]:*; bind 0.0.0.0:*; ip_name_lookup off"
        );
        for bad in ["localhost:80", "127.0.0.1", "127.0.0.1:x", "*:80"] {
            let request = SocketRequest {
                connect: vec![bad.into()],
                ..SocketRequest::default()
            };
            assert!(sockets(&request).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_empty_request_grants_nothing_and_env_names_are_checked() {
        let (grants, buckets) = GrantRequest::default().read().unwrap();
        assert!(grants.is_none() && buckets.is_empty());
        let request = GrantRequest {
            env: BTreeMap::from([("A=B".to_string(), "x".to_string())]),
            ..GrantRequest::default()
        };
        assert_eq!(request.read().unwrap_err().field, "env");
    }

    #[test]
    fn a_ceiling_names_host_directories_without_a_guest_path() {
        let base = scratch("ceiling");
        let ceiling = CeilingRequest {
            dirs: vec![dir("data", None, Some("rw"))],
            env: vec!["REGION".into()],
            ..CeilingRequest::default()
        }
        .resolve(&base)
        .unwrap();
        assert_eq!(ceiling.dirs[0].1, DirMode::ReadWrite);
        let err = CeilingRequest {
            dirs: vec![dir("data", Some("/d"), None)],
            ..CeilingRequest::default()
        }
        .resolve(&base)
        .unwrap_err();
        assert!(err.message.contains("host directories only"), "{err}");
        let _ = std::fs::remove_dir_all(base);
    }
}
