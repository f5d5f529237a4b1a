//! What the host gives every guest: the per-child `Store` data and the
//! `arbor:supervised/host` functions (`log`, `self-name`, `call`, `cast`,
//! `stop`), since 0.2.1 `children` (`start-child`, `stop-child`) and
//! `timers` (`send-after`, `cancel-timer`), since 0.2.2
//! `start-child-with-grants`, and since 0.2.3 `crash` (the error it
//! returns to end the guest, [`GuestCrash`], is this module's).
//!
//! Every contract version's `host` interface is implemented here, each a
//! thin conversion of that version's types around one shared method, so
//! the versions cannot drift apart in what they do. They differ in one
//! answer only: a full mailbox is `mailbox-full` for 0.2.0 guests and
//! `rejected` for 0.1.0 guests, which had no case of its own for it.
//!
//! A child granted buckets (`keyvalue`) also holds the key-value store
//! ([`crate::keyvalue`], whose `guest` module implements `wasi:keyvalue`
//! on this state).
//!
//! A guest sees nothing of the machine unless granted: its WASI context
//! inherits no files, environment or network, and its memory is capped by
//! its [`Limits`] (which also count it). A child with grants (`dirs`, `env`, `sockets`) gets
//! them from its [`Sandbox`]; its outgoing HTTP is checked against its
//! `http_outgoing` in [`crate::http::outgoing`]. What it writes to stdout
//! and stderr, and its `host.log` lines, go to the host's log through one
//! rate limit ([`crate::guest_log`]): `wasi:cli/stdout` and `stderr` are
//! this module's, in place of WASI's (see [`crate::engine`]).

use std::sync::Arc;
use std::time::Duration;

use wasmtime::StoreLimitsBuilder;
use wasmtime::component::Resource;
use wasmtime_wasi::p2::DynOutputStream;
use wasmtime_wasi::p2::bindings::cli::{stderr, stdout};
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtxView, WasiHttpView};

use crate::bindings::{GuestExit, v0_1, v0_2};
use crate::grants::sandbox::Sandbox;
use crate::grants::{DirRequest, GrantRequest, SocketRequest};
use crate::guest_log::{GuestOutput, LogGate, LogRate, Stream};
use crate::http::guest::GuestHttp;
use crate::keyvalue::KvGrant;
use crate::limits::Limits;
use crate::mailbox::{CallError, check_size};
use crate::observe::stats::MemoryGauge;
use crate::routing::{self, ChildError, Router};
use crate::spec::WorkerSpec;
use crate::timers::Timers;
use crate::vocab::RestartType;

/// Longest crash detail a guest gives through `host.crash` that the host
/// keeps whole, in bytes: the detail goes into events, the restart
/// history, dead letters and the log, so the guest must not decide its
/// size. 16 KiB holds any panic message with its location.
pub(crate) const MAX_CRASH_DETAIL_BYTES: usize = 16 << 10;

/// The error `host.crash` returns: wasmtime ends the guest's call with it
/// (the import is `trappable`), unwinding the guest's frames the way any
/// host error does, without a trap instruction or a signal. The child
/// runner ([`crate::child`]) recognises it and makes the exit a crash whose
/// detail is the guest's own text, where a hardware trap's is "wasm trap:
/// ...".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GuestCrash {
    /// What the guest said, cut to [`MAX_CRASH_DETAIL_BYTES`].
    pub(crate) detail: String,
}

impl GuestCrash {
    /// The crash `detail` describes, cut to [`MAX_CRASH_DETAIL_BYTES`].
    pub(crate) fn new(detail: &str) -> GuestCrash {
        GuestCrash {
            detail: crate::batch_writer::clip(detail, MAX_CRASH_DETAIL_BYTES).into_owned(),
        }
    }
}

impl std::fmt::Display for GuestCrash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for GuestCrash {}

