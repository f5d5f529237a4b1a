//! A guest's outgoing HTTP requests (`wasi:http/outgoing-handler`): sent
//! only to the authorities its `http_outgoing` grant names, over HTTP/1.1
//! (`https` through the node's TLS client, [`crate::tls`]), one connection
//! per request.
//!
//! Any other authority gets `HTTP-request-denied`, and the host logs (once
//! per instance) which child asked for what, and the grant that would
//! allow it. A TLS handshake that fails is the matching `wasi:http` error
//! (`TLS-certificate-error` for a certificate the host does not trust),
//! and the host logs the reason. The request runs on the child's thread;
//! a guest waiting for it yields, and its callback deadline still bounds
//! the wait.

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::http::uri::Scheme;
use hyper::{Request, Response, Uri};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::grants::sandbox::Sandbox;
use crate::tls::{HandshakeError, TlsClient};

/// How long a connection may take to open, and the response's headers to
/// arrive, when the guest's request options do not say (its callback
/// deadline cuts the wait shorter anyway).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The future a request resolves to, as `wasmtime-wasi-http` has it: the
/// response, and a future that drives the rest of the connection.
type Sent = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

/// The `wasi:http` hooks of one instance: the defaults, except where an
/// outgoing request may go and how it is sent.
pub(crate) struct Outgoing {
    /// The child's grants and the node's TLS client (`None`: nothing is granted).
    sandbox: Option<Arc<Sandbox>>,
    path: Arc<str>,
    /// Whether a refusal was logged already: a guest asking again and
    /// again must not flood the log.
    warned: bool,
}

impl Outgoing {
    /// Hooks for the child at `path` with `sandbox` (`None`: nothing is granted).
    pub fn new(sandbox: Option<Arc<Sandbox>>, path: Arc<str>) -> Outgoing {
        Outgoing {
            sandbox,
            path,
            warned: false,
        }
    }

    /// Logs a refusal: a warning the first time, then at debug level.
    fn refused(&mut self, what: &str) {
        if std::mem::replace(&mut self.warned, true) {
            tracing::debug!(child = &*self.path, "{what}");
        } else {
            tracing::warn!(child = &*self.path, "{what}");
        }
    }
}

