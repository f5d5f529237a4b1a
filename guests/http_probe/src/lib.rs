//! The HTTP probe: a child that is both an Arbor worker and an HTTP
//! server. It exports Arbor's `lifecycle` (contract 0.2.0, bindings from
//! `wit-bindgen`) and `wasi:http/incoming-handler` (bindings from the `wasi`
//! crate, as a `wasmtime serve` component has them), and imports Arbor's
//! `host` to call other children. Messages and requests reach it through
//! the one mailbox, one at a time.
//!
//! | message | behaviour |
//! |---|---|
//! | `ping` | replies `pong` |
//! | `served` | replies how many HTTP requests this instance has served |
//! | `crash` | traps (a Rust panic) |
//!
//! | request | answer |
//! |---|---|
//! | `GET /init` | `init ran with ARGS` (the args its `init` got) |
//! | `GET /call/NAME/MSG` | the reply of child NAME to MSG (`host.call`), or 502 and the error |
//! | `GET /messages` | how many messages (not requests) this instance has handled |
//! | `GET /crash` | traps before answering |
//! | anything else | `http_probe NAME: PATH` |

use std::cell::{Cell, RefCell};

use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

wit_bindgen::generate!({
    path: "../../wit",
    world: "supervised",
});

use arbor::supervised::host;
use arbor::supervised::types::ExitReason;
use exports::arbor::supervised::lifecycle::{Guest, InitOutcome};

thread_local! {
    static INIT_ARGS: RefCell<Option<String>> = const { RefCell::new(None) };
    static SERVED: Cell<u64> = const { Cell::new(0) };
    static MESSAGES: Cell<u64> = const { Cell::new(0) };
}

struct Probe;

impl Guest for Probe {
    fn init(args: Vec<u8>) -> Result<InitOutcome, String> {
        let args = String::from_utf8_lossy(&args).into_owned();
        INIT_ARGS.with(|a| *a.borrow_mut() = Some(args));
        Ok(InitOutcome::Running)
    }

    fn handle(message: Vec<u8>) -> Result<Vec<u8>, String> {
        MESSAGES.set(MESSAGES.get() + 1);
        match message.as_slice() {
            b"ping" => Ok(b"pong".to_vec()),
            b"served" => Ok(SERVED.get().to_string().into_bytes()),
            b"crash" => panic!("asked to crash"),
            other => Err(format!("unknown message {:?}", String::from_utf8_lossy(other))),
        }
    }

    fn terminate(_reason: ExitReason) {}
}

export!(Probe);

impl wasi::exports::http::incoming_handler::Guest for Probe {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        SERVED.set(SERVED.get() + 1);
        let path = request.path_with_query().unwrap_or_default();
        let parts: Vec<&str> = path.trim_start_matches('/').splitn(3, '/').collect();
        match parts.as_slice() {
            ["init"] => {
                let args = INIT_ARGS.with(|a| a.borrow().clone());
                match args {
                    Some(args) => answer(out, 200, &format!("init ran with {args}")),
                    None => answer(out, 500, "init did not run"),
                }
            }
            ["call", name, message] => match host::call(name, message.as_bytes()) {
                Ok(reply) => answer(out, 200, &String::from_utf8_lossy(&reply)),
                Err(error) => answer(out, 502, &format!("{error:?}")),
            },
            ["messages"] => answer(out, 200, &MESSAGES.get().to_string()),
            ["crash"] => panic!("asked to crash"),
            _ => answer(out, 200, &format!("http_probe {}: {path}", host::self_name())),
        }
    }
}

wasi::http::proxy::export!(Probe);

fn answer(out: ResponseOutparam, status: u16, body: &str) {
    let response = OutgoingResponse::new(Fields::new());
    response.set_status_code(status).unwrap();
    let outgoing = response.body().unwrap();
    ResponseOutparam::set(out, Ok(response));
    let stream = outgoing.write().unwrap();
    stream.blocking_write_and_flush(body.as_bytes()).unwrap();
    drop(stream);
    OutgoingBody::finish(outgoing, None).unwrap();
}