/// The data of one child's `Store`: dropped with it on every restart.
pub struct ChildState {
    /// Its WASI context, built when the guest first calls into WASI: many
    /// guests (the Rust SDK's idle child among them) never do, and building
    /// one costs each start ~1 KiB of heap and the seeding of two random
    /// generators. Boxed, so a child without one does not carry its size.
    wasi: Option<Box<WasiCtx>>,
    table: ResourceTable,
    pub(crate) limits: Limits,
    name: Arc<str>,
    path: Arc<str>,
    router: Arc<dyn Router>,
    call_timeout: Duration,
    may_call: Option<Arc<[String]>>,
    /// The supervisors it may start and stop children under (`may_start`);
    /// `None` for none, so a child without the grant allocates nothing.
    may_start: Option<Arc<[String]>>,
    /// Its pending `send-after` timers, made on the first one; shared with
    /// the next version across a hot swap.
    timers: Option<Arc<Timers>>,
    /// Set by `host.stop`: the child exits once the current callback returns.
    pub(crate) stop_request: Option<GuestExit>,
    /// `wasi:http` state, made when the guest first uses it.
    http: GuestHttp,
    /// The store and the buckets it may open; `None` without a grant.
    keyvalue: Option<KvGrant>,
    /// Its opened grants (directories, environment, sockets, outgoing
    /// HTTP); `None` without any, so a child without grants allocates
    /// nothing for them.
    sandbox: Option<Arc<Sandbox>>,
    /// Its way into the host's log (`host.log`, stdout, stderr), made on
    /// its first line; shared with the next version across a hot swap.
    log_gate: Option<Arc<LogGate>>,
    log_rate: LogRate,
}

impl ChildState {
    /// Fresh state for an instance of `spec` at `path`, with its opened
    /// grants, if it has any.
    pub(crate) fn new(
        spec: &WorkerSpec,
        path: Arc<str>,
        router: Arc<dyn Router>,
        keyvalue: Option<KvGrant>,
        sandbox: Option<Arc<Sandbox>>,
        memory: Arc<MemoryGauge>,
    ) -> ChildState {
        let limits = StoreLimitsBuilder::new()
            .memory_size(spec.max_memory_bytes)
            .instances(64)
            .build();
        ChildState {
            wasi: None,
            table: ResourceTable::new(),
            limits: Limits::new(limits, memory),
            name: Arc::from(spec.name.as_str()),
            path,
            router,
            call_timeout: spec.call_timeout,
            may_call: spec.may_call.as_deref().map(Arc::from),
            may_start: (!spec.may_start.is_empty()).then(|| Arc::from(spec.may_start.as_slice())),
            timers: None,
            stop_request: None,
            http: GuestHttp::default(),
            keyvalue,
            sandbox,
            log_gate: None,
            log_rate: spec.log_rate,
        }
    }

    /// Fresh state for another instance of the same child (a hot swap's
    /// new version): the same settings, grants, pending timers and log
    /// rate, nothing else carried over.
    pub(crate) fn renewed(&self) -> ChildState {
        ChildState {
            wasi: None,
            table: ResourceTable::new(),
            limits: self.limits.renewed(),
            name: self.name.clone(),
            path: self.path.clone(),
            router: self.router.clone(),
            call_timeout: self.call_timeout,
            may_call: self.may_call.clone(),
            may_start: self.may_start.clone(),
            timers: self.timers.clone(),
            stop_request: None,
            http: GuestHttp::default(),
            keyvalue: self.keyvalue.clone(),
            sandbox: self.sandbox.clone(),
            log_gate: self.log_gate.clone(),
            log_rate: self.log_rate,
        }
    }

    /// The child's path in the tree.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The instance's resources (open buckets, WASI streams).
    pub(crate) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    /// The child's `keyvalue` grant, if it has one.
    pub(crate) fn keyvalue(&self) -> Option<&KvGrant> {
        self.keyvalue.as_ref()
    }

    /// `may_call` allows `target`; a child may always cast to itself.
    fn allowed(&self, target: &str) -> Result<(), CallError> {
        match &self.may_call {
            Some(list) if target != &*self.name && !list.iter().any(|n| n == target) => {
                Err(CallError::Denied(target.to_string()))
            }
            _ => Ok(()),
        }
    }

