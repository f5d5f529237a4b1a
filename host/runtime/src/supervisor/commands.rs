//! The commands a running supervisor answers (OTP's `start_child`,
//! `terminate_child`, `restart_child`, `delete_child`), each handled in the
//! supervisor's loop between exits and retries.

use crate::spec::{ChildSpec, check_name};
use crate::supervisor::driver::Supervisor;
use crate::supervisor::protocol::{ChildCommandError, SupervisorCommand};
use crate::vocab::{ChildId, StartOutcome};

impl Supervisor {
    pub(super) async fn on_command(&mut self, command: SupervisorCommand) {
        match command {
            SupervisorCommand::StartChild(spec, reply) => {
                let result = self.start_child(spec).await;
                let _ = reply.send(result);
            }
            SupervisorCommand::TerminateChild(name, reply) => {
                let result = self.terminate_child(&name).await;
                let _ = reply.send(result);
            }
            SupervisorCommand::RestartChild(name, reply) => {
                let result = self.restart_child(&name).await;
                let _ = reply.send(result);
            }
            SupervisorCommand::DeleteChild(name, reply) => {
                let _ = reply.send(self.delete_child(&name));
            }
        }
    }

    async fn start_child(&mut self, spec: ChildSpec) -> Result<StartOutcome, ChildCommandError> {
        self.check_new_child(&spec)?;
        let id = self.add_place(spec)?;
        self.start_place(id).await.map_err(|failure| {
            let why = format!("{} failed to start", self.places.path_of(id));
            self.remove_place(id, &why);
            ChildCommandError::StartFailed {
                reason: failure.reason,
                detail: failure.detail,
            }
        })
    }

    /// What can be refused before anything starts.
    fn check_new_child(&self, spec: &ChildSpec) -> Result<(), ChildCommandError> {
        let names = match spec {
            ChildSpec::Worker(w) => vec![w.name.as_str()],
            ChildSpec::Supervisor(s) => s.names(),
        };
        for name in names {
            check_name(name).map_err(ChildCommandError::InvalidName)?;
        }
        if let Some(max) = self.spec.dynamic.and_then(|d| d.max_children)
            && self.places.len() >= max
        {
            return Err(ChildCommandError::MaxChildren(max));
        }
        if let ChildSpec::Worker(worker) = spec {
            if self.shared.component(&worker.component).is_none() {
                return Err(ChildCommandError::UnknownComponent(
                    worker.component.clone(),
                ));
            }
            if let Some(slot) = self.shared.engine.allocation().memory_slot_bytes()
                && worker.max_memory_bytes > slot
            {
                return Err(ChildCommandError::MemoryAboveSlot {
                    asked: worker.max_memory_bytes.div_ceil(1 << 20),
                    slot: slot >> 20,
                });
            }
        }
        Ok(())
    }

    async fn terminate_child(&mut self, name: &str) -> Result<(), ChildCommandError> {
        let id = self.find_child(name)?;
        self.stop_one(id).await;
        let why = format!("{} was stopped", self.places.path_of(id));
        self.set_aside(id, &why);
        Ok(())
    }

    /// The child `name`, which must be neither running (`running` says what
    /// to answer then) nor waiting for a restart retry.
    fn stopped_child(
        &self,
        name: &str,
        running: fn(String) -> ChildCommandError,
    ) -> Result<ChildId, ChildCommandError> {
        let id = self.find_child(name)?;
        let place = self.places.get(id).expect("found");
        if place.live.is_some() {
            return Err(running(name.to_string()));
        }
        if place.restarting {
            return Err(ChildCommandError::Restarting(name.to_string()));
        }
        Ok(id)
    }

    fn find_child(&self, name: &str) -> Result<ChildId, ChildCommandError> {
        self.places
            .find(name)
            .ok_or_else(|| ChildCommandError::NoSuchChild(name.to_string()))
    }

    async fn restart_child(&mut self, name: &str) -> Result<StartOutcome, ChildCommandError> {
        let id = self.stopped_child(name, ChildCommandError::AlreadyRunning)?;
        self.start_place(id)
            .await
            .map_err(|f| ChildCommandError::StartFailed {
                reason: f.reason,
                detail: f.detail,
            })
    }

    fn delete_child(&mut self, name: &str) -> Result<(), ChildCommandError> {
        if self.is_dynamic() {
            return Err(ChildCommandError::Dynamic);
        }
        let id = self.stopped_child(name, ChildCommandError::Running)?;
        let why = format!("{} was deleted", self.places.path_of(id));
        self.remove_place(id, &why);
        Ok(())
    }
}
