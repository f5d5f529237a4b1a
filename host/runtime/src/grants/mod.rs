//! What a child may reach beyond its own memory and Arbor's host
//! interface: nothing, unless its entry in the tree file grants it.
//!
//! A worker's grants ([`Grants`]) name preopened directories (read-only or
//! read-write, a host path seen at a guest path), environment variables,
//! the authorities its outgoing HTTP requests may go to, and the socket
//! addresses it may connect to or bind. A supervisor's `child_grants`
//! ([`ChildGrants`]) is the most that children started under it at run
//! time may ask for (`start-child` from Rust, `arbor ctl` or a guest);
//! anything wider is refused, naming the grant ([`Denied`]).
//!
//! This module owns the grants' types and their meaning: reading them
//! from a request ([`request`], the same words in the tree file, the
//! control socket and a guest's `start-child-with-grants`), whether one
//! fits under a ceiling ([`ceiling`]), and the WASI context a granted
//! child's instance is built with ([`sandbox`]). A child without grants
//! holds `None` and pays nothing for any of it.

pub mod ceiling;
pub mod request;
pub(crate) mod sandbox;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

pub use ceiling::{ChildGrants, Denied};
pub use request::{DirRequest, GrantError, GrantRequest, SocketRequest};

/// What a worker may reach beyond the defaults (no files, no environment,
/// no network). Empty grants are never kept: a child without any holds
/// `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Preopened directories, in the order granted.
    pub dirs: Vec<DirGrant>,
    /// Environment variables (`NAME`, value), sorted by name.
    pub env: Vec<(String, String)>,
    /// Where outgoing HTTP requests (`wasi:http/outgoing-handler`) may go.
    pub http_outgoing: Vec<Authority>,
    /// The socket addresses `wasi:sockets` may use; `None`: sockets are off.
    pub sockets: Option<SocketGrant>,
}

impl Grants {
    /// Whether it grants nothing.
    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty()
            && self.env.is_empty()
            && self.http_outgoing.is_empty()
            && self.sockets.is_none()
    }

    /// Whether an outgoing HTTP request to `host` (as the URI has it) on
    /// `port` (the URI's, else the scheme's default) is granted.
    pub fn allows_http(&self, host: &str, port: u16, default_port: u16) -> bool {
        let host = normalize_host(host);
        self.http_outgoing
            .iter()
            .any(|granted| granted.host == host && granted.port.unwrap_or(default_port) == port)
    }

    /// One line per kind of grant, for `arbor check` and messages:
    /// `dirs: /srv/data/in -> /in (ro)`. Environment values are not shown
    /// (they may be secrets), only their names.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if !self.dirs.is_empty() {
            let dirs: Vec<String> = self.dirs.iter().map(DirGrant::to_string).collect();
            lines.push(format!("dirs: {}", dirs.join(", ")));
        }
        if !self.env.is_empty() {
            let names: Vec<&str> = self.env.iter().map(|(name, _)| name.as_str()).collect();
            lines.push(format!("env: {}", names.join(", ")));
        }
        if !self.http_outgoing.is_empty() {
            lines.push(format!("http_outgoing: {}", list(&self.http_outgoing)));
        }
        if let Some(sockets) = &self.sockets {
            lines.push(format!("sockets: {sockets}"));
        }
        lines
    }
}

/// A host directory a guest sees at `guest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host: absolute and canonical once resolved.
    pub host: PathBuf,
    /// Where the guest sees it (an absolute guest path, `/data`).
    pub guest: String,
    /// Whether the guest may change what is in it.
    pub mode: DirMode,
}

impl fmt::Display for DirGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {} ({})",
            self.host.display(),
            self.guest,
            self.mode
        )
    }
}

/// What a guest may do in a granted directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DirMode {
    /// `ro`: read files and list directories.
    ReadOnly,
    /// `rw`: also create, write, rename and remove.
    ReadWrite,
}

