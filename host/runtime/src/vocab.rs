//! The words of supervision, shared by every layer: exit reasons, restart
//! types, strategies, restart intensity, shutdown budgets, child ids and
//! states.
//!
//! This is the ground floor: it imports nothing from the rest of the crate,
//! and the tree file, the supervisors, the event stream, the control
//! protocol and the reports all speak in these types. Each has a serde form
//! that is its tree-file / event spelling (`one_for_all`, `max_restarts`),
//! so no layer passes such words around as strings.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Identifies a child's place in its supervisor; stable across restarts.
/// Ids grow in start order, so ordering by id is the start order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChildId(pub u64);

/// How a supervisor reacts when one of its children exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Only the failed child restarts.
    OneForOne,
    /// All children stop (reverse order) and restart (start order).
    OneForAll,
    /// The failed child and those started after it stop and restart.
    RestForOne,
}

impl Strategy {
    /// The tree-file spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::OneForOne => "one_for_one",
            Strategy::OneForAll => "one_for_all",
            Strategy::RestForOne => "rest_for_one",
        }
    }

    /// Parses the tree-file spelling.
    pub fn parse(text: &str) -> Result<Strategy, String> {
        match text {
            "one_for_one" => Ok(Strategy::OneForOne),
            "one_for_all" => Ok(Strategy::OneForAll),
            "rest_for_one" => Ok(Strategy::RestForOne),
            other => Err(format!(
                "unknown strategy {other:?} (expected one_for_one, one_for_all or rest_for_one)"
            )),
        }
    }
}

/// When a child is restarted after it exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartType {
    /// Always restarted.
    Permanent,
    /// Restarted only after an abnormal exit.
    Transient,
    /// Never restarted; removed from the tree once it exits.
    Temporary,
}

impl RestartType {
    /// The tree-file spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartType::Permanent => "permanent",
            RestartType::Transient => "transient",
            RestartType::Temporary => "temporary",
        }
    }

    /// Parses the tree-file spelling.
    pub fn parse(text: &str) -> Result<RestartType, String> {
        match text {
            "permanent" => Ok(RestartType::Permanent),
            "transient" => Ok(RestartType::Transient),
            "temporary" => Ok(RestartType::Temporary),
            other => Err(format!(
                "unknown restart type {other:?} (expected permanent, transient or temporary)"
            )),
        }
    }

    /// Whether a child of this type is restarted after exiting with `reason`.
    pub fn restarts_after(self, reason: ExitReason) -> bool {
        match self {
            RestartType::Permanent => true,
            RestartType::Transient => reason.is_abnormal(),
            RestartType::Temporary => false,
        }
    }
}

impl fmt::Display for RestartType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a child (worker or supervisor) stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    /// The child asked to stop normally.
    Normal,
    /// An orderly stop (asked by the supervisor, or a supervisor giving up).
    Shutdown,
    /// The child trapped (panic, out-of-bounds, deadline, memory limit, ...).
    Crash,
    /// The child asked to stop with an error, or its `init` returned `err`.
    Error,
    /// The child was dropped without a chance to clean up.
    Killed,
}

impl ExitReason {
    /// The word used in events and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::Normal => "normal",
            ExitReason::Shutdown => "shutdown",
            ExitReason::Crash => "crash",
            ExitReason::Error => "error",
            ExitReason::Killed => "killed",
        }
    }

    /// Crash, error and killed are abnormal; normal and shutdown are not.
    pub fn is_abnormal(self) -> bool {
        matches!(
            self,
            ExitReason::Crash | ExitReason::Error | ExitReason::Killed
        )
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a supervisor stopped by its own decision rather than being asked to.
/// Its exit reason is then `shutdown`, as in OTP, and this says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupervisorStop {
    /// More restarts within `max_seconds` than `max_restarts` allows.
    MaxRestarts,
    /// A significant child exited and `auto_shutdown` says to stop.
    AutoShutdown,
}

impl SupervisorStop {
    /// The word used as the event's `detail`.
    pub fn as_str(self) -> &'static str {
        match self {
            SupervisorStop::MaxRestarts => "max_restarts",
            SupervisorStop::AutoShutdown => "auto_shutdown",
        }
    }
}

impl fmt::Display for SupervisorStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `max_restarts` restarts allowed within `max_seconds`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestartIntensity {
    /// Restarts allowed within the window; one more and the supervisor gives up.
    pub max_restarts: u32,
    /// Length of the sliding window.
    pub max_seconds: Duration,
}

