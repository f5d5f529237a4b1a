//! {{name}}: an Arbor guest in Rust, on Arbor's Rust guest SDK (`arbor-guest/`,
//! the copy `arbor new` wrote; `cargo doc --open -p arbor-guest` for its docs).
//!
//! The struct is one child's state: `init` makes it from the tree file's
//! `args` and answers `Init::Running(state)` (or `Init::Ignore`: start
//! nothing, the child stays stopped); each message is handled by `handle`;
//! `terminate` runs on an orderly stop. Return `Err(text)` to answer the
//! caller with an error; a panic is a crash (the SDK reports its message and
//! place to the host, `host.crash`): Arbor drops this
//! instance, its state with it, and its supervisor decides whether a fresh
//! one starts.
//!
//! Messages are JSON, read into `Msg` and written from the reply by the
//! SDK's `TypedActor` (bytes that are not JSON are answered
//! `Err("not JSON: ...")` before `handle`):
//!
//! | message | reply |
//! |---|---|
//! | `"ping"` | `"pong"` |
//! | `"count"` | how many messages this instance has handled |
//! | `"crash"` | none: crashes (`panic: crash requested (at src/lib.rs:...)`) |
//! | `{"sum": [1, 2, 3]}` | `6` |
//! | `{"ask": NAME, "message": VALUE}` | NAME's reply to VALUE; a failed call is an error reply `CASE` or `CASE: TEXT` (`self-call`, `no-such-name: NAME`, ...) |

use arbor_guest::typed::{self, TypedActor};
use arbor_guest::{ExitReason, Init};
use serde::Deserialize;
use serde_json::Value;

/// The messages this guest handles.
#[derive(Deserialize)]
#[serde(untagged)]
enum Msg {
    /// `"ping"`, `"count"`, `"crash"`.
    Word(Word),
    /// `{"sum": [1, 2, 3]}`.
    Sum { sum: Vec<i64> },
    /// `{"ask": NAME, "message": VALUE}`.
    Ask {
        ask: String,
        #[serde(default)]
        message: Value,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Word {
    Ping,
    Count,
    Crash,
}

struct Guest {
    /// Messages handled by this instance: fresh after every restart.
    handled: u64,
}

impl TypedActor for Guest {
    type Msg = Msg;
    type Reply = Value;

    fn init(_args: &[u8]) -> Result<Init<Self>, String> {
        arbor_guest::info!("{} starting", arbor_guest::self_name());
        Ok(Init::Running(Guest { handled: 0 }))
    }

    fn handle(&mut self, msg: Msg) -> Result<Value, String> {
        self.handled += 1;
        Ok(match msg {
            Msg::Word(Word::Ping) => "pong".into(),
            Msg::Word(Word::Count) => self.handled.into(),
            Msg::Word(Word::Crash) => panic!("crash requested"),
            Msg::Sum { sum } => sum.iter().sum::<i64>().into(),
            // A typed call: `message` goes as JSON, the reply is read back
            // as JSON; a failed call reads `no-such-name: NAME` and so on.
            Msg::Ask { ask, message } => {
                typed::call::<Value, Value>(&ask, &message).map_err(|e| e.to_string())?
            }
        })
    }

    fn terminate(&mut self, reason: ExitReason) {
        arbor_guest::info!("terminating: {reason}");
    }
}

// `export!(Guest with handover)` once `Guest` implements
// `arbor_guest::Handover`, to keep its state across a hot swap.
arbor_guest::export!(Guest);
