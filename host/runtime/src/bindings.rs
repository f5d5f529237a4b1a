//! The one place that runs `bindgen!` for the guest contract, once per
//! version the host runs: [`v0_2`] for `wit/arbor.wit` (the newest) and
//! [`v0_1`] for `wit/arbor-0.1.0/arbor.wit`. A component is built against
//! one of them, and a host that ran only the newest would refuse every
//! component built before it.
//!
//! Each version keeps its own generated types; the host's logic is written
//! once, over the version-free types here ([`GuestExit`], [`InitOutcome`])
//! and [`crate::mailbox::CallError`]. The two enums [`SupervisedPre`] and
//! [`Supervised`] hold whichever version a component matched, so a callback
//! costs one `match`, not a trait object or a conversion of the message.
//!
//! Imports and exports are async so a guest waiting in a host call (a WASI
//! sleep, a `call` to another child) never blocks its scheduler thread.

use wasmtime::Store;
use wasmtime::component::{Instance, InstancePre};

/// `arbor:supervised@0.2.3`: `init` may answer `ignore`, a full mailbox
/// has a `call-error` case of its own; 0.2.1 adds `children` and `timers`,
/// 0.2.2 `children.start-child-with-grants`, 0.2.3 `host.crash`.
///
/// `host.crash` is the one import that may trap: it returns the error
/// ([`crate::host_api::GuestCrash`]) that ends the guest's call, which is
/// how a guest ends itself without executing a trap instruction.
pub(crate) mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../../wit/arbor.wit",
        world: "supervised",
        imports: {
            "arbor:supervised/host.crash": async | trappable,
            default: async,
        },
        exports: { default: async },
    });
}

/// `arbor:supervised@0.1.0`, frozen: what guests built before 0.2.0 export
/// and import.
pub(crate) mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../../wit/arbor-0.1.0/arbor.wit",
        world: "supervised",
        imports: { default: async },
        exports: { default: async },
    });
}

/// `arbor:supervised@0.2.0` world `supervised-with-handover`: only its
/// `handover` export is used (the rest is [`v0_2`]'s). A component exports
/// it or not; the host looks it up once, when the component is loaded.
pub(crate) mod v0_2_handover {
    wasmtime::component::bindgen!({
        path: "../../wit/arbor.wit",
        world: "supervised-with-handover",
        imports: {
            "arbor:supervised/host.crash": async | trappable,
            default: async,
        },
        exports: { default: async },
    });
}

use v0_2_handover::exports::arbor::supervised::handover::{
    Guest as HandoverGuest, GuestIndices as HandoverIndices,
};
/// `wasi:http/proxy`'s one export, `wasi:http/incoming-handler`: the
/// bindings `wasmtime-wasi-http` generates (the host side of `wasmtime serve`).
pub(crate) use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyIndices};

/// The contract versions the host runs, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractVersion {
    /// `arbor:supervised@0.2.x` (`wit/arbor.wit`, 0.2.3; 0.2.2, 0.2.1 and
    /// 0.2.0 kept in `wit/arbor-0.2.2/`, `wit/arbor-0.2.1/` and
    /// `wit/arbor-0.2.0/`): each minor only adds imports, so the host runs
    /// them as one version, and a 0.2.0, 0.2.1 or 0.2.2 guest links to the
    /// 0.2.3 host interfaces by semver (wasmtime's linker matches `@0.2.0`,
    /// `@0.2.1` and `@0.2.2` to `@0.2.3`).
    V0_2,
    /// `arbor:supervised@0.1.0` (`wit/arbor-0.1.0/arbor.wit`).
    V0_1,
}

impl ContractVersion {
    /// The package version, as in the WIT (`0.1.0`), or the compatible
    /// family (`0.2`: 0.2.0 to 0.2.3).
    pub fn as_str(self) -> &'static str {
        match self {
            ContractVersion::V0_2 => "0.2",
            ContractVersion::V0_1 => "0.1.0",
        }
    }
}

impl std::fmt::Display for ContractVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "arbor:supervised@{}", self.as_str())
    }
}

/// The contract's `exit-reason`, the same in every version: how a child
/// asks to stop (`host.stop`) or is told it stops (`terminate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GuestExit {
    /// A normal, expected exit.
    Normal,
    /// An orderly stop.
    Shutdown,
    /// An abnormal exit, with the guest's text.
    Error(String),
}

/// What an `init` that did not fail answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InitOutcome {
    /// Serve the mailbox (0.2.0 `running`; every 0.1.0 `ok`).
    Running,
    /// Start nothing (0.2.0 `ignore`; OTP's `ignore`).
    Ignore,
}

