//! A guest built before contract 0.2.3: plain wit-bindgen over the frozen
//! `wit/arbor-0.2.2/arbor.wit` (`arbor:supervised@0.2.2`, world
//! `supervised`), not the SDK. The host links its `@0.2.2` imports and
//! exports to their `@0.2.3` definitions; the test
//! `host/runtime/tests/all/contract_0_2_2.rs` proves it runs unchanged,
//! 0.2.2's `children.start-child-with-grants` included, and that a panic
//! in it is the trap it always was: it has no `host.crash` to report it.
//!
//! | message | behaviour |
//! |---|---|
//! | `ping` | replies `pong` |
//! | `call NAME MSG` | replies with the reply of child NAME to MSG, or `err` naming the `call-error` |
//! | `spawn SUP NAME COMPONENT ENV=VALUE` | `children.start-child-with-grants` (temporary, no args) with the environment variable ENV granted, replies `started NAME`, or `err` naming the `child-error` |
//! | `crash` | panics: Rust's default hook, then an abort (`unreachable`) |

wit_bindgen::generate!({
    path: "../../wit/arbor-0.2.2",
    world: "supervised",
});

use arbor::supervised::children::{self, ChildSpec, Grants, RestartType};
use arbor::supervised::host;
use arbor::supervised::types::ExitReason;
use exports::arbor::supervised::lifecycle::{Guest, InitOutcome};

struct Guest022;

impl Guest for Guest022 {
    fn init(_args: Vec<u8>) -> Result<InitOutcome, String> {
        Ok(InitOutcome::Running)
    }

    fn handle(message: Vec<u8>) -> Result<Vec<u8>, String> {
        let text = String::from_utf8(message).map_err(|_| "message is not UTF-8".to_string())?;
        let words: Vec<&str> = text.splitn(5, ' ').collect();
        match words.as_slice() {
            ["ping"] => Ok(b"pong".to_vec()),
            ["call", name, rest @ ..] => {
                host::call(name, rest.join(" ").as_bytes()).map_err(|e| format!("{e:?}"))
            }
            ["spawn", supervisor, name, component, env] => {
                let (key, value) = env
                    .split_once('=')
                    .ok_or_else(|| format!("not ENV=VALUE: {env}"))?;
                let spec = ChildSpec {
                    name: name.to_string(),
                    component: component.to_string(),
                    args: Vec::new(),
                    restart: RestartType::Temporary,
                };
                let grants = Grants {
                    dirs: Vec::new(),
                    env: vec![(key.to_string(), value.to_string())],
                    http_outgoing: Vec::new(),
                    keyvalue: Vec::new(),
                    sockets_connect: Vec::new(),
                    sockets_bind: Vec::new(),
                    ip_name_lookup: false,
                };
                children::start_child_with_grants(supervisor, &spec, &grants)
                    .map(|started| format!("started {started}").into_bytes())
                    .map_err(|e| format!("{e:?}"))
            }
            ["crash"] => panic!("crash requested"),
            _ => Err(format!("unknown message: {text}")),
        }
    }

    fn terminate(_reason: ExitReason) {}
}

export!(Guest022);
