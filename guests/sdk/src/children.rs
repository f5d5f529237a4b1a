//! Starting and stopping children under a supervisor from a guest (OTP's
//! `supervisor:start_child/2` and `terminate_child/2`): [`start_child`],
//! [`stop_child`], what to start ([`ChildSpec`]) and why it failed
//! ([`ChildError`]). A child may do this only under the supervisors its
//! entry in the tree file grants (`may_start = ["orders"]`).

use std::fmt;

use crate::__bindings::plain::arbor::supervised::children;

/// When a supervisor restarts a child (as `restart` in the tree file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    /// Always restarted.
    #[default]
    Permanent,
    /// Restarted only after an abnormal exit (a crash or [`ExitReason::Error`](crate::ExitReason::Error)).
    Transient,
    /// Never restarted: a dynamic supervisor forgets it when it stops.
    Temporary,
}

/// The child to start: a worker running a component of the tree file's
/// `[components]`, with the host's defaults for everything not named here.
///
/// ```no_run
/// use arbor_guest::{ChildSpec, Restart};
/// let spec = ChildSpec::new("order-17", "order")
///     .args(br#"{"id": 17}"#.to_vec())
///     .restart(Restart::Transient);
/// let name = arbor_guest::start_child("orders", &spec)?;
/// # Ok::<(), arbor_guest::ChildError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSpec {
    /// Its name, unique in the host: `call` and `cast` reach it by this name.
    pub name: String,
    /// The key of its component in `[components]`.
    pub component: String,
    /// The bytes its `init` gets (empty by default).
    pub args: Vec<u8>,
    /// When it is restarted ([`Restart::Permanent`] by default).
    pub restart: Restart,
}

impl ChildSpec {
    /// A child named `name` running `component`, with no args, permanent.
    pub fn new(name: impl Into<String>, component: impl Into<String>) -> Self {
        ChildSpec {
            name: name.into(),
            component: component.into(),
            args: Vec::new(),
            restart: Restart::Permanent,
        }
    }

    /// The bytes its `init` gets.
    pub fn args(mut self, args: impl Into<Vec<u8>>) -> Self {
        self.args = args.into();
        self
    }

    /// When it is restarted.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }
}

/// Why a child was not started or stopped. It displays as the contract's
/// case and its text, `CASE` or `CASE: TEXT` (`ignored`, `denied: orders`),
/// as [`CallError`](crate::CallError) does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildError {
    /// The name is taken in the host.
    AlreadyStarted(String),
    /// The supervisor already has its `max_children` (the limit).
    MaxChildren(u32),
    /// No such key in `[components]`.
    UnknownComponent(String),
    /// This child's `may_start` does not name the supervisor.
    Denied(String),
    /// No supervisor of that name runs in the host.
    NoSuchSupervisor(String),
    /// The supervisor has no child of that name.
    NoSuchChild(String),
    /// The name is not a valid child name (the text says why).
    InvalidName(String),
    /// The child's `init` failed or trapped (the text says how).
    StartFailed(String),
    /// The child's `init` answered `ignore`: nothing runs under that name.
    Ignored,
    /// The supervisor did not answer within this child's call timeout (do
    /// not wait on your own supervisor from `init`).
    Timeout,
}

impl fmt::Display for ChildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildError::AlreadyStarted(name) => write!(f, "already-started: {name}"),
            ChildError::MaxChildren(n) => write!(f, "max-children: {n}"),
            ChildError::UnknownComponent(c) => write!(f, "unknown-component: {c}"),
            ChildError::Denied(s) => write!(f, "denied: {s}"),
            ChildError::NoSuchSupervisor(s) => write!(f, "no-such-supervisor: {s}"),
            ChildError::NoSuchChild(n) => write!(f, "no-such-child: {n}"),
            ChildError::InvalidName(why) => write!(f, "invalid-name: {why}"),
            ChildError::StartFailed(why) => write!(f, "start-failed: {why}"),
            ChildError::Ignored => f.write_str("ignored"),
            ChildError::Timeout => f.write_str("timeout"),
        }
    }
}

impl std::error::Error for ChildError {}

impl From<children::ChildError> for ChildError {
    fn from(error: children::ChildError) -> Self {
        use children::ChildError as E;
        match error {
            E::AlreadyStarted(name) => ChildError::AlreadyStarted(name),
            E::MaxChildren(n) => ChildError::MaxChildren(n),
            E::UnknownComponent(c) => ChildError::UnknownComponent(c),
            E::Denied(s) => ChildError::Denied(s),
            E::NoSuchSupervisor(s) => ChildError::NoSuchSupervisor(s),
            E::NoSuchChild(n) => ChildError::NoSuchChild(n),
            E::InvalidName(why) => ChildError::InvalidName(why),
            E::StartFailed(why) => ChildError::StartFailed(why),
            E::Ignored => ChildError::Ignored,
            E::Timeout => ChildError::Timeout,
        }
    }
}

/// Starts a worker under the supervisor named `supervisor` and waits until
/// its `init` has run; answers the child's name.
pub fn start_child(supervisor: &str, spec: &ChildSpec) -> Result<String, ChildError> {
    let spec = children::ChildSpec {
        name: spec.name.clone(),
        component: spec.component.clone(),
        args: spec.args.clone(),
        restart: match spec.restart {
            Restart::Permanent => children::RestartType::Permanent,
            Restart::Transient => children::RestartType::Transient,
            Restart::Temporary => children::RestartType::Temporary,
        },
    };
    children::start_child(supervisor, &spec).map_err(ChildError::from)
}

/// Stops the child `name` of `supervisor` in order (its `terminate` runs)
/// and waits until it has stopped. A dynamic supervisor forgets it.
pub fn stop_child(supervisor: &str, name: &str) -> Result<(), ChildError> {
    children::stop_child(supervisor, name).map_err(ChildError::from)
}
