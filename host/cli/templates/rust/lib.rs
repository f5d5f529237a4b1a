//! {{name}}: an Arbor guest, written with the Rust guest SDK (`arbor-guest/`,
//! a copy of it that `arbor new` wrote: see its docs with `cargo doc --open`).
//!
//! The struct is one child's state: `init` makes it from the tree file's
//! `args` and answers `Init::Running(state)` (or `Init::Ignore`: start
//! nothing, the child stays stopped); each message is handled by `handle`;
//! `terminate` runs on an orderly stop.
//!
//! A panic is a crash: Arbor drops this instance, its state with it, and its
//! supervisor decides whether a fresh one starts. Return `Err` for errors
//! the caller should see.

use arbor_guest::{Actor, ExitReason, Init};

struct Guest {
    /// Messages handled by this instance: fresh after every restart.
    handled: u64,
}

impl Actor for Guest {
    fn init(_args: &[u8]) -> Result<Init<Self>, String> {
        arbor_guest::info!("{} starting", arbor_guest::self_name());
        Ok(Init::Running(Guest { handled: 0 }))
    }

    fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, String> {
        self.handled += 1;
        match message {
            b"ping" => Ok(b"pong".to_vec()),
            b"count" => Ok(self.handled.to_string().into_bytes()),
            b"crash" => panic!("crash requested"),
            other => Err(format!(
                "unknown message: {}",
                String::from_utf8_lossy(other)
            )),
        }
    }

    fn terminate(&mut self, reason: ExitReason) {
        arbor_guest::info!("terminating: {reason}");
    }
}

// `export!(Guest with handover)` once `Guest` implements
// `arbor_guest::Handover`, to keep its state across a hot swap.
arbor_guest::export!(Guest);