impl Default for RestartIntensity {
    /// 3 restarts in 5 seconds: Elixir's default, not OTP's (1 in 5 s).
    /// Arbor restarts a child in microseconds and a guest that crashes
    /// on one bad message should not take its siblings down on the second
    /// bad message in five seconds; 3 in 5 s still stops a crash loop
    /// within milliseconds.
    fn default() -> Self {
        RestartIntensity {
            max_restarts: 3,
            max_seconds: Duration::from_secs(5),
        }
    }
}

/// Restart backoff (beyond OTP; off unless a tree file sets `backoff`):
/// how long a supervisor waits before restarting a child that keeps
/// failing. The n-th restart in a row waits `initial * 2^(n-1)`, capped at
/// `max`, with jitter (a uniformly drawn delay between half of that and
/// all of it, so children that failed together do not restart in step); a
/// child that then runs `reset` without failing starts over at `initial`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first restart's delay (before jitter).
    pub initial: Duration,
    /// The longest delay (before jitter).
    pub max: Duration,
    /// How long a restarted child must run without failing for the next
    /// failure to wait `initial` again.
    pub reset: Duration,
}

impl Backoff {
    /// The delay before jitter of the restart after `attempt` restarts in
    /// a row (0 for the first).
    pub fn base(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial
            .checked_mul(factor)
            .map_or(self.max, |d| d.min(self.max))
    }

    /// The delay of that restart, given `draw` uniform in `0.0..=1.0`:
    /// between half the base and all of it.
    pub fn delay(&self, attempt: u32, draw: f64) -> Duration {
        let base = self.base(attempt);
        base / 2 + base.div_f64(2.0).mul_f64(draw.clamp(0.0, 1.0))
    }
}

/// How long a child gets to run `terminate` when it is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Dropped at once, `terminate` not called (reason `killed`).
    BrutalKill,
    /// `terminate` gets this long, then the instance is dropped.
    Timeout(Duration),
    /// Waits as long as it takes (the default for supervisors).
    Infinity,
}

impl fmt::Display for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shutdown::BrutalKill => f.write_str("brutal_kill"),
            Shutdown::Timeout(d) => write!(f, "{}ms", d.as_millis()),
            Shutdown::Infinity => f.write_str("infinity"),
        }
    }
}

/// When a supervisor stops by itself because significant children exited
/// (OTP's `auto_shutdown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoShutdown {
    /// Never (the default); children may not be `significant`.
    #[default]
    Never,
    /// When any significant child exits and is not restarted.
    AnySignificant,
    /// When every significant child has exited and is not restarted.
    AllSignificant,
}

impl AutoShutdown {
    /// The tree-file spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AutoShutdown::Never => "never",
            AutoShutdown::AnySignificant => "any_significant",
            AutoShutdown::AllSignificant => "all_significant",
        }
    }

    /// Parses the tree-file spelling.
    pub fn parse(text: &str) -> Result<AutoShutdown, String> {
        match text {
            "never" => Ok(AutoShutdown::Never),
            "any_significant" => Ok(AutoShutdown::AnySignificant),
            "all_significant" => Ok(AutoShutdown::AllSignificant),
            other => Err(format!(
                "unknown auto_shutdown {other:?} (expected never, any_significant or all_significant)"
            )),
        }
    }
}

/// What a start that did not fail did: OTP's `{ok, Pid}` or, when the
/// child's `init` answered `ignore`, `{ok, undefined}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartOutcome {
    /// The child runs.
    Running,
    /// The child's `init` answered `ignore`: nothing runs and nothing
    /// failed. A static supervisor keeps it, stopped; a dynamic one, or a
    /// temporary child, forgets it.
    Ignored,
}

/// Where a child is in its life, as inspection shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildStatus {
    /// An instance (or a supervisor task) is running.
    Running,
    /// Not running, and not about to be (stopped by command, or not restarted).
    Stopped,
    /// Its restart failed and is queued for another try.
    Restarting,
}

impl ChildStatus {
    /// The word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ChildStatus::Running => "running",
            ChildStatus::Stopped => "stopped",
            ChildStatus::Restarting => "restarting",
        }
    }
}

impl fmt::Display for ChildStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name a path ends in: `root/services` names `services`, and a bare
/// name names itself. Where a command or a grant takes a supervisor by name
/// or by path, this is the name the registry knows.
pub fn last_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}
