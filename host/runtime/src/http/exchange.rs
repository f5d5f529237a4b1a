//! One HTTP request on its way through a child's mailbox: the request, and
//! the one place its answer goes ([`Responder`]).
//!
//! The answer has three possible authors: the guest (through its
//! `response-outparam`, possibly before its `handle` returns, with the body
//! still streaming), the child's task (a 500 after a trap, a 503 when the
//! child stops with the request queued), or nobody (the connection gives up
//! after the call timeout). Whoever answers first wins; the others find the
//! slot empty. The slot is shared because the guest's outparam lives in the
//! guest's `Store`, which a trap takes down with it.

use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use tokio::sync::oneshot;

/// The body of a response to an HTTP child's client: what the guest
/// streams, or the host's own short text.
pub type ResponseBody = wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// An HTTP request queued for a child, with where its answer goes.
pub struct HttpExchange {
    /// The request as hyper read it; its body streams from the client.
    pub request: Request<Incoming>,
    /// Where the response goes.
    pub responder: Responder,
}

impl std::fmt::Debug for HttpExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpExchange")
            .field("method", self.request.method())
            .field("uri", self.request.uri())
            .finish()
    }
}

/// The one slot a response goes to: the first answer wins.
#[derive(Clone)]
pub struct Responder(Arc<Mutex<Option<oneshot::Sender<Response<ResponseBody>>>>>);

impl Responder {
    /// A slot and the receiver the connection waits on.
    pub fn new() -> (Responder, oneshot::Receiver<Response<ResponseBody>>) {
        let (tx, rx) = oneshot::channel();
        (Responder(Arc::new(Mutex::new(Some(tx)))), rx)
    }

    /// Answers with `response`, unless someone answered already.
    pub fn send(&self, response: Response<ResponseBody>) {
        let sender = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(sender) = sender {
            // The connection may have given up (call timeout): nothing to do.
            let _ = sender.send(response);
        }
    }

    /// Answers with the host's own `status` and `text`, unless someone
    /// answered already.
    pub fn fail(&self, status: StatusCode, text: &str) {
        self.send(text_response(status, text));
    }

    /// Whether nobody waits for an answer any more: it was given, or the
    /// client gave up. A queued request in this state is not worth running.
    pub fn is_done(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_none_or(|sender| sender.is_closed())
    }
}

/// `response` with its body read to the end even if the client goes away
/// first: a guest writing the body of a response nobody reads would get a
/// write error, which most guests `unwrap` (a trap, so a crash and a
/// restart for every client that hangs up). The body is the guest's own
/// output, bounded by its callback deadline.
pub fn detached(response: Response<ResponseBody>) -> Response<ResponseBody> {
    response.map(|body| Detached(Some(body)).boxed_unsync())
}

/// A response body that, dropped before its end, is drained in the background.
struct Detached(Option<ResponseBody>);

impl hyper::body::Body for Detached {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        match self.0.as_mut() {
            Some(body) => std::pin::Pin::new(body).poll_frame(cx),
            None => std::task::Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.as_ref().is_none_or(|body| body.is_end_stream())
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.0
            .as_ref()
            .map(|body| body.size_hint())
            .unwrap_or_default()
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        let Some(mut body) = self.0.take() else {
            return;
        };
        if body.is_end_stream() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { while let Some(Ok(_)) = body.frame().await {} });
        }
    }
}

/// A response with the host's `status` and `text` (plain text, one line).
pub fn text_response(status: StatusCode, text: &str) -> Response<ResponseBody> {
    let body = Full::new(Bytes::from(format!("{text}\n")))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_answer_wins_and_later_ones_are_dropped() {
        let (responder, rx) = Responder::new();
        let other = responder.clone();
        assert!(!responder.is_done());
        responder.fail(StatusCode::INTERNAL_SERVER_ERROR, "first");
        other.fail(StatusCode::SERVICE_UNAVAILABLE, "second");
        assert!(other.is_done());
        assert_eq!(
            rx.await.unwrap().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn a_client_that_gave_up_leaves_nobody_to_answer() {
        let (responder, rx) = Responder::new();
        drop(rx);
        assert!(responder.is_done());
    }
}
