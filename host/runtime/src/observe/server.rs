//! The observer's HTTP server (`arbor run --observe ADDR`): a few routes
//! served on hyper directly, the HTTP/1 server the host already builds
//! for its HTTP children, so the observer adds no framework to the build.
//!
//! Routes: `/` (the page, its script and style, embedded in the binary),
//! `/metrics`, `/api/tree`, `/api/snapshot` (the tree and the number of the
//! last event), `/api/events` (the numbered event stream, server-sent
//! events), `/api/why?name=CHILD`, and `POST /api/action` (guarded, see
//! [`super::actions`]). Every read reads what supervisors publish and the
//! runtime's counters; none waits on a supervisor or calls into a guest.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::{TcpListener, TcpStream};
use wasmtime_wasi_http::io::TokioIo;

use super::actions::ActionGuard;
use super::feed::{Feed, Numbered};
use crate::node::NodeHandle;

/// A response body: whole, or a stream of server-sent events.
pub type Body = BoxBody<Bytes, Infallible>;

/// Why the observer could not start.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    /// The address could not be bound.
    #[error("cannot serve the observer on {address}")]
    Bind {
        /// The address asked for.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A bound observer, not serving yet.
pub struct ObserveServer {
    listener: TcpListener,
    address: SocketAddr,
    guard: ActionGuard,
}

/// What every connection of one observer shares.
struct Observer {
    node: NodeHandle,
    feed: Arc<Feed>,
    guard: ActionGuard,
}

impl ObserveServer {
    /// Binds `address` (port 0 picks a free port); `actions` turns the
    /// page's actions on ([`super::actions`]).
    pub async fn bind(address: SocketAddr, actions: bool) -> Result<ObserveServer, ObserveError> {
        let bind = |source| ObserveError::Bind { address, source };
        let listener = TcpListener::bind(address).await.map_err(bind)?;
        let address = listener.local_addr().map_err(bind)?;
        Ok(ObserveServer {
            listener,
            address,
            guard: ActionGuard::new(actions, address),
        })
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The token actions must carry.
    pub fn token(&self) -> &str {
        &self.guard.token
    }

    /// Serves connections until the task is dropped.
    pub async fn serve(self, node: NodeHandle) {
        let observer = Arc::new(Observer {
            feed: Feed::start(node.events()),
            node,
            guard: self.guard,
        });
        loop {
            match self.listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, observer.clone()));
                }
                // Out of file descriptors, typically: wait, do not spin.
                Err(e) => {
                    tracing::warn!("observer: cannot accept a connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }
}

async fn connection(stream: TcpStream, observer: Arc<Observer>) {
    let service = service_fn(move |request| {
        let observer = observer.clone();
        async move { Ok::<_, Infallible>(route(&observer, request).await) }
    });
    if let Err(e) = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!("observer connection ended: {e}");
    }
}

/// A server-sent event stream fed by a channel.
struct Stream(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for Stream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(hyper::body::Frame::data(bytes))))
    }
}

/// The snapshot a page starts from: the last event's number, the tree as
/// it is after it, and the recent events.
#[derive(serde::Serialize)]
struct Snapshot<'a> {
    seq: u64,
    actions: bool,
    tree: crate::report::NodeReport,
    recent: Vec<&'a Numbered>,
}

/// The largest action body read.
const MAX_ACTION_BYTES: usize = 64 << 10;

async fn action(observer: &Observer, request: Request<Incoming>) -> Response<Body> {
    if let Err(refused) = observer.guard.check(request.headers()) {
        return text(refused.status(), &refused.to_string());
    }
    let body = match http_body_util::Limited::new(request.into_body(), MAX_ACTION_BYTES)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("cannot read the body: {e}"),
            );
        }
    };
    let command = match ActionGuard::parse(&body) {
        Ok(command) => command,
        Err(refused) => return text(refused.status(), &refused.to_string()),
    };
    tracing::info!("observer action: {command:?}");
    let response = crate::control::carry_out(&observer.node, command).await;
    let status = if response.ok {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    let mut reply = json(&response);
    *reply.status_mut() = status;
    reply
}

const PAGE: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/style.css");

async fn route(observer: &Observer, request: Request<Incoming>) -> Response<Body> {
    let node = &observer.node;
    let path = request.uri().path().to_string();
    match (request.method(), path.as_str()) {
        (&Method::GET, "/") => full(StatusCode::OK, "text/html; charset=utf-8", PAGE),
        (&Method::GET, "/app.js") => full(StatusCode::OK, "text/javascript; charset=utf-8", SCRIPT),
        (&Method::GET, "/style.css") => full(StatusCode::OK, "text/css; charset=utf-8", STYLE),
        (&Method::GET, "/metrics") => full(
            StatusCode::OK,
            super::metrics::CONTENT_TYPE,
            super::metrics::render(node),
        ),
        (&Method::GET, "/api/tree") => match super::snapshot::snapshot(node) {
            Ok(tree) => json(&tree),
            Err(e) => text(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        },
        (&Method::GET, "/api/snapshot") => {
            // The number first: an event after it may be in the tree too,
            // and applying it again changes nothing.
            let (seq, recent) = observer.feed.recent();
            match super::snapshot::snapshot(node) {
                Ok(tree) => json(&Snapshot {
                    seq,
                    actions: observer.guard.enabled,
                    tree,
                    recent: recent.iter().map(|n| &**n).collect(),
                }),
                Err(e) => text(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
            }
        }
        (&Method::GET, "/api/events") => Response::builder()
            .header("content-type", "text/event-stream")
            .header("cache-control", "no-store")
            .body(Stream(observer.feed.stream()).boxed())
            .expect("a valid response"),
        (&Method::GET, "/api/why") => {
            let Some(name) = query_param(request.uri().query(), "name") else {
                return text(StatusCode::BAD_REQUEST, "name=CHILD is missing");
            };
            match node.why(&name) {
                Ok(why) => json(&why),
                Err(e @ crate::node::WhyError::NoSuchChild(_)) => {
                    text(StatusCode::NOT_FOUND, &e.to_string())
                }
                Err(e) => text(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
            }
        }
        (&Method::POST, "/api/action") => action(observer, request).await,
        (_, "/api/action") => text(StatusCode::METHOD_NOT_ALLOWED, "POST only"),
        (_, "/" | "/metrics" | "/api/tree" | "/api/snapshot" | "/api/events" | "/api/why") => {
            text(StatusCode::METHOD_NOT_ALLOWED, "GET only")
        }
        _ => text(StatusCode::NOT_FOUND, "no such page"),
    }
}

/// The value of `key` in a query string, percent-decoded.
pub(crate) fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A whole response.
pub(crate) fn full(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("cache-control", "no-store")
        .body(Full::new(body.into()).boxed())
        .expect("a valid response")
}

/// A JSON response.
pub(crate) fn json(value: &impl serde::Serialize) -> Response<Body> {
    full(
        StatusCode::OK,
        "application/json",
        serde_json::to_vec(value).expect("reports serialize"),
    )
}

/// A plain-text error.
pub(crate) fn text(status: StatusCode, message: &str) -> Response<Body> {
    full(status, "text/plain; charset=utf-8", message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_parameter_is_found_and_percent_decoded() {
        assert_eq!(
            query_param(Some("x=1&name=root%2Fpay+ments"), "name").as_deref(),
            Some("root/pay ments")
        );
        assert_eq!(
            query_param(Some("name=50%"), "name").as_deref(),
            Some("50%")
        );
        assert_eq!(query_param(None, "name"), None);
        assert_eq!(query_param(Some("other=1"), "name"), None);
    }
}
