//! The contract's bindings, generated once by wit-bindgen from `wit/arbor.wit`
//! (`arbor:supervised@0.2.3`). Nothing here is public API: the other modules
//! wrap the imports in safe functions and typed errors, and `export!`
//! reaches the exports through `__bindings`.
//!
//! Two worlds, because the handover export must be in a component only when
//! its guest implements it (a swap to or from a guest without it is refused
//! unless `--fresh`): `plain` is `supervised` (the imports and `lifecycle`),
//! `with_handover` is the `handover` export alone, exported beside it.
//!
//! `pub_export_macro` makes wit-bindgen's export macros public and moves the
//! custom section that names the world's exports into the expansion of the
//! macro, in the guest's crate: a guest's component type is the world it
//! exports (this crate's own sections name the imports only).

#![allow(missing_docs, unsafe_code, clippy::all)]

/// World `supervised`: the imports and the `lifecycle` export.
pub mod plain {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "supervised",
        pub_export_macro: true,
        export_macro_name: "export_supervised",
        default_bindings_module: "arbor_guest::__bindings::plain",
    });
}

/// The `handover` export alone (world `handover-only` of this SDK's own
/// package): exported beside `plain`'s world, it makes the component's type
/// `supervised-with-handover`. A world of its own, not
/// `supervised-with-handover` itself, because wit-bindgen generates every
/// export of a world even when `with` names it, and a second `lifecycle`
/// export would clash with `plain`'s.
pub mod with_handover {
    wit_bindgen::generate!({
        path: "../../wit",
        inline: "
            package arbor:guest-sdk;
            world handover-only {
                export arbor:supervised/handover@0.2.3;
            }
        ",
        world: "handover-only",
        pub_export_macro: true,
        export_macro_name: "export_handover",
        default_bindings_module: "arbor_guest::__bindings::with_handover",
    });
}