    /// Its way into the host's log, made on first use.
    fn log_gate(&mut self) -> &Arc<LogGate> {
        let (path, rate) = (&self.path, self.log_rate);
        self.log_gate
            .get_or_insert_with(|| Arc::new(LogGate::new(path.clone(), rate)))
    }

    /// `host.log`, cut to [`crate::guest_log::MAX_LINE_BYTES`], within the
    /// log rate.
    fn log(&mut self, level: tracing::Level, message: &str) {
        self.log_gate().log(level, message);
    }

    /// `wasi:cli/stdout.get-stdout` and `stderr.get-stderr`: a stream
    /// into the host's log.
    fn output(&mut self, stream: Stream) -> wasmtime::Result<Resource<DynOutputStream>> {
        let output: DynOutputStream = Box::new(GuestOutput::new(self.log_gate().clone(), stream));
        Ok(self.table.push(output)?)
    }

    /// `host.call`: checked against `may_call`, then sent. Takes `&mut`
    /// because the future must be `Send` and `ChildState` is not `Sync`
    /// (its WASI context is not).
    async fn call(&mut self, target: &str, message: Vec<u8>) -> Result<Vec<u8>, CallError> {
        self.allowed(target)?;
        routing::call_on_thread(
            &*self.router,
            &self.name,
            target,
            message,
            self.call_timeout,
        )
        .await
    }

    /// `host.cast`: checked against `may_call`, then queued.
    fn cast(&self, target: &str, message: Vec<u8>) -> Result<(), CallError> {
        self.allowed(target)?;
        routing::cast(&*self.router, target, message)
    }

    /// `may_start` names `supervisor` (a path names its last supervisor).
    fn may_start(&self, supervisor: &str) -> Result<(), ChildError> {
        let name = crate::vocab::last_name(supervisor);
        if self
            .may_start
            .iter()
            .flat_map(|granted| granted.iter())
            .any(|g| g == name)
        {
            Ok(())
        } else {
            Err(ChildError::Denied(supervisor.to_string()))
        }
    }

    /// `children.start-child`: checked against `may_start`, then ordered
    /// of the supervisor, waiting at most the call timeout.
    async fn start_child(
        &mut self,
        supervisor: &str,
        spec: WorkerSpec,
    ) -> Result<String, ChildError> {
        self.may_start(supervisor)?;
        let order = self.router.start_child(supervisor, spec);
        routing::within(self.call_timeout, order).await
    }

    /// `children.stop-child`: the same grant as `start-child`.
    async fn stop_child(&mut self, supervisor: &str, name: &str) -> Result<(), ChildError> {
        self.may_start(supervisor)?;
        let order = self.router.stop_child(supervisor, name);
        routing::within(self.call_timeout, order).await
    }

    /// `timers.send-after`: checked as a cast is (`may_call`, size) when
    /// set; the queue is made on the first timer.
    fn send_after(
        &mut self,
        target: &str,
        message: Vec<u8>,
        delay: Duration,
    ) -> Result<u64, CallError> {
        self.allowed(target)?;
        check_size(&message)?;
        let timers = self
            .timers
            .get_or_insert_with(|| Arc::new(Timers::new(self.router.clone(), self.path.clone())));
        timers.send_after(target, message, delay)
    }

    /// `timers.cancel-timer`.
    fn cancel_timer(&self, id: u64) -> bool {
        self.timers.as_ref().is_some_and(|t| t.cancel(id))
    }
}

impl WasiView for ChildState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let sandbox = self.sandbox.as_deref();
        let ctx = self.wasi.get_or_insert_with(|| Box::new(wasi_ctx(sandbox)));
        WasiCtxView {
            ctx,
            table: &mut self.table,
        }
    }
}

/// The WASI context of an instance: its grants', or WASI's empty default.
fn wasi_ctx(sandbox: Option<&Sandbox>) -> WasiCtx {
    match sandbox {
        Some(sandbox) => sandbox.wasi(),
        None => WasiCtxBuilder::new().build(),
    }
}