impl WasiHttpHooks for Outgoing {
    fn send_request(
        &mut self,
        request: Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Sent {
        let https = request.uri().scheme() == Some(&Scheme::HTTPS);
        let default_port = if https { 443 } else { 80 };
        let Some(authority) = request.uri().authority().cloned() else {
            return Box::new(async { Err(Error::HttpRequestUriInvalid) });
        };
        let port = authority.port_u16().unwrap_or(default_port);
        let tls = match &self.sandbox {
            Some(sandbox)
                if sandbox
                    .grants()
                    .allows_http(authority.host(), port, default_port) =>
            {
                https.then(|| sandbox.tls().clone())
            }
            _ => {
                self.refused(&format!(
                    "refused an outgoing HTTP request to {authority}: not in this child's \
                 http_outgoing (grant it in the tree file: http_outgoing = [\"{authority}\"])"
                ));
                return Box::new(async { Err(Error::HttpRequestDenied) });
            }
        };
        let target = Target {
            host: authority.host().to_string(),
            port,
            tls,
            path: self.path.clone(),
        };
        Box::new(send(request, options.unwrap_or_default(), target))
    }
}

/// Where a granted request goes.
struct Target {
    host: String,
    port: u16,
    /// The TLS client, for `https`.
    tls: Option<Arc<TlsClient>>,
    /// The child that asked, for the log.
    path: Arc<str>,
}

/// A connection a request is sent over: plain TCP or TLS on TCP.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// Opens the connection to `target` (the TLS handshake included) within
/// `timeout`.
async fn open(target: &Target, timeout: Duration) -> wasmtime_wasi_http::Result<Box<dyn Stream>> {
    let address = format!("{}:{}", target.host, target.port);
    let opening = async {
        let stream = connect(&address).await?;
        let Some(tls) = &target.tls else {
            return Ok(Box::new(stream) as Box<dyn Stream>);
        };
        match tls.connect(&target.host, stream).await {
            Ok(stream) => Ok(Box::new(stream) as Box<dyn Stream>),
            Err(e) => {
                tracing::warn!(child = &*target.path, "https to {address}: {e}");
                Err(match e {
                    HandshakeError::InvalidName(_) => Error::HttpRequestUriInvalid,
                    HandshakeError::Certificate(_) => Error::TlsCertificateError,
                    HandshakeError::Alert(alert) => Error::TlsAlertReceived {
                        alert_id: None,
                        alert_message: Some(alert),
                    },
                    HandshakeError::Protocol(_) => Error::TlsProtocolError,
                })
            }
        }
    };
    tokio::time::timeout(timeout, opening)
        .await
        .map_err(|_| Error::ConnectionTimeout)?
}

/// Sends `request` to `target` over a fresh connection and waits for the
/// response's headers; the returned future drives the rest (the body).
async fn send(
    mut request: Request<WasiBody>,
    options: RequestOptions,
    target: Target,
) -> wasmtime_wasi_http::Result<(
    Response<WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)> {
    let connect_timeout = options.connect_timeout.unwrap_or(DEFAULT_TIMEOUT);
    let first_byte_timeout = options.first_byte_timeout.unwrap_or(DEFAULT_TIMEOUT);
    let stream = open(&target, connect_timeout).await?;
    let (mut sender, connection) = tokio::time::timeout(
        connect_timeout,
        hyper::client::conn::http1::handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| Error::ConnectionTimeout)??;
    // The request line carries the path only: scheme and authority are
    // for a proxy (the `Host` header, set by wasmtime-wasi-http, names it).
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    *request.uri_mut() = Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    // The connection must be driven while the response is awaited; once
    // it has ended it is not polled again.
    let mut connection = Some(Box::pin(connection));
    let response = sender.send_request(request);
    tokio::pin!(response);
    let response = tokio::time::timeout(
        first_byte_timeout,
        std::future::poll_fn(|cx| {
            if let Poll::Ready(answer) = response.as_mut().poll(cx) {
                return Poll::Ready(answer.map_err(Error::from));
            }
            let Some(driving) = connection.as_mut() else {
                return Poll::Pending;
            };
            let ended = std::task::ready!(driving.as_mut().poll(cx));
            connection = None;
            match ended {
                Ok(()) => response.as_mut().poll(cx).map_err(Error::from),
                Err(e) => Poll::Ready(Err(Error::from(e))),
            }
        }),
    )
    .await
    .map_err(|_| Error::ConnectionReadTimeout)??;
    let response = response.map(|body| body.map_err(Error::from).boxed_unsync());
    let rest = async move {
        match connection {
            Some(driving) => driving.await.map_err(|e| {
                if e.is_timeout() {
                    Error::HttpResponseTimeout
                } else {
                    Error::from(e)
                }
            }),
            None => Ok(()),
        }
    };
    Ok((response, Box::new(rest)))
}

/// A TCP connection to `address` (`host:port`); a name that does not
/// resolve is a DNS error, not a refused connection.
async fn connect(address: &str) -> wasmtime_wasi_http::Result<TcpStream> {
    // The stream registers with the I/O thread ([`crate::scheduler::io`]).
    crate::scheduler::in_io(connect_here(address)).await
}

async fn connect_here(address: &str) -> wasmtime_wasi_http::Result<TcpStream> {
    let candidates: Vec<_> = tokio::net::lookup_host(address)
        .await
        .map_err(|e| Error::DnsError {
            rcode: Some(e.to_string()),
            info_code: None,
        })?
        .collect();
    let mut last = None;
    for candidate in candidates {
        match TcpStream::connect(candidate).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => Error::Connect(e),
        None => Error::DestinationNotFound,
    })
}
