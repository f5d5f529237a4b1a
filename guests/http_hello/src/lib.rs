//! A stock `wasi:http/proxy` component: what `wasmtime serve` runs, built
//! with the `wasi` crate alone. It knows nothing of Arbor; Arbor's tests run
//! it unchanged as an HTTP child.
//!
//! | request | answer |
//! |---|---|
//! | `GET /count` | how many requests this instance has served, this one included (a restart resets it) |
//! | `GET /crash` | traps (a Rust panic) before answering |
//! | `GET /sleep/MS` | waits MS milliseconds on the WASI clock, then answers `slept MS` |
//! | `GET /stream/N` | answers at once, then writes the body in N chunks (`chunk I\n`) 50 ms apart |
//! | `GET /outgoing` | tries an outgoing request to `http://127.0.0.1:1/` and answers what happened |
//! | `POST /echo` | answers the request's body |
//! | anything else | `hello from http_hello: METHOD PATH` |

use std::cell::Cell;

use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};

wasi::http::proxy::export!(Hello);

thread_local! {
    /// Requests served by this instance.
    static SERVED: Cell<u64> = const { Cell::new(0) };
}

struct Hello;

impl wasi::exports::http::incoming_handler::Guest for Hello {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let served = SERVED.get() + 1;
        SERVED.set(served);
        let path = request.path_with_query().unwrap_or_default();
        let method = match request.method() {
            Method::Get => "GET".to_string(),
            Method::Post => "POST".to_string(),
            other => format!("{other:?}"),
        };
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match parts.as_slice() {
            ["count"] => answer(out, 200, served.to_string().as_bytes()),
            ["crash"] => panic!("asked to crash"),
            ["sleep", ms] => {
                let ms: u64 = ms.parse().unwrap_or(0);
                wasi::clocks::monotonic_clock::subscribe_duration(ms * 1_000_000).block();
                answer(out, 200, format!("slept {ms}").as_bytes());
            }
            ["stream", n] => stream(out, n.parse().unwrap_or(1)),
            ["outgoing"] => {
                let text = outgoing();
                answer(out, 200, text.as_bytes());
            }
            ["echo"] => {
                let body = read_body(&request);
                answer(out, 200, &body);
            }
            _ => answer(
                out,
                200,
                format!("hello from http_hello: {method} {path}").as_bytes(),
            ),
        }
    }
}

/// Sends a whole response with `status` and `body`.
fn answer(out: ResponseOutparam, status: u16, body: &[u8]) {
    let response = OutgoingResponse::new(Fields::new());
    response.set_status_code(status).unwrap();
    let outgoing = response.body().unwrap();
    ResponseOutparam::set(out, Ok(response));
    let stream = outgoing.write().unwrap();
    // blocking_write_and_flush takes at most 4096 bytes at a time.
    for chunk in body.chunks(4096) {
        stream.blocking_write_and_flush(chunk).unwrap();
    }
    drop(stream);
    OutgoingBody::finish(outgoing, None).unwrap();
}

/// Sends the headers at once, then the body in `n` chunks 50 ms apart: the
/// client sees the first chunk before `handle` returns.
fn stream(out: ResponseOutparam, n: u32) {
    let response = OutgoingResponse::new(Fields::new());
    let outgoing = response.body().unwrap();
    ResponseOutparam::set(out, Ok(response));
    let stream = outgoing.write().unwrap();
    for i in 0..n {
        stream
            .blocking_write_and_flush(format!("chunk {i}\n").as_bytes())
            .unwrap();
        wasi::clocks::monotonic_clock::subscribe_duration(50_000_000).block();
    }
    drop(stream);
    OutgoingBody::finish(outgoing, None).unwrap();
}

/// The request's whole body.
fn read_body(request: &IncomingRequest) -> Vec<u8> {
    let body = request.consume().unwrap();
    let stream = body.stream().unwrap();
    let mut bytes = Vec::new();
    while let Ok(chunk) = stream.blocking_read(64 << 10) {
        bytes.extend_from_slice(&chunk);
    }
    bytes
}

/// Tries an outgoing request; says whether it was sent or why not.
fn outgoing() -> String {
    let request = OutgoingRequest::new(Fields::new());
    request.set_scheme(Some(&Scheme::Http)).unwrap();
    request.set_authority(Some("127.0.0.1:1")).unwrap();
    request.set_path_with_query(Some("/")).unwrap();
    match wasi::http::outgoing_handler::handle(request, None) {
        Err(code) => format!("refused: {code:?}"),
        Ok(future) => {
            future.subscribe().block();
            match future.get() {
                Some(Ok(Ok(response))) => format!("sent: status {}", response.status()),
                Some(Ok(Err(code))) => format!("refused: {code:?}"),
                other => format!("no answer: {other:?}"),
            }
        }
    }
}
