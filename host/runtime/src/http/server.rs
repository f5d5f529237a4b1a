//! A child's HTTP listener and the connections it accepts: each request
//! becomes an envelope in the child's mailbox, and its connection waits for
//! the answer at most the child's `call_timeout`.
//!
//! A request finds the child's mailbox by name, through the same
//! [`Router`] a `call` takes, so it always reaches the mailbox the child
//! has now: kept across restarts, or a fresh one when a stopped child is
//! started again. While the child is stopped (its mailbox closed), the
//! request waits for it to come back, within the same `call_timeout`.
//!
//! The listener runs on its supervisor's thread, as the child does. Its
//! task owns the socket and every connection it accepted: dropping the
//! [`HttpListener`] (the place is forgotten) ends them all.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::{Instant, sleep, timeout_at};
use wasmtime_wasi_http::io::TokioIo;

use crate::http::exchange::{HttpExchange, Responder, ResponseBody, text_response};
use crate::mailbox::Envelope;
use crate::routing::Router;

/// How often a request for a stopped child looks whether it is back.
const REOPEN_POLL: Duration = Duration::from_millis(10);
/// How long a bind that finds its address in use tries again: a listener
/// this host has just closed (a place forgotten, then made again, as an
/// apply does) lets go of its socket only when its task is next polled.
const REBIND_GRACE: Duration = Duration::from_millis(100);

/// A child's bound HTTP listener; dropping it closes the socket and every
/// connection accepted on it.
#[derive(Debug)]
pub struct HttpListener {
    accept: AbortHandle,
}

impl Drop for HttpListener {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// A child could not listen on its `http` address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{child}: cannot serve HTTP on {address}: {reason}")]
pub struct BindError {
    /// The child's path in the tree.
    pub child: String,
    /// The address from the tree file.
    pub address: SocketAddr,
    /// Why, in words.
    pub reason: String,
}

/// Whom a listener's requests are for.
pub(crate) struct Target {
    /// The child's registered name: what its mailbox is found by.
    pub name: Arc<str>,
    /// The child's path, for messages.
    pub path: Arc<str>,
    /// How long a request waits for its answer.
    pub call_timeout: Duration,
    pub router: Arc<dyn Router>,
}

/// Binds `address` for `target`; the I/O thread accepts and serves its connections.
pub(crate) async fn listen(address: SocketAddr, target: Target) -> Result<HttpListener, BindError> {
    let listener = crate::scheduler::in_io(bind(address))
        .await
        .map_err(|e| BindError {
            child: target.path.to_string(),
            address,
            reason: explain(&e),
        })?;
    let bound = listener.local_addr().unwrap_or(address);
    tracing::info!("serving HTTP for {} on {bound}", target.path);
    // Accepting and serving connections is the I/O thread's: it only
    // forwards requests into the child's mailbox.
    let accept = crate::scheduler::io()
        .spawn(accept(listener, Arc::new(target)))
        .abort_handle();
    Ok(HttpListener { accept })
}

async fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let until = Instant::now() + REBIND_GRACE;
    loop {
        match TcpListener::bind(address).await {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < until => {
                sleep(Duration::from_millis(5)).await;
            }
            result => return result,
        }
    }
}

fn explain(error: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::AddrInUse => {
            "the address is already in use (another child or another program listens on it)"
                .to_string()
        }
        ErrorKind::AddrNotAvailable => {
            format!("the address is not one of this machine's ({error})")
        }
        ErrorKind::PermissionDenied => {
            format!("permission denied (ports below 1024 need privileges) ({error})")
        }
        _ => error.to_string(),
    }
}

/// Accepts connections until the listener is dropped; the connections are
/// this task's, so they end with it.
async fn accept(listener: TcpListener, target: Arc<Target>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection(stream, target.clone()));
                }
                // Out of file descriptors, typically: wait, do not spin.
                Err(e) => {
                    tracing::warn!("{}: cannot accept an HTTP connection: {e}", target.path);
                    sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Serves one HTTP/1.1 connection (keep-alive: requests one after another).
async fn connection(stream: TcpStream, target: Arc<Target>) {
    let service = service_fn(move |request| {
        let target = target.clone();
        async move { Ok::<_, Infallible>(target.route(request).await) }
    });
    if let Err(e) = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!("HTTP connection ended: {e}");
    }
}

impl Target {
    /// Queues `request` in the child's mailbox and waits for its answer,
    /// within the child's `call_timeout`.
    async fn route(&self, request: Request<Incoming>) -> Response<ResponseBody> {
        let deadline = Instant::now() + self.call_timeout;
        let (responder, answer) = Responder::new();
        let exchange = Box::new(HttpExchange { request, responder });
        if let Err(refused) = self.deliver(exchange, deadline).await {
            return refused;
        }
        match timeout_at(deadline, answer).await {
            Ok(Ok(response)) => response,
            // Nobody holds the request any more and nobody answered: the
            // instance that had it was killed.
            Ok(Err(_)) => text_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("{} stopped before it answered", self.name),
            ),
            Err(_) => text_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!(
                    "no answer from {} within its call timeout ({} ms)",
                    self.name,
                    self.call_timeout.as_millis()
                ),
            ),
        }
    }

    /// Puts the request in the child's mailbox. A full mailbox refuses at
    /// once; a closed one (the child is stopped) is waited on until
    /// `deadline`, in case the child is started again.
    async fn deliver(
        &self,
        exchange: Box<HttpExchange>,
        deadline: Instant,
    ) -> Result<(), Response<ResponseBody>> {
        loop {
            if let Ok(mailbox) = self.router.resolve(&self.name)
                && !mailbox.is_closed()
            {
                return mailbox.send(Envelope::Http(exchange)).map_err(|e| {
                    let error = e.for_target(&self.name);
                    text_response(error.http_status(), &error.to_string())
                });
            }
            if Instant::now() + REOPEN_POLL > deadline {
                return Err(text_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!(
                        "{} is not running (waited its call timeout, {} ms)",
                        self.name,
                        self.call_timeout.as_millis()
                    ),
                ));
            }
            sleep(REOPEN_POLL).await;
        }
    }
}
