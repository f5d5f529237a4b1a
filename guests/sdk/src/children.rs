//! Starting and stopping children under a supervisor from a guest (OTP's
//! `supervisor:start_child/2` and `terminate_child/2`): [`start_child`],
//! [`stop_child`], what to start ([`ChildSpec`]) and why it failed
//! ([`ChildError`]). A child may do this only under the supervisors its
//! entry in the tree file grants (`may_start = ["orders"]`). A child it
//! starts may be given [`Grants`] (files, environment, outgoing HTTP,
//! sockets, key-value buckets), within what that supervisor's
//! `child_grants` allows.

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
    /// What it may reach beyond the defaults (nothing by default).
    pub grants: Grants,
}

/// What a started child may reach beyond its own memory and the contract
/// (contract 0.2.2): the tree file's `dirs`, `env`, `http_outgoing`,
/// `keyvalue` and `sockets`, each within the supervisor's `child_grants`
/// (a wider one fails the start with [`ChildError::Denied`], naming it).
///
/// ```no_run
/// use arbor_guest::{ChildSpec, Grants};
/// let spec = ChildSpec::new("order-17", "order").grants(
///     Grants::default()
///         .dir("data/orders/17", "/order", true)
///         .env("ORDER_ID", "17")
///         .keyvalue("orders"),
/// );
/// arbor_guest::start_child("orders", &spec)?;
/// # Ok::<(), arbor_guest::ChildError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Directories: (host directory, relative to the tree file's or
    /// absolute; the absolute path the child sees it at; writable).
    pub dirs: Vec<(String, String, bool)>,
    /// Environment variables, name and value.
    pub env: Vec<(String, String)>,
    /// Hosts (or host:port) its outgoing HTTP may go to.
    pub http_outgoing: Vec<String>,
    /// `wasi:keyvalue` buckets it may open.
    pub keyvalue: Vec<String>,
    /// Addresses `wasi:sockets` may connect to (`IP:PORT` or `IP:*`).
    pub sockets_connect: Vec<String>,
    /// Addresses `wasi:sockets` may bind and listen on.
    pub sockets_bind: Vec<String>,
    /// Whether `wasi:sockets` may resolve host names.
    pub ip_name_lookup: bool,
}

impl Grants {
    /// Adds the host directory `host`, seen at `guest`, writable or not.
    pub fn dir(
        mut self,
        host: impl Into<String>,
        guest: impl Into<String>,
        writable: bool,
    ) -> Self {
        self.dirs.push((host.into(), guest.into(), writable));
        self
    }

    /// Adds the environment variable `name`.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Adds a host (or host:port) its outgoing HTTP may go to.
    pub fn http_outgoing(mut self, authority: impl Into<String>) -> Self {
        self.http_outgoing.push(authority.into());
        self
    }

    /// Adds a key-value bucket it may open.
    pub fn keyvalue(mut self, bucket: impl Into<String>) -> Self {
        self.keyvalue.push(bucket.into());
        self
    }

    /// Adds an address its sockets may connect to.
    pub fn connect(mut self, address: impl Into<String>) -> Self {
        self.sockets_connect.push(address.into());
        self
    }

    /// Adds an address its sockets may bind.
    pub fn bind(mut self, address: impl Into<String>) -> Self {
        self.sockets_bind.push(address.into());
        self
    }

    /// Whether it grants nothing.
    pub fn is_empty(&self) -> bool {
        *self == Grants::default()
    }
}

impl ChildSpec {
    /// A child named `name` running `component`, with no args, permanent.
    pub fn new(name: impl Into<String>, component: impl Into<String>) -> Self {
        ChildSpec {
            name: name.into(),
            component: component.into(),
            args: Vec::new(),
            restart: Restart::Permanent,
            grants: Grants::default(),
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

    /// What it may reach (contract 0.2.2; nothing by default).
    pub fn grants(mut self, grants: Grants) -> Self {
        self.grants = grants;
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
    /// This child's `may_start` does not name the supervisor, or a grant
    /// asked for is wider than its `child_grants` (the text says which).
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
/// its `init` has run; answers the child's name. A spec with grants goes
/// through `start-child-with-grants` (contract 0.2.2), one without through
/// `start-child`.
pub fn start_child(supervisor: &str, spec: &ChildSpec) -> Result<String, ChildError> {
    let grants = &spec.grants;
    let wit = children::ChildSpec {
        name: spec.name.clone(),
        component: spec.component.clone(),
        args: spec.args.clone(),
        restart: match spec.restart {
            Restart::Permanent => children::RestartType::Permanent,
            Restart::Transient => children::RestartType::Transient,
            Restart::Temporary => children::RestartType::Temporary,
        },
    };
    if grants.is_empty() {
        return children::start_child(supervisor, &wit).map_err(ChildError::from);
    }
    let grants = children::Grants {
        dirs: grants
            .dirs
            .iter()
            .map(|(host, guest, writable)| children::DirGrant {
                host: host.clone(),
                guest: guest.clone(),
                writable: *writable,
            })
            .collect(),
        env: grants.env.clone(),
        http_outgoing: grants.http_outgoing.clone(),
        keyvalue: grants.keyvalue.clone(),
        sockets_connect: grants.sockets_connect.clone(),
        sockets_bind: grants.sockets_bind.clone(),
        ip_name_lookup: grants.ip_name_lookup,
    };
    children::start_child_with_grants(supervisor, &wit, &grants).map_err(ChildError::from)
}

/// Stops the child `name` of `supervisor` in order (its `terminate` runs)
/// and waits until it has stopped. A dynamic supervisor forgets it.
pub fn stop_child(supervisor: &str, name: &str) -> Result<(), ChildError> {
    children::stop_child(supervisor, name).map_err(ChildError::from)
}
