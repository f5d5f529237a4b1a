//! Ending this instance as a crash on purpose: [`crash`] (contract
//! 0.2.3's `host.crash`) and the panic hook that routes every panic of the
//! guest through it.
//!
//! Without the hook a panic prints to stderr and aborts, and the abort is
//! an `unreachable` instruction: a hardware trap, which costs the host
//! several microseconds more than the restart it causes on some machines,
//! and whose crash detail says only "wasm trap: unreachable". With it, the
//! host ends the instance in the `host.crash` call (wasmtime unwinds the
//! guest's frames from the host function, no trap instruction runs), and
//! the crash's detail is the panic's message and location.

use std::panic::PanicHookInfo;
use std::sync::Once;

use crate::__bindings::plain::arbor::supervised::host;

/// Ends this instance now, as a crash whose detail (in events, the
/// restart history, the caller's `crashed` error) is `detail`: what a
/// panic does, with a text of your choosing and no panic machinery. The
/// callback in progress ends here; nothing of this instance runs after it.
pub fn crash(detail: &str) -> ! {
    host::crash(detail);
    // The host never returns from `crash`; a host that did would still
    // see a crash.
    std::process::abort()
}

static HOOK: Once = Once::new();

/// Installs the panic hook, once per instance (each instance has its own
/// memory, so its own `Once`). Called at the start of every export, so a
/// guest needs no code of its own for it; a guest that sets its own hook
/// later replaces it.
pub(crate) fn report_panics() {
    HOOK.call_once(|| std::panic::set_hook(Box::new(|info| crash(&describe(info)))));
}

/// A panic as the crash's detail: `panic: the message (at
/// src/lib.rs:12:5)`, the message first as every language's guest module
/// words its crashes, and not Rust's own "panicked at", which in the
/// host's log would read as a panic of the host.
fn describe(info: &PanicHookInfo<'_>) -> String {
    let message = info.payload_as_str().unwrap_or("Box<dyn Any>");
    match info.location() {
        Some(at) => format!(
            "panic: {message} (at {}:{}:{})",
            at.file(),
            at.line(),
            at.column()
        ),
        None => format!("panic: {message}"),
    }
}
