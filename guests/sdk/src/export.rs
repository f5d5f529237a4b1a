//! Exporting an [`Actor`]: the [`export!`](crate::export) macro and the
//! adapter it exports, which implements the contract's generated export
//! traits for any `Actor`, keeps the one instance's state between
//! callbacks and installs the panic hook ([`crate::crash`]) before any
//! guest code runs.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;

use crate::__bindings::plain::arbor::supervised::types;
use crate::__bindings::plain::exports::arbor::supervised::lifecycle;
use crate::__bindings::with_handover::exports::arbor::supervised::handover;
use crate::{Actor, Handover, Init};

thread_local! {
    /// The state `init` made. A component instance runs one guest on one
    /// thread, so one cell is the instance's state; it is `Any` because the
    /// cell cannot be generic over the guest's type.
    static STATE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

/// Runs `f` on the state of type `T`. Every callback but `init` comes after
/// an `init` that answered running (the host guarantees it), so a missing
/// state is a bug: it panics, which is a crash.
fn with_state<T: Actor, R>(f: impl FnOnce(&mut T) -> R) -> R {
    state(f).expect("arbor-guest: a callback before init answered running")
}

/// Runs `f` on this instance's state, for code that runs outside the
/// [`Actor`] callbacks on the same instance: another export of the
/// component, such as `wasi:http/incoming-handler` in an HTTP child, whose
/// requests come through the same mailbox, one at a time. `None` if `init`
/// has not answered [`Init::Running`] with a `T`.
///
/// ```no_run
/// # struct Web { served: u64 }
/// # impl arbor_guest::Actor for Web {
/// #     fn init(_: &[u8]) -> Result<arbor_guest::Init<Self>, String> {
/// #         Ok(arbor_guest::Init::Running(Web { served: 0 }))
/// #     }
/// #     fn handle(&mut self, _: &[u8]) -> Result<Vec<u8>, String> { Ok(Vec::new()) }
/// # }
/// // In the HTTP handler of a guest whose Actor is `Web`:
/// let served = arbor_guest::state(|web: &mut Web| {
///     web.served += 1;
///     web.served
/// });
/// ```
///
/// # Panics
///
/// When called from inside a callback of `T` (or of `state`): the state is
/// in use there already.
pub fn state<T: Actor, R>(f: impl FnOnce(&mut T) -> R) -> Option<R> {
    STATE.with_borrow_mut(|state| {
        let state = state.as_mut()?.downcast_mut::<T>()?;
        Some(f(state))
    })
}

/// The type `export!` exports for a guest `T`: implements the contract's
/// export traits by calling `T`'s.
#[doc(hidden)]
pub struct Export<T>(PhantomData<T>);

impl<T: Actor> lifecycle::Guest for Export<T> {
    fn init(args: Vec<u8>) -> Result<lifecycle::InitOutcome, String> {
        crate::crash::report_panics();
        match T::init(&args)? {
            Init::Running(state) => {
                STATE.set(Some(Box::new(state)));
                Ok(lifecycle::InitOutcome::Running)
            }
            Init::Ignore => Ok(lifecycle::InitOutcome::Ignore),
        }
    }

    fn handle(message: Vec<u8>) -> Result<Vec<u8>, String> {
        crate::crash::report_panics();
        with_state(|state: &mut T| state.handle(&message))
    }

    fn terminate(reason: types::ExitReason) {
        crate::crash::report_panics();
        with_state(|state: &mut T| state.terminate(reason.into()));
    }
}

impl<T: Handover> handover::Guest for Export<T> {
    fn snapshot() -> Result<Vec<u8>, String> {
        crate::crash::report_panics();
        with_state(|state: &mut T| state.snapshot())
    }

    fn restore(state: Vec<u8>, from_version: String) -> Result<(), String> {
        crate::crash::report_panics();
        with_state(|this: &mut T| this.restore(&state, &from_version))
    }
}

/// Exports a guest type as this component's implementation of the contract.
/// Use it once, in the crate that builds the component (a `cdylib`).
///
/// - `export!(MyGuest)`: `MyGuest` implements [`Actor`]; the component
///   targets the world `supervised` and has no `handover` export.
/// - `export!(MyGuest with handover)`: `MyGuest` also implements
///   [`Handover`]; the component targets `supervised-with-handover`, and its
///   state moves across a hot swap.
///
/// The argument is a type name (for a generic type, name an alias).
///
/// ```ignore
/// struct Counter(u64);
/// impl arbor_guest::Actor for Counter { /* ... */ }
/// arbor_guest::export!(Counter);
/// ```
#[macro_export]
macro_rules! export {
    ($ty:ident) => {
        const _: () = {
            type __ArborGuest = $crate::__private::Export<$ty>;
            $crate::__bindings::plain::export_supervised!(
                __ArborGuest with_types_in $crate::__bindings::plain
            );
        };
    };
    ($ty:ident with handover) => {
        const _: () = {
            type __ArborGuest = $crate::__private::Export<$ty>;
            // `lifecycle` (and the world `supervised`) from `plain`, then
            // `handover` alone: the component's type is their union,
            // `supervised-with-handover`.
            $crate::__bindings::plain::export_supervised!(
                __ArborGuest with_types_in $crate::__bindings::plain
            );
            $crate::__bindings::with_handover::export_handover!(
                __ArborGuest with_types_in $crate::__bindings::with_handover
            );
        };
    };
}
