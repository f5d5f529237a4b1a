//! {{name}}: an Arbor guest. `init` gets the tree file's `args` and answers
//! `Running` (or `Ignore`: start nothing, the child stays stopped); each
//! message is handled by `handle`; `terminate` runs on an orderly stop.
//!
//! A panic is a crash: Arbor drops this instance and its supervisor decides
//! whether a fresh one starts. Return `Err` for errors the caller should see.

use std::cell::Cell;

wit_bindgen::generate!({
    path: "wit",
    world: "supervised",
});

use arbor::supervised::host::{self, Level};
use arbor::supervised::types::ExitReason;
use exports::arbor::supervised::lifecycle::{Guest, InitOutcome};

thread_local! {
    // Instance state: fresh after every restart.
    static HANDLED: Cell<u64> = const { Cell::new(0) };
}

struct Component;

impl Guest for Component {
    fn init(_args: Vec<u8>) -> Result<InitOutcome, String> {
        host::log(Level::Info, &format!("{} starting", host::self_name()));
        Ok(InitOutcome::Running)
    }

    fn handle(message: Vec<u8>) -> Result<Vec<u8>, String> {
        let handled = HANDLED.with(|h| {
            h.set(h.get() + 1);
            h.get()
        });
        match message.as_slice() {
            b"ping" => Ok(b"pong".to_vec()),
            b"count" => Ok(handled.to_string().into_bytes()),
            b"crash" => panic!("crash requested"),
            other => Err(format!("unknown message: {}", String::from_utf8_lossy(other))),
        }
    }

    fn terminate(reason: ExitReason) {
        host::log(Level::Info, &format!("terminating: {reason:?}"));
    }
}

export!(Component);
