//! The registry: the one table of names in a host, for workers and
//! supervisors alike.
//!
//! Names are unique in the host. A name belongs to a child's place in the
//! tree, not to an instance: the supervisor that owns the place registers
//! the name when the place is created and removes it when the place is
//! forgotten, so a name stays taken across restarts, also while the child
//! is down. A worker's entry points at its mailbox, which outlives its
//! instances; a supervisor's entry points at the running supervisor, or at
//! nothing while it restarts. `call` and `cast` by name, from guests and
//! from Rust, go through here: a name resolves to a mailbox, which keeps the
//! call path the same shape if that mailbox is one day on another machine.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::mailbox::{CallError, Envelope, MailboxSender, Reply};
use crate::routing::{self, ChildError, ChildOrder, Router};
use crate::spec::{ChildSpec, WorkerSpec};
use crate::supervisor::protocol::{ChildCommandError, Origin, SupervisorCommand, SupervisorRef};
use crate::vocab::{StartOutcome, last_name};

/// What a name points at.
#[derive(Clone)]
pub enum Entry {
    /// A worker's mailbox.
    Worker(MailboxSender),
    /// A supervisor: how to reach it while it runs, `None` while it is
    /// down (the name stays reserved).
    Supervisor(Option<SupervisorRef>),
}

/// The name table shared by every supervisor and child of a host.
#[derive(Clone, Default)]
pub struct Registry {
    names: Arc<RwLock<HashMap<String, Entry>>>,
    /// How long a caller outside the scheduler threads spins for its
    /// reply before it awaits it ([`crate::scheduler`]); none by default.
    caller_spin: Duration,
}

/// A name is already taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the name {0:?} is already registered")]
pub struct NameTaken(pub String);

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// An empty registry whose callers outside the scheduler threads spin
    /// up to `caller_spin` for each reply before they await it.
    pub fn with_caller_spin(caller_spin: Duration) -> Self {
        Registry {
            caller_spin,
            ..Registry::default()
        }
    }

    /// How long a caller outside the scheduler threads spins for its reply.
    pub(crate) fn caller_spin(&self) -> Duration {
        self.caller_spin
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Entry>> {
        self.names.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Entry>> {
        self.names.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers `name`, failing if it is taken.
    pub fn register(&self, name: &str, entry: Entry) -> Result<(), NameTaken> {
        let mut names = self.write();
        if names.contains_key(name) {
            return Err(NameTaken(name.to_string()));
        }
        names.insert(name.to_string(), entry);
        Ok(())
    }

    /// Points the worker name `name` (registered by its place) at a fresh
    /// mailbox, after its old one was closed.
    pub fn set_worker(&self, name: &str, mailbox: MailboxSender) {
        if let Some(entry @ Entry::Worker(_)) = self.write().get_mut(name) {
            *entry = Entry::Worker(mailbox);
        }
    }

    /// Points the supervisor name `name` (registered by its place) at the
    /// running supervisor, or at nothing while it is down.
    pub fn set_supervisor(&self, name: &str, running: Option<SupervisorRef>) {
        if let Some(Entry::Supervisor(slot)) = self.write().get_mut(name) {
            *slot = running;
        }
    }

    /// Removes `name` (its place was forgotten).
    pub fn unregister(&self, name: &str) {
        self.write().remove(name);
    }

    /// What `name` points at.
    pub fn lookup(&self, name: &str) -> Option<Entry> {
        self.read().get(name).cloned()
    }

    /// The running supervisor registered as `name`.
    pub fn supervisor(&self, name: &str) -> Option<SupervisorRef> {
        match self.lookup(name) {
            Some(Entry::Supervisor(s)) => s,
            _ => None,
        }
    }

    fn worker(&self, target: &str) -> Result<MailboxSender, CallError> {
        match self.lookup(target) {
            Some(Entry::Worker(tx)) => Ok(tx),
            Some(Entry::Supervisor(_)) => Err(CallError::NotAWorker(target.to_string())),
            None => Err(CallError::NoSuchName(target.to_string())),
        }
    }

    /// Sends `message` to `target` and waits up to `timeout` for the reply.
    /// `from` is the calling child's name, if a child is calling.
    pub async fn call(
        &self,
        from: Option<&str>,
        target: &str,
        message: Vec<u8>,
        timeout: Duration,
    ) -> Reply {
        routing::call(self, from, target, message, timeout, self.caller_spin).await
    }

    /// Queues `message` for `target` without waiting. Unlike `call`, a cast
    /// to oneself is allowed (nobody waits, so it cannot deadlock).
    pub fn cast(&self, target: &str, message: Vec<u8>) -> Result<(), CallError> {
        routing::cast(self, target, message)
    }
}

impl Router for Registry {
    fn resolve(&self, target: &str) -> Result<MailboxSender, CallError> {
        self.worker(target)
    }

    /// Sends through the registry's own sender, under the read lock: a send
    /// never waits (the mailbox refuses when full), so the lock is held for
    /// a queue push and a wake-up, and only a (rare) registration waits.
    fn send(&self, target: &str, envelope: Envelope) -> Result<(), CallError> {
        match self.read().get(target) {
            Some(Entry::Worker(tx)) => tx.send(envelope).map_err(|e| e.for_target(target)),
            Some(Entry::Supervisor(_)) => Err(CallError::NotAWorker(target.to_string())),
            None => Err(CallError::NoSuchName(target.to_string())),
        }
    }

    fn start_child(&self, supervisor: &str, spec: WorkerSpec) -> ChildOrder<String> {
        let (name, gone) = (spec.name.clone(), supervisor.to_string());
        let answer = self.order(supervisor, |tx| {
            SupervisorCommand::StartChild(ChildSpec::Worker(spec), Origin::Request, tx)
        });
        Box::pin(async move {
            match answer?.await {
                Ok(Ok(StartOutcome::Running)) => Ok(name),
                Ok(Ok(StartOutcome::Ignored)) => Err(ChildError::Ignored),
                Ok(Err(refused)) => Err(child_error(refused)),
                // It stopped before it answered.
                Err(_) => Err(ChildError::NoSuchSupervisor(gone)),
            }
        })
    }

    fn stop_child(&self, supervisor: &str, name: &str) -> ChildOrder<()> {
        let (name, gone) = (name.to_string(), supervisor.to_string());
        let answer = self.order(supervisor, |tx| SupervisorCommand::TerminateChild(name, tx));
        Box::pin(async move {
            match answer?.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(refused)) => Err(child_error(refused)),
                Err(_) => Err(ChildError::NoSuchSupervisor(gone)),
            }
        })
    }
}

