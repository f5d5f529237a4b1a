//! The order processor, in Rust on the Arbor guest SDK: one temporary child
//! per order, started by the web endpoint under the `orders` dynamic
//! supervisor and named by its order id.
//!
//! Its `init` takes `{"id": ID}` and sends itself `reserve` (OTP's
//! `send(self(), process)` from `init/1`, so `init` returns at once and the
//! endpoint answers the client). Each step is a message to itself:
//!
//! 1. `reserve`: reads the order from the repository, reserves its items
//!    with inventory;
//! 2. `charge`: charges it with payment (idempotent by order id);
//! 3. `complete`: marks it completed, tells notification, and exits
//!    normally.
//!
//! A refusal (out of stock, payment declined) marks the order
//! `failed: REASON`, tells notification, and exits with that error: an
//! abnormal exit, and being temporary the child is not restarted. A service
//! that is down or restarting (crashed, stopped, not registered, timed out,
//! mailbox full) is not a refusal: the step is tried again on a timer,
//! backing off, up to [`MAX_ATTEMPTS`] times, then the order fails naming
//! the service. `crash` (a message, for the walk-through) crashes it; the
//! repository's deadline then fails the order.

use std::time::Duration;

use arbor_guest::typed::{self, TypedCallError, args};
use arbor_guest::{Actor, CallError, ExitReason, Init, cast, cast_self, self_name, send_after};
use serde::Deserialize;
use serde_json::{Value, json};

/// How often a step is tried while its service is unavailable.
const MAX_ATTEMPTS: u32 = 50;
/// Cents per item: the amount charged is `qty * PRICE`.
const PRICE: u64 = 250;

#[derive(Deserialize, Default)]
struct Args {
    id: String,
}

#[derive(Deserialize, Clone)]
struct Order {
    item: String,
    qty: u32,
}

struct Processor {
    id: String,
    order: Option<Order>,
    /// Tries of the current step so far.
    attempts: u32,
}

/// How a step ended.
enum Step {
    /// Go on with this step.
    Next(&'static str),
    /// The order is done.
    Done,
    /// A service refused the order: it fails with this reason.
    Refused(String),
    /// A service is unavailable (named, with the error): try again later.
    Unavailable(&'static str, CallError),
}

/// A service's refusal, or its unavailability.
fn outcome(service: &'static str, error: TypedCallError) -> Step {
    match error {
        TypedCallError::Call(CallError::Rejected(reason)) => Step::Refused(reason),
        TypedCallError::Call(error) => Step::Unavailable(service, error),
        other => Step::Refused(format!("{service} answered what we cannot read: {other}")),
    }
}

impl Processor {
    fn run(&mut self, step: &str) -> Step {
        match step {
            "reserve" => self.reserve(),
            "charge" => self.charge(),
            "complete" => self.complete(),
            other => Step::Refused(format!("unknown step {other:?}")),
        }
    }

    fn reserve(&mut self) -> Step {
        let order: Order = match typed::call("repository", &json!({"op": "get", "id": self.id})) {
            Ok(order) => order,
            Err(e) => return outcome("repository", e),
        };
        let request =
            json!({"op": "reserve", "order": self.id, "item": order.item, "qty": order.qty});
        self.order = Some(order);
        match typed::call::<_, Value>("inventory", &request) {
            Ok(_) => Step::Next("charge"),
            Err(e) => outcome("inventory", e),
        }
    }

    fn charge(&mut self) -> Step {
        let Some(order) = &self.order else {
            return Step::Next("reserve");
        };
        let amount = u64::from(order.qty) * PRICE;
        let request = json!({"op": "charge", "order": self.id, "amount": amount});
        match typed::call::<_, Value>("payment", &request) {
            Ok(_) => Step::Next("complete"),
            Err(e) => outcome("payment", e),
        }
    }

    fn complete(&mut self) -> Step {
        match typed::call::<_, Value>("repository", &json!({"op": "complete", "id": self.id})) {
            Ok(_) => Step::Done,
            Err(e) => outcome("repository", e),
        }
    }

    /// Marks the order failed (the first outcome stands in the repository)
    /// and exits abnormally.
    fn fail(&self, reason: String) {
        let _ = typed::call::<_, Value>(
            "repository",
            &json!({"op": "fail", "id": self.id, "reason": reason}),
        );
        let _ = cast(
            "notification",
            format!("notify {} failed", self.id).as_bytes(),
        );
        arbor_guest::stop(ExitReason::Error(reason));
    }
}

impl Actor for Processor {
    fn init(raw: &[u8]) -> Result<Init<Self>, String> {
        let Args { id } = args(raw)?;
        if id.is_empty() {
            return Err("no order id in the args".to_string());
        }
        cast_self(b"reserve").map_err(|e| format!("cannot queue the first step: {e}"))?;
        Ok(Init::Running(Processor {
            id,
            order: None,
            attempts: 0,
        }))
    }

    fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, String> {
        let step = std::str::from_utf8(message).map_err(|_| "not UTF-8".to_string())?;
        if step == "crash" {
            panic!("crash requested");
        }
        match self.run(step) {
            Step::Next(next) => {
                self.attempts = 0;
                cast_self(next.as_bytes()).map_err(|e| e.to_string())?;
            }
            Step::Done => {
                let _ = cast(
                    "notification",
                    format!("notify {} completed", self.id).as_bytes(),
                );
                arbor_guest::stop(ExitReason::Normal);
            }
            Step::Refused(reason) => self.fail(reason),
            Step::Unavailable(service, error) => {
                self.attempts += 1;
                if self.attempts >= MAX_ATTEMPTS {
                    self.fail(format!(
                        "{service} unavailable after {MAX_ATTEMPTS} tries: {error}"
                    ));
                } else {
                    // 20 ms, 40 ms, ... up to 200 ms between tries.
                    let wait = Duration::from_millis(20 * u64::from(self.attempts.min(10)));
                    send_after(&self_name(), step.as_bytes(), wait).map_err(|e| e.to_string())?;
                }
            }
        }
        Ok(Vec::new())
    }
}

arbor_guest::export!(Processor);
