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

/// `arbor:supervised@0.2.0`: `init` may answer `ignore`, and a full mailbox
/// has a `call-error` case of its own.
pub(crate) mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../../wit/arbor.wit",
        world: "supervised",
        imports: { default: async },
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

/// The contract versions the host runs, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractVersion {
    /// `arbor:supervised@0.2.0` (`wit/arbor.wit`).
    V0_2,
    /// `arbor:supervised@0.1.0` (`wit/arbor-0.1.0/arbor.wit`).
    V0_1,
}

impl ContractVersion {
    /// The package version, as in the WIT (`0.2.0`).
    pub fn as_str(self) -> &'static str {
        match self {
            ContractVersion::V0_2 => "0.2.0",
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
/// exports.
pub(crate) enum SupervisedPre<T: 'static> {
    /// Built against 0.2.0.
    V0_2(v0_2::SupervisedPre<T>),
    /// Built against 0.1.0.
    V0_1(v0_1::SupervisedPre<T>),
}

/// Why a component matches no contract version: each version's reason.
pub(crate) struct NoContract {
    /// Why it is not a 0.2.0 guest.
    pub newest: wasmtime::Error,
    /// Why it is not a 0.1.0 guest.
    pub oldest: wasmtime::Error,
}

impl<T: Send + 'static> SupervisedPre<T> {
    /// Matches `pre`'s exports against the newest version first, then the
    /// older one. A component exports one version's `lifecycle`, so at
    /// most one matches.
    pub fn new(pre: wasmtime::component::InstancePre<T>) -> Result<Self, NoContract> {
        match v0_2::SupervisedPre::new(pre.clone()) {
            Ok(pre) => Ok(SupervisedPre::V0_2(pre)),
            Err(newest) => match v0_1::SupervisedPre::new(pre) {
                Ok(pre) => Ok(SupervisedPre::V0_1(pre)),
                Err(oldest) => Err(NoContract { newest, oldest }),
            },
        }
    }

    /// The version the component was built against.
    pub fn version(&self) -> ContractVersion {
        match self {
            SupervisedPre::V0_2(_) => ContractVersion::V0_2,
            SupervisedPre::V0_1(_) => ContractVersion::V0_1,
        }
    }

    /// A fresh instance in `store`.
    pub async fn instantiate_async(&self, store: &mut Store<T>) -> wasmtime::Result<Supervised> {
        Ok(match self {
            SupervisedPre::V0_2(pre) => Supervised::V0_2(pre.instantiate_async(store).await?),
            SupervisedPre::V0_1(pre) => Supervised::V0_1(pre.instantiate_async(store).await?),
        })
    }
}

/// A live instance's lifecycle exports, in its contract version.
pub(crate) enum Supervised {
    /// Built against 0.2.0.
    V0_2(v0_2::Supervised),
    /// Built against 0.1.0.
    V0_1(v0_1::Supervised),
}

impl Supervised {
    /// Calls `init`: `Err` is a trap, `Ok(Err)` the guest's error.
    pub async fn init<T: Send>(
        &self,
        store: &mut Store<T>,
        args: &[u8],
    ) -> wasmtime::Result<Result<InitOutcome, String>> {
        use v0_2::exports::arbor::supervised::lifecycle::InitOutcome as Wit;
        Ok(match self {
            Supervised::V0_2(guest) => guest
                .arbor_supervised_lifecycle()
                .call_init(store, args)
                .await?
                .map(|outcome| match outcome {
                    Wit::Running => InitOutcome::Running,
                    Wit::Ignore => InitOutcome::Ignore,
                }),
            Supervised::V0_1(guest) => guest
                .arbor_supervised_lifecycle()
                .call_init(store, args)
                .await?
                .map(|()| InitOutcome::Running),
        })
    }

    /// Calls `handle`: `Err` is a trap, `Ok(Err)` a business error.
    pub async fn handle<T: Send>(
        &self,
        store: &mut Store<T>,
        message: &[u8],
    ) -> wasmtime::Result<Result<Vec<u8>, String>> {
        match self {
            Supervised::V0_2(guest) => {
                guest
                    .arbor_supervised_lifecycle()
                    .call_handle(store, message)
                    .await
            }
            Supervised::V0_1(guest) => {
                guest
                    .arbor_supervised_lifecycle()
                    .call_handle(store, message)
                    .await
            }
        }
    }

    /// Calls `terminate`: `Err` is a trap.
    pub async fn terminate<T: Send>(
        &self,
        store: &mut Store<T>,
        reason: &GuestExit,
    ) -> wasmtime::Result<()> {
        match self {
            Supervised::V0_2(guest) => {
                guest
                    .arbor_supervised_lifecycle()
                    .call_terminate(store, &reason.into())
                    .await
            }
            Supervised::V0_1(guest) => {
                guest
                    .arbor_supervised_lifecycle()
                    .call_terminate(store, &reason.into())
                    .await
            }
        }
    }
}
