//! A guest built before contract 0.2.1: plain wit-bindgen over the frozen
//! `wit/arbor-0.2.0/arbor.wit` (`arbor:supervised@0.2.0`, world
//! `supervised`), not the SDK. The host links its `@0.2.0` imports and
//! exports to their `@0.2.1` definitions; the test
//! `host/runtime/tests/all/contract_0_2_0.rs` proves it runs unchanged.
//!
//! | message | behaviour |
//! |---|---|
//! | `ping` | replies `pong` |
//! | `count` | replies how many `count` messages this instance has seen (fresh state shows a restart) |
//! | `call NAME MSG` | replies with the reply of child NAME to MSG, or `err` naming the `call-error` |
//! | `crash` | traps (a Rust panic) |

use std::cell::Cell;

wit_bindgen::generate!({
    path: "../../wit/arbor-0.2.0",
    world: "supervised",
});

use arbor::supervised::host;
use arbor::supervised::types::ExitReason;
use exports::arbor::supervised::lifecycle::{Guest, InitOutcome};

thread_local! {
    /// `count`'s counter: instance state, fresh after every restart.
    static COUNTED: Cell<u64> = const { Cell::new(0) };
}

struct Guest020;

impl Guest for Guest020 {
    fn init(_args: Vec<u8>) -> Result<InitOutcome, String> {
        Ok(InitOutcome::Running)
    }

    fn handle(message: Vec<u8>) -> Result<Vec<u8>, String> {
        let text = String::from_utf8(message).map_err(|_| "message is not UTF-8".to_string())?;
        let (verb, rest) = text.split_once(' ').unwrap_or((text.as_str(), ""));
        match verb {
            "ping" => Ok(b"pong".to_vec()),
            "count" => {
                COUNTED.set(COUNTED.get() + 1);
                Ok(COUNTED.get().to_string().into_bytes())
            }
            "call" => {
                let (name, msg) = rest.split_once(' ').unwrap_or((rest, ""));
                host::call(name, msg.as_bytes()).map_err(|e| format!("{e:?}"))
            }
            "crash" => panic!("crash requested"),
            _ => Err(format!("unknown message: {text}")),
        }
    }

    fn terminate(_reason: ExitReason) {}
}

export!(Guest020);
