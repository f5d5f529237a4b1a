//! The grant flags of `arbor ctl start-child` (`--dir`, `--env`,
//! `--http-outgoing`, `--connect`, `--bind`, `--ip-name-lookup`,
//! `--keyvalue`), read into the control socket's [`GrantRequest`]. The
//! host checks them against the supervisor's `child_grants`.

use std::collections::BTreeMap;

use anyhow::bail;

use arbor::grants::{DirRequest, GrantRequest, SocketRequest};

/// What a child started with `arbor ctl start-child` may reach.
#[derive(clap::Args, Default)]
pub struct GrantArgs {
    /// A directory: HOST:GUEST or HOST:GUEST:ro|rw (read-only unless `rw`;
    /// HOST relative to the tree file's directory). Repeatable.
    #[arg(
        long = "dir",
        conflicts_with = "tree",
        value_name = "HOST:GUEST[:MODE]"
    )]
    dirs: Vec<String>,
    /// An environment variable. Repeatable.
    #[arg(long = "env", conflicts_with = "tree", value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// Where outgoing HTTP may go: a host or host:port. Repeatable.
    #[arg(
        long = "http-outgoing",
        conflicts_with = "tree",
        value_name = "AUTHORITY"
    )]
    http_outgoing: Vec<String>,
    /// An address TCP may connect to (UDP send to): IP:PORT or IP:*. Repeatable.
    #[arg(long = "connect", conflicts_with = "tree", value_name = "IP:PORT")]
    connect: Vec<String>,
    /// An address TCP may bind and listen on (UDP bind): IP:PORT or IP:*. Repeatable.
    #[arg(long = "bind", conflicts_with = "tree", value_name = "IP:PORT")]
    bind: Vec<String>,
    /// Let `wasi:sockets` resolve host names.
    #[arg(long = "ip-name-lookup", conflicts_with = "tree")]
    ip_name_lookup: bool,
    /// A key-value bucket it may open. Repeatable.
    #[arg(long = "keyvalue", conflicts_with = "tree", value_name = "BUCKET")]
    keyvalue: Vec<String>,
}

impl GrantArgs {
    /// The request, or `None` when no flag was given.
    pub fn request(self) -> anyhow::Result<Option<GrantRequest>> {
        let mut dirs = Vec::new();
        for dir in &self.dirs {
            dirs.push(dir_request(dir)?);
        }
        let mut env = BTreeMap::new();
        for variable in &self.env {
            let Some((name, value)) = variable.split_once('=') else {
                bail!("--env {variable:?}: expected NAME=VALUE");
            };
            env.insert(name.to_string(), value.to_string());
        }
        let any_socket = !self.connect.is_empty() || !self.bind.is_empty() || self.ip_name_lookup;
        let sockets = any_socket.then_some(SocketRequest {
            connect: self.connect,
            bind: self.bind,
            ip_name_lookup: self.ip_name_lookup,
        });
        let request = GrantRequest {
            dirs,
            env,
            http_outgoing: self.http_outgoing,
            sockets,
            keyvalue: self.keyvalue,
        };
        Ok((request != GrantRequest::default()).then_some(request))
    }
}

/// `HOST:GUEST[:ro|rw]`; the guest path is absolute, so it is the last
/// part starting with `/`.
fn dir_request(text: &str) -> anyhow::Result<DirRequest> {
    let (rest, mode) = match text.rsplit_once(':') {
        Some((rest, mode @ ("ro" | "rw"))) => (rest, Some(mode.to_string())),
        _ => (text, None),
    };
    let Some((host, guest)) = rest.rsplit_once(':') else {
        bail!("--dir {text:?}: expected HOST:GUEST or HOST:GUEST:ro|rw");
    };
    Ok(DirRequest {
        host: host.to_string(),
        guest: Some(guest.to_string()),
        mode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dir_flag_is_host_guest_and_an_optional_mode() {
        let dir = dir_request("data/in:/in:rw").unwrap();
        assert_eq!(
            (dir.host.as_str(), dir.guest.as_deref(), dir.mode.as_deref()),
            ("data/in", Some("/in"), Some("rw"))
        );
        let dir = dir_request("/srv/x:/x").unwrap();
        assert_eq!((dir.host.as_str(), dir.mode), ("/srv/x", None));
        assert!(dir_request("nocolon").is_err());
    }

    #[test]
    fn no_flags_ask_for_nothing() {
        assert!(GrantArgs::default().request().unwrap().is_none());
    }
}