/// `exit-reason` of contract version `$v` to and from [`GuestExit`]: the
/// variants are the same in every version.
macro_rules! exit_reason_conversions {
    ($v:ident) => {
        impl From<$v::arbor::supervised::types::ExitReason> for GuestExit {
            fn from(reason: $v::arbor::supervised::types::ExitReason) -> GuestExit {
                use $v::arbor::supervised::types::ExitReason as Wit;
                match reason {
                    Wit::Normal => GuestExit::Normal,
                    Wit::Shutdown => GuestExit::Shutdown,
                    Wit::Error(text) => GuestExit::Error(text),
                }
            }
        }

        impl From<&GuestExit> for $v::arbor::supervised::types::ExitReason {
            fn from(reason: &GuestExit) -> Self {
                match reason {
                    GuestExit::Normal => Self::Normal,
                    GuestExit::Shutdown => Self::Shutdown,
                    GuestExit::Error(text) => Self::Error(text.clone()),
                }
            }
        }
    };
}

exit_reason_conversions!(v0_2);
exit_reason_conversions!(v0_1);

/// A component pre-instantiated against the version of the contract it
/// exports, with its `handover` export if it has one, and its
/// `wasi:http/incoming-handler` export if it serves HTTP.
pub(crate) struct SupervisedPre<T: 'static> {
    instance_pre: InstancePre<T>,
    lifecycle: LifecycleIndices,
    handover: Option<HandoverIndices>,
    http: Option<ProxyIndices>,
}

/// Where a component's lifecycle exports are, in its contract version.
enum LifecycleIndices {
    /// Built against 0.2.0.
    V0_2(v0_2::SupervisedIndices),
    /// Built against 0.1.0.
    V0_1(v0_1::SupervisedIndices),
    /// None: a stock `wasi:http/proxy` component, which only serves HTTP.
    HttpOnly,
}

/// Why a component matches no contract version: each version's reason.
pub(crate) struct NoContract {
    /// Why it is not a 0.2.0 guest.
    pub newest: wasmtime::Error,
    /// Why it is not a 0.1.0 guest.
    pub oldest: wasmtime::Error,
    /// Why it is not an HTTP child either.
    pub http: wasmtime::Error,
}

impl<T: Send + 'static> SupervisedPre<T> {
    /// Matches `pre`'s exports against the newest version first, then the
    /// older one. A component exports one version's `lifecycle`, so at
    /// most one matches. The `handover` interface exists only in 0.2.0.
    ///
    /// A component that exports no `lifecycle` but `wasi:http/incoming-handler`
    /// (a stock `wasi:http/proxy` component) is an HTTP-only child.
    pub fn new(instance_pre: InstancePre<T>) -> Result<Self, NoContract> {
        let lifecycle = match v0_2::SupervisedIndices::new(&instance_pre) {
            Ok(indices) => Ok(LifecycleIndices::V0_2(indices)),
            Err(newest) => match v0_1::SupervisedIndices::new(&instance_pre) {
                Ok(indices) => Ok(LifecycleIndices::V0_1(indices)),
                Err(oldest) => Err((newest, oldest)),
            },
        };
        let (lifecycle, http) = match (lifecycle, ProxyIndices::new(&instance_pre)) {
            (Ok(lifecycle), http) => (lifecycle, http.ok()),
            (Err(_), Ok(http)) => (LifecycleIndices::HttpOnly, Some(http)),
            (Err((newest, oldest)), Err(http)) => {
                return Err(NoContract {
                    newest,
                    oldest,
                    http,
                });
            }
        };
        let handover = match lifecycle {
            LifecycleIndices::V0_2(_) => HandoverIndices::new(&instance_pre).ok(),
            LifecycleIndices::V0_1(_) | LifecycleIndices::HttpOnly => None,
        };
        Ok(SupervisedPre {
            instance_pre,
            lifecycle,
            handover,
            http,
        })
    }

    /// The version the component was built against; `None` for an
    /// HTTP-only component, which exports no `lifecycle`.
    pub fn version(&self) -> Option<ContractVersion> {
        match self.lifecycle {
            LifecycleIndices::V0_2(_) => Some(ContractVersion::V0_2),
            LifecycleIndices::V0_1(_) => Some(ContractVersion::V0_1),
            LifecycleIndices::HttpOnly => None,
        }
    }

    /// Whether the component exports `wasi:http/incoming-handler`.
    pub fn serves_http(&self) -> bool {
        self.http.is_some()
    }

    /// The `wasi:http/incoming-handler` export of `instance` (made by this
    /// pre), if the component has it. Looked up per request: a child that
    /// never gets one pays nothing for it.
    pub fn incoming_handler(
        &self,
        store: &mut Store<T>,
        instance: &Supervised,
    ) -> wasmtime::Result<Option<Proxy>> {
        match &self.http {
            Some(indices) => Ok(Some(indices.load(store, &instance.instance)?)),
            None => Ok(None),
        }
    }

    /// Whether the component exports `handover` (`snapshot`, `restore`).
    pub fn has_handover(&self) -> bool {
        self.handover.is_some()
    }

    /// A fresh instance in `store`: what the generated `instantiate_async`
    /// does, keeping the instance so `handover` can be found in it later.
    pub async fn instantiate_async(&self, store: &mut Store<T>) -> wasmtime::Result<Supervised> {
        let instance = self.instance_pre.instantiate_async(&mut *store).await?;
        let lifecycle = match &self.lifecycle {
            LifecycleIndices::V0_2(indices) => {
                Lifecycle::V0_2(indices.load(&mut *store, &instance)?)
            }
            LifecycleIndices::V0_1(indices) => {
                Lifecycle::V0_1(indices.load(&mut *store, &instance)?)
            }
            LifecycleIndices::HttpOnly => Lifecycle::HttpOnly,
        };
        Ok(Supervised {
            lifecycle,
            instance,
        })
    }

    /// The `handover` exports of `instance` (made by this pre), if the
    /// component has them. Looked up only when a swap needs them, so a
    /// restart pays nothing for them.
    pub fn handover(
        &self,
        store: &mut Store<T>,
        instance: &Supervised,
    ) -> wasmtime::Result<Option<Handover>> {
        match &self.handover {
            Some(indices) => Ok(Some(Handover(indices.load(store, &instance.instance)?))),
            None => Ok(None),
        }
    }
}