impl stdout::Host for ChildState {
    fn get_stdout(&mut self) -> wasmtime::Result<Resource<DynOutputStream>> {
        self.output(Stream::Stdout)
    }
}

impl stderr::Host for ChildState {
    fn get_stderr(&mut self) -> wasmtime::Result<Resource<DynOutputStream>> {
        self.output(Stream::Stderr)
    }
}

impl WasiHttpView for ChildState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        let (ctx, hooks) = self.http.parts(self.sandbox.as_ref(), &self.path);
        WasiHttpCtxView {
            ctx,
            hooks,
            table: &mut self.table,
        }
    }
}

/// `error` as the `call-error` of contract version `$v`, a full mailbox as
/// `$full` (the one case in which the versions differ).
macro_rules! call_error_to {
    ($v:ident, $error:expr, $full:ident) => {{
        use $v::arbor::supervised::types::CallError as Wit;
        match $error {
            full @ CallError::MailboxFull { .. } => Wit::$full(full.to_string()),
            CallError::NoSuchName(n) | CallError::NotAWorker(n) => Wit::NoSuchName(n),
            CallError::Stopped(why) => Wit::Stopped(why),
            CallError::Timeout => Wit::Timeout,
            CallError::Crashed(why) => Wit::Crashed(why),
            // The contract has no case of its own: a crash, saying where it went.
            dead @ CallError::DeadLettered { .. } => Wit::Crashed(dead.to_string()),
            CallError::Rejected(why) => Wit::Rejected(why),
            CallError::SelfCall => Wit::SelfCall,
            CallError::Denied(n) => Wit::Denied(n),
            CallError::TooLarge { limit, .. } => Wit::TooLarge(limit as u64),
        }
    }};
}

/// For 0.2.0 guests a full mailbox is `mailbox-full`.
fn to_wit_0_2(error: CallError) -> v0_2::arbor::supervised::types::CallError {
    call_error_to!(v0_2, error, MailboxFull)
}

/// 0.1.0 has no case for a full mailbox: `rejected`, with a text that says
/// the mailbox is full and names the target, as before 0.2.0.
fn to_wit_0_1(error: CallError) -> v0_1::arbor::supervised::types::CallError {
    call_error_to!(v0_1, error, Rejected)
}

/// Implements contract version `$v`'s `host` interface for [`ChildState`]:
/// each function converts that version's types (`$to_wit` for call errors)
/// around the shared method; `$($since)*` are the functions a later
/// version added.
macro_rules! host_interface {
    ($v:ident, $to_wit:ident $(, $since:item)*) => {
        impl $v::arbor::supervised::types::Host for ChildState {}

        impl $v::arbor::supervised::host::Host for ChildState {
            async fn log(&mut self, level: $v::arbor::supervised::host::Level, message: String) {
                use $v::arbor::supervised::host::Level;
                let level = match level {
                    Level::Trace => tracing::Level::TRACE,
                    Level::Debug => tracing::Level::DEBUG,
                    Level::Info => tracing::Level::INFO,
                    Level::Warn => tracing::Level::WARN,
                    Level::Error => tracing::Level::ERROR,
                };
                ChildState::log(self, level, &message);
            }

            async fn self_name(&mut self) -> String {
                self.name.to_string()
            }

            async fn call(
                &mut self,
                target: String,
                message: Vec<u8>,
            ) -> Result<Vec<u8>, $v::arbor::supervised::types::CallError> {
                ChildState::call(self, &target, message)
                    .await
                    .map_err($to_wit)
            }

            async fn cast(
                &mut self,
                target: String,
                message: Vec<u8>,
            ) -> Result<(), $v::arbor::supervised::types::CallError> {
                ChildState::cast(self, &target, message).map_err($to_wit)
            }

            async fn stop(&mut self, reason: $v::arbor::supervised::types::ExitReason) {
                self.stop_request = Some(reason.into());
            }

            $($since)*
        }
    };
}

