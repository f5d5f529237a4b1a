//! Which settings of a supervisor or a child differ between the running
//! tree and a changed file, each as `field from -> to` in the tree file's
//! words, with when it takes effect on a running host.

use std::fmt;
use std::time::Duration;

use crate::grants::{ChildGrants, Grants};
use crate::spec::{SupervisorSpec, WorkerSpec};
use crate::vocab::{Backoff, RestartIntensity, RestartType, Shutdown};

/// When a changed child setting takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// At once: the supervisor decides and stops by it from now on.
    Now,
    /// When the child next starts (its running instance was built with the old one).
    NextStart,
}

/// One changed setting: `field from -> to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The tree-file field (`intensity` stands for max_restarts and max_seconds).
    pub field: &'static str,
    /// The running value, as the plan shows it.
    pub from: String,
    /// The file's value.
    pub to: String,
    /// When it takes effect.
    pub takes: Takes,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {}", self.field, self.from, self.to)
    }
}

impl fmt::Display for Takes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Takes::Now => "from now on",
            Takes::NextStart => "at its next start",
        })
    }
}

/// Adds `field from -> to` to `changes` when the two differ.
fn compare<T: PartialEq>(
    changes: &mut Vec<Change>,
    field: &'static str,
    (old, new): (T, T),
    show: impl Fn(&T) -> String,
    takes: Takes,
) {
    if old != new {
        changes.push(Change {
            field,
            from: show(&old),
            to: show(&new),
            takes,
        });
    }
}

pub(crate) fn supervisor_changes(old: &SupervisorSpec, new: &SupervisorSpec) -> Vec<Change> {
    let (o, n) = (old.settings(), new.settings());
    let mut changes = Vec::new();
    compare(
        &mut changes,
        "strategy",
        (o.strategy, n.strategy),
        |s| s.to_string(),
        Takes::Now,
    );
    compare(
        &mut changes,
        "intensity",
        (o.intensity, n.intensity),
        show_intensity,
        Takes::Now,
    );
    compare(
        &mut changes,
        "auto_shutdown",
        (o.auto_shutdown, n.auto_shutdown),
        |a| a.as_str().to_string(),
        Takes::Now,
    );
    compare(
        &mut changes,
        "max_children",
        (o.max_children, n.max_children),
        |m| m.map_or("unbounded".to_string(), |n| n.to_string()),
        Takes::Now,
    );
    compare(
        &mut changes,
        "backoff",
        (o.backoff, n.backoff),
        show_backoff,
        Takes::Now,
    );
    compare(
        &mut changes,
        "child_grants",
        (&o.child_grants, &n.child_grants),
        |c| show_lines(c.as_deref().map(ChildGrants::describe)),
        Takes::Now,
    );
    changes
}

/// A child's own settings that any child has: restart type, shutdown,
/// significant. All three rule the supervisor's decisions from now on.
pub(crate) fn child_changes(
    old: (RestartType, Shutdown, bool),
    new: (RestartType, Shutdown, bool),
) -> Vec<Change> {
    let mut changes = Vec::new();
    compare(
        &mut changes,
        "restart",
        (old.0, new.0),
        |r| r.to_string(),
        Takes::Now,
    );
    compare(
        &mut changes,
        "shutdown",
        (old.1, new.1),
        show_shutdown,
        Takes::Now,
    );
    compare(
        &mut changes,
        "significant",
        (old.2, new.2),
        |s| s.to_string(),
        Takes::Now,
    );
    changes
}

