//! The page's actions (crash, stop, restart or start a child, swap): off unless
//! the host was started with `--observe-actions`, and then allowed only to
//! a request that carries the token printed at start, names this server in
//! `Host` (a page of another site reaching it through DNS rebinding names
//! its own) and, when it has an `Origin`, comes from this server's page.
//! An allowed action is a control request, carried out by the code path
//! `arbor ctl` takes ([`crate::control::carry_out`]).

use hyper::StatusCode;
use hyper::header::HeaderMap;

use crate::control::Request;

/// How the actions are guarded.
#[derive(Debug, Clone)]
pub struct ActionGuard {
    /// Whether actions are on at all.
    pub enabled: bool,
    /// The secret a request must carry (`Authorization: Bearer TOKEN`).
    pub token: String,
    /// `host:port` values a request may name in `Host`.
    pub hosts: Vec<String>,
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Actions are off.
    #[error("actions are off: start the host with --observe-actions")]
    Off,
    /// `Host` names another server.
    #[error("the Host header does not name this observer")]
    Host,
    /// `Origin` is another site.
    #[error("the request comes from another origin")]
    Origin,
    /// No token, or not the one printed at start.
    #[error("the token printed at start is missing or wrong")]
    Token,
    /// Not an action the page may take.
    #[error("not an action: {0}")]
    NotAnAction(String),
}

impl Refused {
    /// The HTTP status of the refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            Refused::Token => StatusCode::UNAUTHORIZED,
            Refused::NotAnAction(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::FORBIDDEN,
        }
    }
}

impl ActionGuard {
    /// A guard with a fresh random token, for a server on `address`.
    pub fn new(enabled: bool, address: std::net::SocketAddr) -> ActionGuard {
        let port = address.port();
        let mut hosts = vec![address.to_string()];
        if address.ip().is_loopback() {
            hosts.push(format!("localhost:{port}"));
            hosts.push(format!("127.0.0.1:{port}"));
        }
        ActionGuard {
            enabled,
            token: format!("{:032x}", rand::random::<u128>()),
            hosts,
        }
    }

    /// Checks the headers of an action request.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Refused> {
        if !self.enabled {
            return Err(Refused::Off);
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let host = header("host").ok_or(Refused::Host)?;
        if !self.hosts.iter().any(|h| h == host) {
            return Err(Refused::Host);
        }
        if let Some(origin) = header("origin")
            && origin != format!("http://{host}")
        {
            return Err(Refused::Origin);
        }
        let token = header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(Refused::Token)?;
        if !same(token.as_bytes(), self.token.as_bytes()) {
            return Err(Refused::Token);
        }
        Ok(())
    }

    /// Parses an action's body: a control request the page may make.
    pub fn parse(body: &[u8]) -> Result<Request, Refused> {
        let request: Request =
            serde_json::from_slice(body).map_err(|e| Refused::NotAnAction(e.to_string()))?;
        match request {
            Request::StopChild { .. }
            | Request::RestartChild { .. }
            | Request::Crash { .. }
            | Request::StartChild { .. }
            | Request::Swap(_) => Ok(request),
            other => Err(Refused::NotAnAction(format!("{other:?}"))),
        }
    }
}

/// Compares in time that does not depend on where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> ActionGuard {
        let mut g = ActionGuard::new(true, "127.0.0.1:9000".parse().unwrap());
        g.token = "secret".to_string();
        g
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn an_action_needs_the_token_this_host_and_this_origin() {
        let g = guard();
        let good = [
            ("host", "127.0.0.1:9000"),
            ("origin", "http://127.0.0.1:9000"),
            ("authorization", "Bearer secret"),
        ];
        assert_eq!(g.check(&headers(&good)), Ok(()));
        assert_eq!(
            g.check(&headers(&[
                ("host", "localhost:9000"),
                ("authorization", "Bearer secret")
            ])),
            Ok(()),
            "no Origin (a script, curl) is fine with the token"
        );
        assert_eq!(
            g.check(&headers(&good[..2])),
            Err(Refused::Token),
            "no token"
        );
        assert_eq!(
            g.check(&headers(&[
                good[0],
                good[1],
                ("authorization", "Bearer secreT")
            ])),
            Err(Refused::Token)
        );
        assert_eq!(
            g.check(&headers(&[
                good[0],
                ("origin", "http://evil.example"),
                good[2]
            ])),
            Err(Refused::Origin)
        );
        assert_eq!(
            g.check(&headers(&[("host", "evil.example:9000"), good[2]])),
            Err(Refused::Host)
        );
        let off = ActionGuard {
            enabled: false,
            ..guard()
        };
        assert_eq!(off.check(&headers(&good)), Err(Refused::Off));
    }

    #[test]
    fn only_child_commands_are_actions() {
        assert!(
            ActionGuard::parse(br#"{"cmd":"stop_child","supervisor":"root","name":"a"}"#).is_ok()
        );
        assert!(matches!(
            ActionGuard::parse(br#"{"cmd":"shutdown"}"#),
            Err(Refused::NotAnAction(_))
        ));
        assert!(matches!(
            ActionGuard::parse(br#"{"cmd":"call","name":"a","message":"crash"}"#),
            Err(Refused::NotAnAction(_))
        ));
    }
}