impl Registry {
    /// Sends the supervisor `name` the command `make` builds; the receiver
    /// gets its answer.
    fn order<T>(
        &self,
        name: &str,
        make: impl FnOnce(oneshot::Sender<T>) -> SupervisorCommand,
    ) -> Result<oneshot::Receiver<T>, ChildError> {
        let gone = || ChildError::NoSuchSupervisor(name.to_string());
        let running = self.supervisor(last_name(name)).ok_or_else(gone)?;
        let (tx, rx) = oneshot::channel();
        running.commands.send(make(tx)).map_err(|_| gone())?;
        Ok(rx)
    }
}

/// A supervisor's refusal as the guest sees it.
fn child_error(refused: ChildCommandError) -> ChildError {
    match refused {
        ChildCommandError::NameTaken(name) => ChildError::AlreadyStarted(name),
        ChildCommandError::MaxChildren(n) => ChildError::MaxChildren(n),
        ChildCommandError::UnknownComponent(c) => ChildError::UnknownComponent(c),
        ChildCommandError::InvalidName(why) => ChildError::InvalidName(why),
        ChildCommandError::NoSuchChild(name) => ChildError::NoSuchChild(name),
        // The text names the grant and what the supervisor allows.
        ChildCommandError::GrantDenied(denied) => ChildError::GrantDenied(denied.reason()),
        other => ChildError::StartFailed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::{MailboxLimits, mailbox};

    #[tokio::test]
    async fn a_child_calling_itself_gets_an_error_not_a_deadlock() {
        let registry = Registry::new();
        let (tx, _rx) = mailbox(MailboxLimits::default());
        registry.register("a", Entry::Worker(tx)).unwrap();
        let reply = registry
            .call(Some("a"), "a", b"ping".to_vec(), Duration::from_secs(5))
            .await;
        assert_eq!(reply, Err(CallError::SelfCall));
    }

    #[tokio::test]
    async fn calls_time_out_when_nobody_answers() {
        let registry = Registry::new();
        let (tx, _rx) = mailbox(MailboxLimits::default());
        registry.register("slow", Entry::Worker(tx)).unwrap();
        let reply = registry
            .call(None, "slow", b"x".to_vec(), Duration::from_millis(10))
            .await;
        assert_eq!(reply, Err(CallError::Timeout));
    }

    #[test]
    fn names_are_unique() {
        let registry = Registry::new();
        let (tx, _rx) = mailbox(MailboxLimits::default());
        registry.register("a", Entry::Worker(tx.clone())).unwrap();
        assert_eq!(
            registry.register("a", Entry::Worker(tx)),
            Err(NameTaken("a".into()))
        );
    }

    #[tokio::test]
    async fn unknown_names_are_reported() {
        let registry = Registry::new();
        let reply = registry
            .call(None, "ghost", vec![], Duration::from_secs(1))
            .await;
        assert_eq!(reply, Err(CallError::NoSuchName("ghost".into())));
    }
}