host_interface!(
    v0_2,
    to_wit_0_2,
    /// `host.crash` (0.2.3): the error ends the guest's call here; the
    /// child runner makes it a crash with `detail`.
    async fn crash(&mut self, detail: String) -> wasmtime::Result<()> {
        Err(wasmtime::Error::new(GuestCrash::new(&detail)))
    }
);
host_interface!(v0_1, to_wit_0_1);

/// The worker a guest's `child-spec` describes, with the host's defaults
/// for everything it does not name.
fn worker_from_wit(spec: v0_2::arbor::supervised::children::ChildSpec) -> WorkerSpec {
    use v0_2::arbor::supervised::children::RestartType as Wit;
    let mut worker = WorkerSpec::new(spec.name, spec.component);
    worker.args = spec.args;
    worker.restart = match spec.restart {
        Wit::Permanent => RestartType::Permanent,
        Wit::Transient => RestartType::Transient,
        Wit::Temporary => RestartType::Temporary,
    };
    worker
}

impl v0_2::arbor::supervised::children::Host for ChildState {
    async fn start_child(
        &mut self,
        supervisor: String,
        spec: v0_2::arbor::supervised::children::ChildSpec,
    ) -> Result<String, v0_2::arbor::supervised::children::ChildError> {
        let worker = worker_from_wit(spec);
        ChildState::start_child(self, &supervisor, worker)
            .await
            .map_err(child_error_to_wit)
    }

    async fn start_child_with_grants(
        &mut self,
        supervisor: String,
        spec: v0_2::arbor::supervised::children::ChildSpec,
        grants: v0_2::arbor::supervised::children::Grants,
    ) -> Result<String, v0_2::arbor::supervised::children::ChildError> {
        let mut worker = worker_from_wit(spec);
        let (granted, keyvalue) = grant_request(grants)
            .read()
            .map_err(|e| child_error_to_wit(ChildError::StartFailed(format!("bad grant: {e}"))))?;
        worker.grants = granted.map(Arc::new);
        worker.keyvalue = keyvalue;
        ChildState::start_child(self, &supervisor, worker)
            .await
            .map_err(child_error_to_wit)
    }

    async fn stop_child(
        &mut self,
        supervisor: String,
        name: String,
    ) -> Result<(), v0_2::arbor::supervised::children::ChildError> {
        ChildState::stop_child(self, &supervisor, &name)
            .await
            .map_err(child_error_to_wit)
    }
}

/// The contract's `grants` in the words of the tree file, checked by the
/// same code ([`GrantRequest::read`]).
fn grant_request(grants: v0_2::arbor::supervised::children::Grants) -> GrantRequest {
    let any_socket = !grants.sockets_connect.is_empty()
        || !grants.sockets_bind.is_empty()
        || grants.ip_name_lookup;
    let sockets = any_socket.then_some(SocketRequest {
        connect: grants.sockets_connect,
        bind: grants.sockets_bind,
        ip_name_lookup: grants.ip_name_lookup,
    });
    GrantRequest {
        dirs: grants
            .dirs
            .into_iter()
            .map(|dir| DirRequest {
                host: dir.host,
                guest: Some(dir.guest),
                mode: Some(if dir.writable { "rw" } else { "ro" }.to_string()),
            })
            .collect(),
        env: grants.env.into_iter().collect(),
        http_outgoing: grants.http_outgoing,
        sockets,
        keyvalue: grants.keyvalue,
    }
}

/// A failed start or stop as the contract's `child-error`.
fn child_error_to_wit(error: ChildError) -> v0_2::arbor::supervised::children::ChildError {
    use v0_2::arbor::supervised::children::ChildError as Wit;
    match error {
        ChildError::AlreadyStarted(name) => Wit::AlreadyStarted(name),
        ChildError::MaxChildren(n) => Wit::MaxChildren(u32::try_from(n).unwrap_or(u32::MAX)),
        ChildError::UnknownComponent(c) => Wit::UnknownComponent(c),
        ChildError::Denied(s) | ChildError::GrantDenied(s) => Wit::Denied(s),
        ChildError::NoSuchSupervisor(s) => Wit::NoSuchSupervisor(s),
        ChildError::NoSuchChild(n) => Wit::NoSuchChild(n),
        ChildError::InvalidName(why) => Wit::InvalidName(why),
        ChildError::StartFailed(why) => Wit::StartFailed(why),
        ChildError::Ignored => Wit::Ignored,
        ChildError::Timeout => Wit::Timeout,
    }
}

