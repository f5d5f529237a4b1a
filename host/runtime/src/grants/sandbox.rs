//! The WASI context of a granted child's instance: its preopened
//! directories, its environment and its socket check.
//!
//! Directories are opened once per start of the child ([`Sandbox::open`]),
//! so a directory removed since the tree was loaded fails that start with
//! its name, and every instance of the start (a hot swap's new version
//! included) shares the open handles. A child without grants has no
//! sandbox: its context is WASI's empty default, made as before.

use std::net::SocketAddr;
use std::sync::Arc;

use wasmtime_wasi::filesystem::WasiFilesystemCtx;
use wasmtime_wasi::sockets::{SocketAddrUse, WasiSocketsCtx};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use super::{DirMode, Grants, SocketGrant};

/// A granted directory could not be opened when the child started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot open the granted directory {host} (guest path {guest}): {message}")]
pub struct OpenError {
    /// The host directory.
    pub host: String,
    /// Where the guest would have seen it.
    pub guest: String,
    /// The operating system's reason.
    pub message: String,
}

/// A granted child's opened grants, shared by the instances of one start.
pub(crate) struct Sandbox {
    grants: Arc<Grants>,
    filesystem: WasiFilesystemCtx,
    sockets: WasiSocketsCtx,
}

impl Sandbox {
    /// Opens the directories `grants` names.
    pub fn open(grants: &Arc<Grants>) -> Result<Sandbox, OpenError> {
        let mut builder = WasiCtxBuilder::new();
        for dir in &grants.dirs {
            let perms = match dir.mode {
                DirMode::ReadOnly => FsPerms::ReadOnly,
                DirMode::ReadWrite => FsPerms::ReadWrite,
            };
            builder
                .preopened_dir(&dir.host, &dir.guest, perms)
                .map_err(|e| OpenError {
                    host: dir.host.display().to_string(),
                    guest: dir.guest.clone(),
                    // The cause chain on one line.
                    message: format!("{e:#}")
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" "),
                })?;
        }
        if let Some(sockets) = &grants.sockets {
            let granted = grants.clone();
            builder
                .allow_tcp(true)
                .allow_udp(true)
                .allow_ip_name_lookup(sockets.ip_name_lookup)
                .socket_addr_check(move |address, using| {
                    let allowed = granted
                        .sockets
                        .as_ref()
                        .is_some_and(|s| permits(s, address, using));
                    if !allowed {
                        tracing::debug!("refused a guest's socket use {using:?} of {address}");
                    }
                    Box::pin(async move { allowed })
                });
        }
        let mut ctx = builder.build();
        Ok(Sandbox {
            grants: grants.clone(),
            filesystem: ctx.filesystem().clone(),
            sockets: ctx.sockets().clone(),
        })
    }

    /// The grants it was opened for.
    pub fn grants(&self) -> &Arc<Grants> {
        &self.grants
    }

    /// A fresh WASI context for one instance: the shared directories and
    /// socket check, its own copy of the environment.
    pub fn wasi(&self) -> WasiCtx {
        let mut ctx = WasiCtxBuilder::new().envs(&self.grants.env).build();
        *ctx.filesystem() = self.filesystem.clone();
        *ctx.sockets() = self.sockets.clone();
        ctx
    }
}

/// Whether `grant` lets a guest use `address` for `using`. Connecting (and
/// sending a datagram) needs a `connect` address; binding, listening and
/// accepting a `bind` one; a datagram is received from a `connect`
/// address, or by a child that may bind. A client socket is bound implicitly to the
/// wildcard address and port 0 before it connects or sends: that is
/// allowed to a child that may connect anywhere.
pub(crate) fn permits(grant: &SocketGrant, address: SocketAddr, using: SocketAddrUse) -> bool {
    let any = |patterns: &[super::AddrPattern]| patterns.iter().any(|p| p.matches(address));
    match using {
        SocketAddrUse::TcpConnect | SocketAddrUse::UdpSend => any(&grant.connect),
        SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => {
            any(&grant.bind)
                || (!grant.connect.is_empty()
                    && address.ip().is_unspecified()
                    && address.port() == 0)
        }
        SocketAddrUse::TcpListen => any(&grant.bind),
        // The peer of an accepted connection: the listener was granted.
        SocketAddrUse::TcpAccept => !grant.bind.is_empty(),
        // A datagram from a peer it may send to, or to a socket it may bind.
        SocketAddrUse::UdpReceive => any(&grant.connect) || !grant.bind.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::AddrPattern;

    fn pattern(text: &str) -> AddrPattern {
        crate::grants::request::sockets(&crate::grants::SocketRequest {
            connect: vec![text.into()],
            ..Default::default()
        })
        .unwrap()
        .connect[0]
    }

    #[test]
    fn a_connect_grant_allows_its_addresses_and_the_implicit_client_bind_only() {
        let grant = SocketGrant {
            connect: vec![pattern("127.0.0.1:9000")],
            ..SocketGrant::default()
        };
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(permits(
            &grant,
            at("127.0.0.1:9000"),
            SocketAddrUse::TcpConnect
        ));
        assert!(!permits(
            &grant,
            at("127.0.0.1:9001"),
            SocketAddrUse::TcpConnect
        ));
        assert!(permits(&grant, at("0.0.0.0:0"), SocketAddrUse::TcpBind));
        assert!(!permits(&grant, at("0.0.0.0:8080"), SocketAddrUse::TcpBind));
        assert!(!permits(
            &grant,
            at("0.0.0.0:45000"),
            SocketAddrUse::TcpListen
        ));
        assert!(!permits(&grant, at("10.0.0.1:1"), SocketAddrUse::TcpAccept));
    }

    #[test]
    fn a_bind_grant_allows_listening_there_and_accepting() {
        let grant = SocketGrant {
            bind: vec![pattern("127.0.0.1:*")],
            ..SocketGrant::default()
        };
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(permits(
            &grant,
            at("127.0.0.1:8080"),
            SocketAddrUse::TcpBind
        ));
        assert!(permits(
            &grant,
            at("127.0.0.1:8080"),
            SocketAddrUse::TcpListen
        ));
        assert!(permits(
            &grant,
            at("10.1.2.3:5555"),
            SocketAddrUse::TcpAccept
        ));
        assert!(!permits(
            &grant,
            at("127.0.0.1:80"),
            SocketAddrUse::TcpConnect
        ));
    }
}
