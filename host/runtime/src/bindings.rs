//! The one place that runs `bindgen!` for the guest contract in `wit/`.
//!
//! Imports and exports are async so a guest waiting in a host call (a WASI
//! sleep, a `call` to another child) never blocks its scheduler thread.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "supervised",
    imports: { default: async },
    exports: { default: async },
});

pub use self::arbor::supervised::host::Level;
pub use self::arbor::supervised::types::{CallError as WitCallError, ExitReason as WitExitReason};
