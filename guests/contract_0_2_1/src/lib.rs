//! A guest built before contract 0.2.2: plain wit-bindgen over the frozen
//! `wit/arbor-0.2.1/arbor.wit` (`arbor:supervised@0.2.1`, world
//! `supervised`), not the SDK. The host links its `@0.2.1` imports and
//! exports to their `@0.2.2` definitions; the test
//! `host/runtime/tests/all/contract_0_2_1.rs` proves it runs unchanged,
//! its `children` and `timers` imports included.
//!
//! | message | behaviour |
//! |---|---|
//! | `ping` | replies `pong` |
//! | `call NAME MSG` | replies with the reply of child NAME to MSG, or `err` naming the `call-error` |
//! | `spawn SUP NAME COMPONENT` | `children.start-child` (temporary, no args), replies `started NAME`, or `err` naming the `child-error` |
//! | `after MS TARGET MSG` | `timers.send-after`, replies `timer ID` |
//! | `crash` | traps (a Rust panic) |

wit_bindgen::generate!({
    path: "../../wit/arbor-0.2.1",
    world: "supervised",
});

use arbor::supervised::children::{self, ChildSpec, RestartType};
use arbor::supervised::types::ExitReason;
use arbor::supervised::{host, timers};
use exports::arbor::supervised::lifecycle::{Guest, InitOutcome};

struct Guest021;

impl Guest for Guest021 {
    fn init(_args: Vec<u8>) -> Result<InitOutcome, String> {
        Ok(InitOutcome::Running)
    }

    fn handle(message: Vec<u8>) -> Result<Vec<u8>, String> {
        let text = String::from_utf8(message).map_err(|_| "message is not UTF-8".to_string())?;
        let words: Vec<&str> = text.splitn(4, ' ').collect();
        match words.as_slice() {
            ["ping"] => Ok(b"pong".to_vec()),
            ["call", name, rest @ ..] => {
                host::call(name, rest.join(" ").as_bytes()).map_err(|e| format!("{e:?}"))
            }
            ["spawn", supervisor, name, component] => {
                let spec = ChildSpec {
                    name: name.to_string(),
                    component: component.to_string(),
                    args: Vec::new(),
                    restart: RestartType::Temporary,
                };
                children::start_child(supervisor, &spec)
                    .map(|started| format!("started {started}").into_bytes())
                    .map_err(|e| format!("{e:?}"))
            }
            ["after", ms, target, message] => {
                let ms: u64 = ms.parse().map_err(|_| format!("not milliseconds: {ms}"))?;
                timers::send_after(target, message.as_bytes(), ms)
                    .map(|id| format!("timer {id}").into_bytes())
                    .map_err(|e| format!("{e:?}"))
            }
            ["crash"] => panic!("crash requested"),
            _ => Err(format!("unknown message: {text}")),
        }
    }

    fn terminate(_reason: ExitReason) {}
}

export!(Guest021);
