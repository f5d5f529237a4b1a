//! Children that speak HTTP: a worker whose component exports
//! `wasi:http/incoming-handler` (the `wasi:http/proxy` world that `wasmtime
//! serve` and Spin run) and whose tree-file entry says `http = "IP:PORT"`.
//!
//! The listener belongs to the child's place, like its mailbox
//! ([`server::HttpListener`]): bound when the child first starts, kept
//! across restarts, closed when the place is forgotten. Each request is an
//! envelope in the child's mailbox ([`exchange::HttpExchange`]), served by
//! its instance between messages, one at a time (`crate::child`'s `http`
//! module calls the guest). A trap answers that request with a 500 and is
//! a crash like any other; while the child is down, requests wait, up to
//! the child's `call_timeout`, then get a 503.
//!
//! Any child may also send requests (`wasi:http/outgoing-handler`), to the
//! authorities its `http_outgoing` grant names ([`outgoing`]).

pub(crate) mod exchange;
pub(crate) mod guest;
pub mod outgoing;
pub(crate) mod server;

use std::net::SocketAddr;

/// Reads a tree file's `http` value: an IP address and a port
/// (`127.0.0.1:8080`, `[::1]:8080`). Host names are refused: which address
/// a name resolves to is not the tree file's to leave open.
pub fn parse_address(text: &str) -> Result<SocketAddr, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("expected IP:PORT (e.g. \"127.0.0.1:8080\"), got {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_an_ip_and_a_port() {
        assert_eq!(
            parse_address("127.0.0.1:8080"),
            Ok("127.0.0.1:8080".parse().unwrap())
        );
        assert!(parse_address("[::1]:80").is_ok());
        for bad in ["nonsense", "localhost:8080", "127.0.0.1", "127.0.0.1:99999"] {
            let err = parse_address(bad).unwrap_err();
            assert!(err.contains("expected IP:PORT"), "{err}");
        }
    }
}