/// A live instance's `handover` exports.
pub(crate) struct Handover(HandoverGuest);

impl Handover {
    /// Calls `snapshot`: `Err` is a trap, `Ok(Err)` the guest's refusal.
    pub async fn snapshot<T: Send>(
        &self,
        store: &mut Store<T>,
    ) -> wasmtime::Result<Result<Vec<u8>, String>> {
        self.0.call_snapshot(store).await
    }

    /// Calls `restore`: `Err` is a trap, `Ok(Err)` the guest's refusal.
    pub async fn restore<T: Send>(
        &self,
        store: &mut Store<T>,
        state: &[u8],
        from_version: &str,
    ) -> wasmtime::Result<Result<(), String>> {
        self.0.call_restore(store, state, from_version).await
    }
}

/// A live instance: its lifecycle exports, in its contract version.
pub(crate) struct Supervised {
    lifecycle: Lifecycle,
    instance: Instance,
}

enum Lifecycle {
    /// Built against 0.2.0.
    V0_2(v0_2::Supervised),
    /// Built against 0.1.0.
    V0_1(v0_1::Supervised),
    /// No lifecycle: `init` and `terminate` do nothing, and `handle`
    /// refuses every message ([`HTTP_ONLY`]).
    HttpOnly,
}

/// What a message to an HTTP-only child is answered (`rejected`).
pub(crate) const HTTP_ONLY: &str = "this child only serves HTTP: its component exports \
    `wasi:http/incoming-handler` and no `arbor:supervised/lifecycle`, so it takes no messages";

impl Supervised {
    /// Calls `init`: `Err` is a trap, `Ok(Err)` the guest's error.
    pub async fn init<T: Send>(
        &self,
        store: &mut Store<T>,
        args: &[u8],
    ) -> wasmtime::Result<Result<InitOutcome, String>> {
        use v0_2::exports::arbor::supervised::lifecycle::InitOutcome as Wit;
        Ok(match &self.lifecycle {
            Lifecycle::V0_2(guest) => guest
                .arbor_supervised_lifecycle()
                .call_init(store, args)
                .await?
                .map(|outcome| match outcome {
                    Wit::Running => InitOutcome::Running,
                    Wit::Ignore => InitOutcome::Ignore,
                }),
            Lifecycle::V0_1(guest) => guest
                .arbor_supervised_lifecycle()
                .call_init(store, args)
                .await?
                .map(|()| InitOutcome::Running),
            Lifecycle::HttpOnly => Ok(InitOutcome::Running),
        })
    }

    /// Calls `handle`: `Err` is a trap, `Ok(Err)` a business error.
    pub async fn handle<T: Send>(
        &self,
        store: &mut Store<T>,
        message: &[u8],
    ) -> wasmtime::Result<Result<Vec<u8>, String>> {
        match &self.lifecycle {
            Lifecycle::V0_2(guest) => {
                guest
                    .arbor_supervised_lifecycle()
                    .call_handle(store, message)
                    .await
            }
            Lifecycle::V0_1(guest) => {
                guest
                    .arbor_supervised_lifecycle()
                    .call_handle(store, message)
                    .await
            }
            Lifecycle::HttpOnly => Ok(Err(HTTP_ONLY.to_string())),
        }
    }

    /// Calls `terminate`: `Err` is a trap.
    pub async fn terminate<T: Send>(
        &self,
        store: &mut Store<T>,
        reason: &GuestExit,
    ) -> wasmtime::Result<()> {
        match &self.lifecycle {
            Lifecycle::V0_2(guest) => {
                guest
                    .arbor_supervised_lifecycle()
                    .call_terminate(store, &reason.into())
                    .await
            }
            Lifecycle::V0_1(guest) => {
                guest
                    .arbor_supervised_lifecycle()
                    .call_terminate(store, &reason.into())
                    .await
            }
            Lifecycle::HttpOnly => Ok(()),
        }
    }
}
