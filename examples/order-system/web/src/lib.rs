//! The order system's web endpoint, in Rust: an Arbor worker (on the guest
//! SDK) that also exports the standard `wasi:http/incoming-handler` (from
//! the `wasi` crate, as a `wasmtime serve` component does), bound to the
//! address its tree-file entry names (`http = "127.0.0.1:8080"`). Requests
//! and messages reach it through its one mailbox, one at a time.
//!
//! | request | answer |
//! |---|---|
//! | `POST /orders` with `{"item": I, "qty": N}` | `202 {"id": ID}` at once: the order is created `pending` and its processor started |
//! | `GET /orders/ID` | `200` and the order (`status`: `pending`, `completed` or `failed: REASON`), or `404` |
//! | `GET /orders` | `200` and the repository's summary |
//!
//! The message `place ITEM QTY` (what the traffic child casts) takes the
//! same path as a `POST`, and replies the id.
//!
//! Placing an order creates it in the repository, then starts its processor
//! under the `orders` dynamic supervisor (`children.start-child`, which the
//! tree file grants with `may_start = ["orders"]`), named by the order id,
//! temporary. If the processor cannot start (the supervisor is full, say),
//! the order is marked failed with the reason and the client gets `503`:
//! an accepted order always ends completed or failed.

use arbor_guest::typed::{self, TypedCallError};
use arbor_guest::{Actor, ChildSpec, Init, Restart, start_child};
use serde::Deserialize;
use serde_json::{Value, json};
use wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

/// The supervisor processors are started under.
const ORDERS: &str = "orders";
/// The component processors run.
const PROCESSOR: &str = "processor";
/// Largest request body read, in bytes: an order is a few dozen.
const MAX_BODY: usize = 64 << 10;

struct Web;

#[derive(Deserialize)]
struct NewOrder {
    item: String,
    qty: u32,
}

/// Why an order was not placed.
enum PlaceError {
    /// The request is not an order (400).
    Bad(String),
    /// The repository could not create it (503).
    Unavailable(String),
    /// It was created but its processor did not start: it is failed (503).
    NotStarted { id: String, reason: String },
}

/// Creates the order and starts its processor; answers its id.
fn place(order: NewOrder) -> Result<String, PlaceError> {
    if order.qty == 0 || order.item.is_empty() {
        return Err(PlaceError::Bad(
            "an order needs an item and a qty of at least 1".into(),
        ));
    }
    let created: Value = typed::call(
        "repository",
        &json!({"op": "create", "item": order.item, "qty": order.qty}),
    )
    .map_err(|e| PlaceError::Unavailable(format!("repository: {e}")))?;
    let id = created["id"].as_str().unwrap_or_default().to_string();
    let spec = ChildSpec::new(id.clone(), PROCESSOR)
        .args(json!({ "id": id }).to_string())
        .restart(Restart::Temporary);
    if let Err(e) = start_child(ORDERS, &spec) {
        let reason = format!("could not start its processor: {e}");
        let _ = typed::call::<_, Value>(
            "repository",
            &json!({"op": "fail", "id": id, "reason": reason}),
        );
        return Err(PlaceError::NotStarted { id, reason });
    }
    Ok(id)
}

impl Actor for Web {
    fn init(_args: &[u8]) -> Result<Init<Self>, String> {
        Ok(Init::Running(Web))
    }

    fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, String> {
        let text = std::str::from_utf8(message).map_err(|_| "not UTF-8".to_string())?;
        let mut words = text.split(' ');
        match (words.next(), words.next(), words.next()) {
            (Some("place"), Some(item), Some(qty)) => {
                let qty = qty.parse().map_err(|_| format!("bad qty: {qty}"))?;
                let order = NewOrder {
                    item: item.to_string(),
                    qty,
                };
                match place(order) {
                    Ok(id) => Ok(id.into_bytes()),
                    Err(PlaceError::Bad(why) | PlaceError::Unavailable(why)) => Err(why),
                    Err(PlaceError::NotStarted { id, reason }) => Err(format!("{id}: {reason}")),
                }
            }
            _ => Err(format!("unknown message: {text} (expected place ITEM QTY)")),
        }
    }
}

arbor_guest::export!(Web);

impl wasi::exports::http::incoming_handler::Guest for Web {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let path = path.split('?').next().unwrap_or_default().to_string();
        let (status, body) = match (request.method(), path.trim_end_matches('/')) {
            (Method::Post, "/orders") => post_order(request),
            (Method::Get, "/orders") => repository(json!({"op": "summary"})),
            (Method::Get, p) if p.starts_with("/orders/") => {
                repository(json!({"op": "get", "id": &p["/orders/".len()..]}))
            }
            _ => (404, json!({"error": format!("no route for {path}")})),
        };
        answer(out, status, &body);
    }
}

wasi::http::proxy::export!(Web);

fn post_order(request: IncomingRequest) -> (u16, Value) {
    let body = match read_body(request) {
        Ok(body) => body,
        Err(why) => return (400, json!({ "error": why })),
    };
    let order: NewOrder = match serde_json::from_slice(&body) {
        Ok(order) => order,
        Err(e) => return (400, json!({"error": format!("not an order: {e}")})),
    };
    match place(order) {
        Ok(id) => (202, json!({ "id": id })),
        Err(PlaceError::Bad(why)) => (400, json!({ "error": why })),
        Err(PlaceError::Unavailable(why)) => (503, json!({ "error": why })),
        Err(PlaceError::NotStarted { id, reason }) => (503, json!({"id": id, "error": reason})),
    }
}

/// The repository's answer to `request`: 200, 404 for an unknown order,
/// 503 when the repository is unavailable.
fn repository(request: Value) -> (u16, Value) {
    match typed::call::<_, Value>("repository", &request) {
        Ok(reply) => (200, reply),
        Err(TypedCallError::Call(arbor_guest::CallError::Rejected(why))) => {
            (404, json!({ "error": why }))
        }
        Err(e) => (503, json!({"error": format!("repository: {e}")})),
    }
}

/// The request's body, at most [`MAX_BODY`] bytes.
fn read_body(request: IncomingRequest) -> Result<Vec<u8>, String> {
    let body = request.consume().map_err(|()| "no body".to_string())?;
    let stream = body.stream().map_err(|()| "no body stream".to_string())?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(16 << 10) {
            Ok(chunk) => {
                bytes.extend_from_slice(&chunk);
                if bytes.len() > MAX_BODY {
                    return Err(format!("the body is larger than {MAX_BODY} bytes"));
                }
            }
            // The stream is closed at the end of the body.
            Err(_) => break,
        }
    }
    drop(stream);
    IncomingBody::finish(body);
    Ok(bytes)
}

fn answer(out: ResponseOutparam, status: u16, body: &Value) {
    let headers = Fields::new();
    let _ = headers.set("content-type", &[b"application/json".to_vec()]);
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let Ok(outgoing) = response.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(response));
    let text = body.to_string();
    if let Ok(stream) = outgoing.write() {
        // blocking_write_and_flush takes at most 4096 bytes at a time.
        for chunk in text.as_bytes().chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
    }
    let _ = OutgoingBody::finish(outgoing, None);
}
