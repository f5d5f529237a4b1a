//! The HTTP probe: a child that is both an Arbor worker and an HTTP
//! server. It exports Arbor's `lifecycle` (contract 0.2.2, through the Rust
//! guest SDK) and `wasi:http/incoming-handler` (bindings from the `wasi`
//! crate, as a `wasmtime serve` component has them), and imports Arbor's
//! `host` to call other children. Messages and requests reach it through
//! the one mailbox, one at a time; the HTTP handler reaches the SDK's state
//! with `arbor_guest::state`.
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

use arbor_guest::{Actor, Init};
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

/// One instance's state, shared by its messages and its requests.
struct Probe {
    init_args: String,
    served: u64,
    messages: u64,
}

impl Actor for Probe {
    fn init(args: &[u8]) -> Result<Init<Self>, String> {
        Ok(Init::Running(Probe {
            init_args: String::from_utf8_lossy(args).into_owned(),
            served: 0,
            messages: 0,
        }))
    }

    fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, String> {
        self.messages += 1;
        match message {
            b"ping" => Ok(b"pong".to_vec()),
            b"served" => Ok(self.served.to_string().into_bytes()),
            b"crash" => panic!("asked to crash"),
            other => Err(format!(
                "unknown message {:?}",
                String::from_utf8_lossy(other)
            )),
        }
    }
}

arbor_guest::export!(Probe);

impl wasi::exports::http::incoming_handler::Guest for Probe {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let state = arbor_guest::state(|probe: &mut Probe| {
            probe.served += 1;
            (probe.init_args.clone(), probe.messages)
        });
        let path = request.path_with_query().unwrap_or_default();
        let parts: Vec<&str> = path.trim_start_matches('/').splitn(3, '/').collect();
        match parts.as_slice() {
            ["init"] => match state {
                Some((args, _)) => answer(out, 200, &format!("init ran with {args}")),
                None => answer(out, 500, "init did not run"),
            },
            ["call", name, message] => match arbor_guest::call(name, message.as_bytes()) {
                Ok(reply) => answer(out, 200, &String::from_utf8_lossy(&reply)),
                Err(error) => answer(out, 502, &format!("{error:?}")),
            },
            ["messages"] => {
                let messages = state.map(|(_, messages)| messages).unwrap_or(0);
                answer(out, 200, &messages.to_string())
            }
            ["crash"] => panic!("asked to crash"),
            _ => answer(
                out,
                200,
                &format!("http_probe {}: {path}", arbor_guest::self_name()),
            ),
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