impl DirMode {
    /// The word in the tree file.
    pub fn as_str(self) -> &'static str {
        match self {
            DirMode::ReadOnly => "ro",
            DirMode::ReadWrite => "rw",
        }
    }
}

impl fmt::Display for DirMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where outgoing HTTP may go: a host name or IP address, and a port.
/// Without a port it is the scheme's default (80 for `http`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// Lower case; an IPv6 address keeps its brackets (`[::1]`).
    pub host: String,
    /// `None`: the scheme's default port.
    pub port: Option<u16>,
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// A host name as grants compare it: lower case, without a trailing dot.
fn normalize_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// What `wasi:sockets` may do, once granted at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketGrant {
    /// Addresses TCP may connect to and UDP may send to.
    pub connect: Vec<AddrPattern>,
    /// Addresses TCP may bind and listen on (and accept from) and UDP may bind.
    pub bind: Vec<AddrPattern>,
    /// Whether `wasi:sockets/ip-name-lookup` may resolve names.
    pub ip_name_lookup: bool,
}

impl fmt::Display for SocketGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_none = |patterns: &[AddrPattern]| {
            if patterns.is_empty() {
                "none".to_string()
            } else {
                list(patterns)
            }
        };
        write!(
            f,
            "connect {}; bind {}; ip_name_lookup {}",
            or_none(&self.connect),
            or_none(&self.bind),
            if self.ip_name_lookup { "on" } else { "off" }
        )
    }
}

/// An IP address and a port, or any port (`IP:*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrPattern {
    /// The address.
    pub ip: IpAddr,
    /// `None`: any port.
    pub port: Option<u16>,
}

impl AddrPattern {
    /// Whether `address` matches.
    pub fn matches(&self, address: SocketAddr) -> bool {
        self.ip == address.ip() && self.port.is_none_or(|port| port == address.port())
    }

    /// Whether every address `other` matches, this one matches too.
    pub fn covers(&self, other: &AddrPattern) -> bool {
        self.ip == other.ip && (self.port.is_none() || self.port == other.port)
    }
}

impl fmt::Display for AddrPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let port = self.port.map_or("*".to_string(), |p| p.to_string());
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{ip}:{port}"),
            IpAddr::V6(ip) => write!(f, "[{ip}]:{port}"),
        }
    }
}

/// `items` joined by `, `.
fn list<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_authority_without_a_port_grants_the_schemes_default_port_only() {
        let grants = Grants {
            http_outgoing: vec![
                Authority {
                    host: "api.example.com".into(),
                    port: None,
                },
                Authority {
                    host: "127.0.0.1".into(),
                    port: Some(9000),
                },
            ],
            ..Grants::default()
        };
        assert!(grants.allows_http("API.example.com", 80, 80));
        assert!(grants.allows_http("api.example.com.", 80, 80));
        assert!(!grants.allows_http("api.example.com", 8080, 80));
        assert!(grants.allows_http("127.0.0.1", 9000, 80));
        assert!(!grants.allows_http("127.0.0.1", 80, 80));
        assert!(!grants.allows_http("evil.example.com", 80, 80));
    }

    #[test]
    fn an_address_pattern_with_a_star_matches_every_port_of_its_address_only() {
        let any: AddrPattern = AddrPattern {
            ip: "127.0.0.1".parse().unwrap(),
            port: None,
        };
        let one = AddrPattern {
            port: Some(9000),
            ..any
        };
        assert!(any.matches("127.0.0.1:1".parse().unwrap()));
        assert!(!any.matches("127.0.0.2:1".parse().unwrap()));
        assert!(one.matches("127.0.0.1:9000".parse().unwrap()));
        assert!(!one.matches("127.0.0.1:9001".parse().unwrap()));
        assert!(any.covers(&one) && !one.covers(&any));
        assert_eq!(any.to_string(), "127.0.0.1:*");
    }
}