pub(crate) fn worker_changes(old: &WorkerSpec, new: &WorkerSpec) -> Vec<Change> {
    let mut changes = child_changes(
        (old.restart, old.shutdown, old.significant),
        (new.restart, new.shutdown, new.significant),
    );
    let c = &mut changes;
    compare(
        c,
        "args",
        (&old.args, &new.args),
        |a| show_args(a),
        Takes::NextStart,
    );
    compare(
        c,
        "timeout_ms",
        (old.timeout, new.timeout),
        |d| show_duration(*d),
        Takes::NextStart,
    );
    // An init deadline that only follows `timeout_ms` is not a change of
    // its own.
    if old.init_timeout != old.timeout || new.init_timeout != new.timeout {
        compare(
            c,
            "init_timeout_ms",
            (old.init_timeout, new.init_timeout),
            |d| show_duration(*d),
            Takes::NextStart,
        );
    }
    compare(
        c,
        "call_timeout_ms",
        (old.call_timeout, new.call_timeout),
        |d| show_duration(*d),
        Takes::NextStart,
    );
    compare(
        c,
        "max_memory_mb",
        (old.max_memory_bytes, new.max_memory_bytes),
        |b| format!("{} MiB", b >> 20),
        Takes::NextStart,
    );
    compare(
        c,
        "may_call",
        (&old.may_call, &new.may_call),
        |m| {
            m.as_ref()
                .map_or("anyone".to_string(), |l| format!("[{}]", l.join(", ")))
        },
        Takes::NextStart,
    );
    compare(
        c,
        "may_start",
        (&old.may_start, &new.may_start),
        |m| grant_list(m),
        Takes::NextStart,
    );
    compare(
        c,
        "keyvalue",
        (&old.keyvalue, &new.keyvalue),
        |m| grant_list(m),
        Takes::NextStart,
    );
    compare(
        c,
        "poison",
        (old.poison, new.poison),
        |p| p.map_or("off".to_string(), |p| format!("after {}", p.after)),
        Takes::NextStart,
    );
    compare(
        c,
        "backoff",
        (old.backoff, new.backoff),
        show_backoff,
        Takes::Now,
    );
    compare(
        c,
        "grants",
        (&old.grants, &new.grants),
        |g| show_lines(g.as_deref().map(Grants::describe)),
        Takes::NextStart,
    );
    compare(
        c,
        "log_rate",
        (old.log_rate, new.log_rate),
        |r| r.to_string(),
        Takes::NextStart,
    );
    compare(
        c,
        "mailbox_capacity",
        (old.mailbox.capacity, new.mailbox.capacity),
        |n| n.to_string(),
        Takes::Now,
    );
    compare(
        c,
        "mailbox_max_mb",
        (old.mailbox.max_bytes, new.mailbox.max_bytes),
        |b| format!("{} MiB", b >> 20),
        Takes::Now,
    );
    changes
}

/// `5s`, `250ms`, or as Rust shows it when neither is exact.
fn show_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{d:?}")
    }
}

fn show_shutdown(s: &Shutdown) -> String {
    match s {
        Shutdown::Timeout(d) => show_duration(*d),
        other => other.to_string(),
    }
}

fn show_backoff(b: &Option<Backoff>) -> String {
    match b {
        None => "none".to_string(),
        Some(b) => format!(
            "{} to {}, reset after {}",
            show_duration(b.initial),
            show_duration(b.max),
            show_duration(b.reset)
        ),
    }
}

fn show_intensity(i: &RestartIntensity) -> String {
    format!("{} in {}", i.max_restarts, show_duration(i.max_seconds))
}

/// Args as text when they are short UTF-8, else their size.
fn show_args(args: &[u8]) -> String {
    const SHOWN: usize = 40;
    match std::str::from_utf8(args) {
        Ok(text) if text.chars().count() <= SHOWN => format!("{text:?}"),
        Ok(text) => {
            let head: String = text.chars().take(SHOWN).collect();
            format!("{head:?}... ({} bytes)", args.len())
        }
        Err(_) => format!("{} bytes", args.len()),
    }
}

/// Grants as a plan shows them: `none`, or each kind in brackets.
fn show_lines(lines: Option<Vec<String>>) -> String {
    match lines {
        Some(lines) if !lines.is_empty() => format!("[{}]", lines.join("; ")),
        _ => "none".to_string(),
    }
}

/// A grant as a plan shows it: `none`, or the names it grants.
fn grant_list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        format!("[{}]", names.join(", "))
    }
}
