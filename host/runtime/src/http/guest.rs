//! What a guest's `Store` holds for `wasi:http`: nothing until the guest
//! first touches a `wasi:http` resource (an HTTP child does on its first
//! request, a granted child on its first outgoing one), so a child that
//! never speaks HTTP carries one empty pointer.
//!
//! Outgoing requests (`wasi:http/outgoing-handler`) go where the child's
//! `http_outgoing` grant allows, and nowhere else ([`super::outgoing`]).

use std::sync::Arc;

use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpHooks};

use super::outgoing::Outgoing;
use crate::grants::Grants;

/// A `Store`'s `wasi:http` state, made on first use.
#[derive(Default)]
pub(crate) struct GuestHttp(Option<Box<Context>>);

struct Context {
    ctx: WasiHttpCtx,
    hooks: Outgoing,
}

impl GuestHttp {
    /// The context and hooks `wasi:http` runs with, made on first use for
    /// the child at `path` with `grants` (called only then).
    pub(crate) fn parts(
        &mut self,
        grants: impl FnOnce() -> Option<Arc<Grants>>,
        path: &Arc<str>,
    ) -> (&mut WasiHttpCtx, &mut dyn WasiHttpHooks) {
        let context = self.0.get_or_insert_with(|| {
            Box::new(Context {
                ctx: WasiHttpCtx::new(),
                hooks: Outgoing::new(grants(), path.clone()),
            })
        });
        (&mut context.ctx, &mut context.hooks)
    }
}
