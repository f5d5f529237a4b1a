//! The commands a running supervisor answers (OTP's `start_child`,
//! `terminate_child`, `restart_child`, `delete_child`, passing a hot swap
//! on to a worker, and the settings changes of `arbor ctl apply`), each
//! handled in the supervisor's loop between exits and retries.

use crate::spec::{ChildSpec, SupervisorSettings, check_name};
use crate::supervisor::driver::Supervisor;
use crate::supervisor::protocol::{ChildCommandError, Origin, Signal, SupervisorCommand};
use crate::supervisor::state::Rules;
use crate::swap::request::{StateHandover, SwapError, SwapReport, SwapRequest};
use crate::vocab::{ChildId, StartOutcome};

impl Supervisor {
    pub(super) async fn on_command(&mut self, command: SupervisorCommand) {
        match command {
            SupervisorCommand::StartChild(spec, origin, reply) => {
                let result = match origin {
                    Origin::TreeFile => Ok(spec),
                    Origin::Request => self.admit_grants(spec),
                };
                let result = match result {
                    Ok(spec) => self.start_child(spec).await,
                    Err(refused) => Err(refused),
                };
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
            SupervisorCommand::CrashChild(name, reply) => {
                let _ = reply.send(self.crash_child(&name));
            }
            SupervisorCommand::UpdateSettings(settings, reply) => {
                self.update_settings(settings);
                let _ = reply.send(());
            }
            SupervisorCommand::UpdateChild(spec, reply) => {
                let _ = reply.send(self.update_child(spec));
            }
            SupervisorCommand::SwapChild(name, request) => self.swap_child(&name, request),
        }
    }

    /// New settings, taken without a restart: the next exit is decided by
    /// them (with the restarts already made counted against the new
    /// intensity), and inspection shows the new strategy. A dynamic
    /// supervisor stays dynamic (and one_for_one: the tree file allows no
    /// other).
    fn update_settings(&mut self, settings: SupervisorSettings) {
        self.spec.set_settings(settings.clone());
        self.state.set_rules(Rules {
            strategy: settings.strategy,
            intensity: settings.intensity,
            auto_shutdown: settings.auto_shutdown,
            dynamic: self.is_dynamic(),
        });
        self.places.relabel(self.spec.strategy_label());
        self.publish_intensity();
        tracing::info!(
            supervisor = self.path,
            "new settings: {}, {} restarts in {:?}",
            settings.strategy,
            settings.intensity.max_restarts,
            settings.intensity.max_seconds
        );
    }

    /// Replaces the spec of the child of the same name (see
    /// [`SupervisorCommand::UpdateChild`]).
    fn update_child(&mut self, spec: ChildSpec) -> Result<(), ChildCommandError> {
        let id = self.find_child(spec.name())?;
        let place = self.places.get(id).expect("found");
        let kind = |s: &ChildSpec| match s {
            ChildSpec::Worker(_) => "worker",
            ChildSpec::Supervisor(_) => "supervisor",
        };
        if kind(&place.spec) != kind(&spec) {
            return Err(ChildCommandError::KindChanged(
                spec.name().to_string(),
                kind(&place.spec),
                kind(&spec),
            ));
        }
        // The component a worker runs is its version, which a swap (or a
        // running instance's exit) sets: another id is another child.
        if let (ChildSpec::Worker(old), ChildSpec::Worker(new)) = (&place.spec, &spec)
            && old.component != new.component
        {
            return Err(ChildCommandError::ComponentChanged {
                child: spec.name().to_string(),
                from: old.component.clone(),
                to: new.component.clone(),
            });
        }
        if let ChildSpec::Worker(worker) = &spec {
            self.check_memory(worker.max_memory_bytes)?;
        }
        self.state
            .set_child_terms(id, spec.restart(), spec.significant());
        self.places.set_spec(id, spec);
        Ok(())
    }

    /// A worker's memory limit must fit the host's memory slots.
    fn check_memory(&self, max_memory_bytes: usize) -> Result<(), ChildCommandError> {
        if let Some(slot) = self.shared.engine.allocation().memory_slot_bytes()
            && max_memory_bytes > slot
        {
            return Err(ChildCommandError::MemoryAboveSlot {
                asked: max_memory_bytes.div_ceil(1 << 20),
                slot: slot >> 20,
            });
        }
        Ok(())
    }

    /// Passes a swap on to the worker's task, which carries it out between
    /// two messages and answers it; the supervisor does not wait. A worker
    /// that is not running takes the version for its next start.
    fn swap_child(&mut self, name: &str, mut request: SwapRequest) {
        let Some(place) = self
            .places
            .find(name)
            .and_then(|id| self.places.get_mut(id))
        else {
            let _ = request
                .reply
                .send(Err(SwapError::NoSuchChild(name.to_string())));
            return;
        };
        let ChildSpec::Worker(worker) = &place.spec else {
            let _ = request
                .reply
                .send(Err(SwapError::NotAWorker(place.path.to_string())));
            return;
        };
        request.view = Some(place.view.clone());
        if let Some(swaps) = place.live.as_ref().and_then(|l| l.swaps.as_ref()) {
            request.args = worker.args.clone();
            request.callback_timeout = worker.timeout;
            // A task that just exited drops the request with its inbox: its
            // caller hears the child stopped, and may ask again.
            swaps.post(request);
            return;
        }
        let current = place
            .component
            .clone()
            .expect("a worker's place has its component");
        let to = match request
            .to
            .resolve(&current, place.previous.as_ref(), &place.path)
        {
            Ok(to) => to,
            Err(error) => {
                let _ = request.reply.send(Err(error));
                return;
            }
        };
        let report = SwapReport {
            child: place.path.to_string(),
            from: current.hash.clone(),
            to: to.hash.clone(),
            from_file: current.path.display().to_string(),
            to_file: to.path.display().to_string(),
            state: StateHandover::NotRunning,
            drain_us: 0,
            unavailable_us: 0,
            probation_ms: 0,
            dry_run: request.dry_run,
        };
        if !request.dry_run {
            place.view.set_version(to.clone());
            place.component = Some(to);
            place.previous = Some(current);
            // State saved for the old version does not go into the new one.
            place.restore = None;
        }
        let _ = request.reply.send(Ok(report));
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
            self.check_memory(worker.max_memory_bytes)?;
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

    /// Kills the running child `name` without a `terminate`, as OTP's
    /// `exit(Pid, kill)` does: unlike a stop, the supervisor did not ask
    /// for this exit, so when it arrives (as `killed`) the loop decides on
    /// it like on any crash: restart type, strategy, intensity. A nested
    /// supervisor kills its own children first.
    fn crash_child(&mut self, name: &str) -> Result<(), ChildCommandError> {
        let id = self.find_child(name)?;
        let live = self
            .places
            .get_mut(id)
            .and_then(|p| p.live.as_mut())
            .ok_or_else(|| ChildCommandError::NotRunning(name.to_string()))?;
        live.crashed_on_request = true;
        // A child that has just exited by itself has dropped its receiver:
        // its own exit is on its way and is decided on instead.
        let _ = live.signal.send(Signal::Kill);
        Ok(())
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
