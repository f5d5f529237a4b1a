//! Recording why: when a supervisor decides on an exit, the decision is
//! written into the history of every child it touches
//! ([`crate::observe::why`]), before it is carried out, so a child that is
//! restarted already says why when its restart is seen.

use crate::observe::why::{Cause, DecisionRecord, WhyEntry};
use crate::supervisor::driver::Supervisor;
use crate::supervisor::state::{Decision, ExitFacts};
use crate::vocab::ChildId;

impl Supervisor {
    /// Publishes its restarts against its intensity, for inspection.
    pub(super) fn publish_intensity(&self) {
        self.places
            .publish_intensity(crate::report::IntensityReport {
                restarts: self.state.recent_restarts() as u64,
                max_restarts: self.spec.intensity.max_restarts,
                window_ms: self.spec.intensity.max_seconds.as_millis() as u64,
            });
    }

    /// Records `decision`, made on `facts` about `failed`, on each child
    /// it touches.
    pub(super) fn explain(&self, failed: ChildId, facts: ExitFacts, decision: &Decision) {
        self.publish_intensity();
        let Some(place) = self.places.get(failed) else {
            return;
        };
        let message = place.view.history.take_crash_message();
        let (action, stopped, restarted) = match decision {
            Decision::Keep(_) => ("keep_stopped", Vec::new(), Vec::new()),
            Decision::Remove(_) => ("forget", Vec::new(), Vec::new()),
            Decision::Restart { stop, start, .. } => ("restart", stop.clone(), start.clone()),
            Decision::Stop(_) => ("give_up", self.places.live_in_reverse(), Vec::new()),
        };
        let paths = |ids: &[ChildId]| -> Vec<String> {
            ids.iter()
                .filter(|id| self.places.get(**id).is_some())
                .map(|id| self.places.path_of(*id))
                .collect()
        };
        let entry = WhyEntry {
            t_us: self.now().as_micros() as u64,
            cause: Cause {
                path: place.path.to_string(),
                generation: facts.generation,
                reason: facts.reason,
                detail: facts.detail,
                message,
            },
            decision: DecisionRecord {
                supervisor: self.path.clone(),
                strategy: self.spec.strategy_label().to_string(),
                action: action.to_string(),
                stopped: paths(&stopped),
                restarted: paths(&restarted),
                restarts_in_window: self.state.recent_restarts() as u64,
                max_restarts: self.spec.intensity.max_restarts,
                max_seconds: self.spec.intensity.max_seconds.as_secs_f64(),
            },
        };
        let mut touched = vec![failed];
        touched.extend(stopped.iter().chain(&restarted).copied());
        touched.sort();
        touched.dedup();
        for id in touched {
            if let Some(place) = self.places.get(id) {
                place.view.history.push(entry.clone());
            }
        }
    }
}
