//! A worker's side of an HTTP request: the guest's
//! `wasi:http/incoming-handler.handle` runs between two messages, under the
//! child's callback deadline, as `handle` does.
//!
//! The guest answers through its `response-outparam`, which may come before
//! `handle` returns: the connection sends the headers at once and the body
//! streams from the guest as it writes it (as `wasmtime serve` does). A trap
//! is a crash, exactly like a trap in `handle`: the request gets a 500
//! (unless its response already went out: its body is then cut short), and
//! the task exits for the supervisor to decide.

use hyper::StatusCode;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use super::{Task, describe, terminate, within};
use crate::http::exchange::{HttpExchange, detached, text_response};
use crate::vocab::ExitReason;

impl Task {
    /// Serves one HTTP request; `Some` when the child exits.
    pub(super) async fn serve_http(
        &mut self,
        exchange: Box<HttpExchange>,
    ) -> Option<(ExitReason, Option<String>)> {
        let HttpExchange { request, responder } = *exchange;
        // The client gave up while it waited (call timeout): not worth running.
        if responder.is_done() {
            return None;
        }
        let instance = &mut self.instance;
        let path = instance.store.data().path().to_string();
        let proxy = match instance
            .component
            .pre
            .incoming_handler(&mut instance.store, &instance.bindings)
        {
            Ok(Some(proxy)) => proxy,
            // A hot swap to a version that does not serve HTTP.
            Ok(None) => {
                responder.fail(
                    StatusCode::NOT_IMPLEMENTED,
                    &format!("{path} does not serve HTTP: its component does not export `wasi:http/incoming-handler`"),
                );
                return None;
            }
            Err(error) => {
                let detail = describe(&error).1;
                responder.fail(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
                return Some((
                    ExitReason::Crash,
                    Some(format!("incoming-handler: {detail}")),
                ));
            }
        };
        let resources = {
            let mut http = instance.store.data_mut().http();
            let answer = responder.clone();
            http.new_incoming_request(Scheme::Http, request)
                .and_then(|request| {
                    let out = http.new_response_outparam_from_callback(move |result| {
                        answer.send(match result {
                            Ok(response) => detached(response),
                            Err(code) => text_response(
                                StatusCode::INTERNAL_SERVER_ERROR,
                                &format!("the child answered with an error: {code:?}"),
                            ),
                        })
                    })?;
                    Ok((request, out))
                })
        };
        let (request, out) = match resources {
            Ok(resources) => resources,
            // The request's resources did not fit the child's table.
            Err(error) => {
                tracing::warn!(
                    child = path,
                    "cannot hand an HTTP request to the guest: {error:#}"
                );
                responder.fail(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
                return None;
            }
        };
        let call =
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut instance.store, request, out);
        // The client sees that the child crashed, not why: the detail (a
        // guest's panic message, its stack) is for the event stream.
        let crashed = "internal server error: the child crashed handling the request";
        match within(self.deadline, tokio::time::Instant::now(), call).await {
            Err(_) => {
                responder.fail(StatusCode::INTERNAL_SERVER_ERROR, crashed);
                return Some((ExitReason::Crash, Some("timeout".to_string())));
            }
            Ok(Err(error)) => {
                let (reason, detail) = describe(&error);
                responder.fail(StatusCode::INTERNAL_SERVER_ERROR, crashed);
                return Some((reason, Some(detail)));
            }
            // Set before it returned, or never: then nothing will answer.
            Ok(Ok(())) => responder.fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal server error: the child returned without a response",
            ),
        }
        if let Some(reason) = instance.store.data_mut().stop_request.take() {
            return Some(terminate(instance, reason, Some(self.deadline)).await);
        }
        None
    }
}