impl v0_2::arbor::supervised::timers::Host for ChildState {
    async fn send_after(
        &mut self,
        target: String,
        message: Vec<u8>,
        delay_ms: u64,
    ) -> Result<u64, v0_2::arbor::supervised::types::CallError> {
        ChildState::send_after(self, &target, message, Duration::from_millis(delay_ms))
            .map_err(to_wit_0_2)
    }

    async fn cancel_timer(&mut self, timer: u64) -> bool {
        ChildState::cancel_timer(self, timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_detail_is_the_guests_text_cut_at_16_kib_with_a_marker() {
        assert_eq!(
            GuestCrash::new("panic: boom (at src/lib.rs:1:1)").detail,
            "panic: boom (at src/lib.rs:1:1)"
        );
        let long = "x".repeat(MAX_CRASH_DETAIL_BYTES + 10);
        let cut = GuestCrash::new(&long).detail;
        assert!(
            cut.starts_with(&long[..MAX_CRASH_DETAIL_BYTES]),
            "kept whole up to the limit"
        );
        assert!(
            cut.ends_with("... [10 more bytes cut]"),
            "{}",
            &cut[MAX_CRASH_DETAIL_BYTES..]
        );
    }

    #[test]
    fn the_runner_reads_a_guest_crash_as_a_crash_with_the_guests_text() {
        let error = wasmtime::Error::new(GuestCrash::new("Error: boom (at f@x.js:1:1)"));
        assert_eq!(
            crate::child::describe(&error),
            (
                crate::vocab::ExitReason::Crash,
                "Error: boom (at f@x.js:1:1)".to_string()
            )
        );
    }

    fn full() -> CallError {
        CallError::MailboxFull {
            target: "sleeper".into(),
            limit: crate::mailbox::MailboxLimit::Messages(8),
        }
    }

    const FULL_TEXT: &str =
        "the mailbox of \"sleeper\" is full: limit of 8 messages (mailbox_capacity)";

    #[test]
    fn a_full_mailbox_reaches_0_2_guests_as_mailbox_full_naming_the_target() {
        use v0_2::arbor::supervised::types::CallError as Wit;
        match to_wit_0_2(full()) {
            Wit::MailboxFull(text) => assert_eq!(text, FULL_TEXT),
            other => panic!("expected mailbox-full, got {other:?}"),
        }
    }

    #[test]
    fn a_full_mailbox_reaches_0_1_guests_as_rejected_naming_the_target() {
        use v0_1::arbor::supervised::types::CallError as Wit;
        match to_wit_0_1(full()) {
            Wit::Rejected(text) => assert_eq!(text, FULL_TEXT),
            other => panic!("expected rejected, got {other:?}"),
        }
    }

    #[test]
    fn the_versions_answer_every_other_call_error_alike() {
        let cases = [
            CallError::NoSuchName("x".into()),
            CallError::NotAWorker("sup".into()),
            CallError::Stopped("gone".into()),
            CallError::Timeout,
            CallError::Crashed("trap".into()),
            CallError::DeadLettered {
                id: 1,
                attempts: 3,
                detail: "trap".into(),
            },
            CallError::Rejected("no".into()),
            CallError::SelfCall,
            CallError::Denied("y".into()),
            CallError::TooLarge { size: 9, limit: 8 },
        ];
        for error in cases {
            assert_eq!(
                format!("{:?}", to_wit_0_2(error.clone())),
                format!("{:?}", to_wit_0_1(error)),
            );
        }
    }
}
