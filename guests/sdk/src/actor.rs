//! What a guest implements: [`Actor`] (its lifecycle, with the state as
//! `self`), [`Init`] (what `init` answers) and, for a guest whose state
//! survives a hot swap, [`Handover`].

use crate::ExitReason;

/// What a successful [`Actor::init`] asks of its supervisor.
#[derive(Debug)]
pub enum Init<S> {
    /// The child runs with this state: its mailbox is served from now on.
    Running(S),
    /// Start nothing, and that is not a failure (OTP's `ignore`): the child
    /// keeps its place in the tree, stopped, and `terminate` is not called.
    Ignore,
}

/// A supervised guest: one value of this type is the state of one instance,
/// made by [`init`](Actor::init) and kept between callbacks. Export it with
/// [`export!`](crate::export).
///
/// A panic in any method is a crash (a trap): the host drops the instance,
/// its state with it, and its supervisor decides whether a fresh one
/// starts. Return `Err` for errors the caller should see.
pub trait Actor: Sized + 'static {
    /// Called once on a fresh instance, before any message, with the tree
    /// file's `args` (or a starter's [`ChildSpec::args`](crate::ChildSpec)).
    /// `Err` fails the start.
    fn init(args: &[u8]) -> Result<Init<Self>, String>;

    /// Called for each message in the mailbox, one at a time; the `Ok`
    /// bytes are the reply to a `call` (dropped for a `cast`). `Err` is a
    /// reply too, not a crash: the caller gets `rejected` and this child
    /// keeps running.
    fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, String>;

    /// Called on an orderly stop, within the child's shutdown budget. Not
    /// called after a crash. Does nothing unless implemented.
    fn terminate(&mut self, reason: ExitReason) {
        let _ = reason;
    }
}

/// Carrying an [`Actor`]'s state across a hot swap (`arbor ctl swap`), the
/// idea of OTP's `code_change`. Exported only by
/// `export!(Type with handover)`: a guest exported without it has no
/// `handover` export, and the host refuses to swap it unless told to start
/// the new version fresh (`--fresh`), so state is never dropped silently.
pub trait Handover: Actor {
    /// This instance's state, in a form [`restore`](Handover::restore) of
    /// this version or a later one understands. The old instance goes on
    /// serving if the swap fails, so this must not change the state.
    fn snapshot(&self) -> Result<Vec<u8>, String>;

    /// Takes over the state a `snapshot` produced, on the new instance,
    /// after its `init` answered [`Init::Running`] and before any message.
    /// `from_version` is the content hash of the component the state comes
    /// from (what `arbor ctl tree` shows), maybe this same version. `Err`
    /// refuses the state and fails the swap: the old instance keeps running.
    fn restore(&mut self, state: &[u8], from_version: &str) -> Result<(), String>;
}
