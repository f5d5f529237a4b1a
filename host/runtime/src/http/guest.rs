//! What a guest's `Store` holds for `wasi:http`: nothing until the guest
//! first touches a `wasi:http` resource (an HTTP child does on its first
//! request), so a child that never speaks HTTP carries one empty pointer.
//!
//! Outgoing requests (`wasi:http/outgoing-handler`) are refused with
//! `http-request-denied`: the host makes no network request for a guest
//! until outgoing grants exist.

use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpCtx, WasiHttpHooks};

/// A `Store`'s `wasi:http` state, made on first use.
#[derive(Default)]
pub(crate) struct GuestHttp(Option<Box<Context>>);

struct Context {
    ctx: WasiHttpCtx,
    hooks: NoOutgoing,
}

impl GuestHttp {
    /// The context and hooks `wasi:http` runs with, made on first use.
    pub(crate) fn parts(&mut self) -> (&mut WasiHttpCtx, &mut dyn WasiHttpHooks) {
        let context = self.0.get_or_insert_with(|| {
            Box::new(Context {
                ctx: WasiHttpCtx::new(),
                hooks: NoOutgoing,
            })
        });
        (&mut context.ctx, &mut context.hooks)
    }
}

/// The hooks of every guest: the defaults, except that an outgoing request
/// is refused.
struct NoOutgoing;

/// The future an outgoing request resolves to, as `wasmtime-wasi-http` has it.
type Sent = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                hyper::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for NoOutgoing {
    fn send_request(
        &mut self,
        request: hyper::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Sent {
        tracing::debug!(
            "refused a guest's outgoing HTTP request to {}: outgoing requests are not granted",
            request.uri()
        );
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}
