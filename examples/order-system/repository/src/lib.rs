//! The order repository, in Rust on the Arbor guest SDK: every order's
//! status and the ledger of charges, the one place the order system's other
//! children agree on.
//!
//! Messages are JSON objects with an `op` (a [`TypedActor`]):
//!
//! | op | reply |
//! |---|---|
//! | `{"op": "create", "item": I, "qty": N}` | `{"id": "o-1"}`: a new `pending` order |
//! | `{"op": "get", "id": ID}` | the order: `{"id", "item", "qty", "status", "charges", "charged_cents"}`, `status` `pending`, `completed` or `failed: REASON` |
//! | `{"op": "charge", "id": ID, "amount": C}` | records a charge of the order on the ledger, `{"charges": N}` (N counts them all: more than 1 is a double charge, which the payment service must never make) |
//! | `{"op": "complete", "id": ID}` / `{"op": "fail", "id": ID, "reason": R}` | the order, now final; an order already final keeps its outcome |
//! | `{"op": "summary"}` | `{"total", "pending", "completed", "failed", "charged", "charged_twice"}` |
//! | `{"op": "deadline", "id": ID}` | (its own timer) fails the order if it is still pending |
//!
//! Every order gets a deadline when it is created (`deadline_ms`, 30 s by
//! default, from `init`'s args): a timer this child sets for itself. An order
//! whose processor crashed or was stopped before it finished is still
//! `pending` then, and becomes `failed: no outcome within ...`: no order
//! stays pending for ever.
//!
//! The orders live in this instance's memory (a restart of the repository
//! starts empty; keeping them across restarts is the durable store's job).

use std::collections::BTreeMap;
use std::time::Duration;

use arbor_guest::typed::{TypedActor, args};
use arbor_guest::{Init, self_name, send_after};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Msg {
    Create { item: String, qty: u32 },
    Get { id: String },
    Charge { id: String, amount: u64 },
    Complete { id: String },
    Fail { id: String, reason: String },
    Summary,
    Deadline { id: String },
}

#[derive(Deserialize)]
#[serde(default)]
struct Args {
    deadline_ms: u64,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            deadline_ms: 30_000,
        }
    }
}

#[derive(Serialize, Clone)]
struct Order {
    id: String,
    item: String,
    qty: u32,
    status: String,
    /// How many times payment charged it: more than 1 would be a double charge.
    charges: u32,
    /// The sum of those charges, in cents.
    charged_cents: u64,
}

struct Repository {
    next: u64,
    orders: BTreeMap<String, Order>,
    deadline: Duration,
}

impl Repository {
    fn order(&mut self, id: &str) -> Result<&mut Order, String> {
        self.orders
            .get_mut(id)
            .ok_or_else(|| format!("no such order: {id}"))
    }

    /// Sets `id`'s outcome unless it has one: the first outcome stands.
    fn settle(&mut self, id: &str, status: String) -> Result<Value, String> {
        let order = self.order(id)?;
        if order.status == "pending" {
            order.status = status;
        }
        Ok(json!(order))
    }
}

impl TypedActor for Repository {
    type Msg = Msg;
    type Reply = Value;

    fn init(raw: &[u8]) -> Result<Init<Self>, String> {
        let config: Args = args(raw)?;
        Ok(Init::Running(Repository {
            next: 1,
            orders: BTreeMap::new(),
            deadline: Duration::from_millis(config.deadline_ms),
        }))
    }

    fn handle(&mut self, msg: Msg) -> Result<Value, String> {
        match msg {
            Msg::Create { item, qty } => {
                let id = format!("o-{}", self.next);
                self.next += 1;
                let deadline = json!({"op": "deadline", "id": id}).to_string();
                send_after(&self_name(), deadline.as_bytes(), self.deadline)
                    .map_err(|e| format!("cannot set the order's deadline: {e}"))?;
                self.orders.insert(
                    id.clone(),
                    Order {
                        id: id.clone(),
                        item,
                        qty,
                        status: "pending".to_string(),
                        charges: 0,
                        charged_cents: 0,
                    },
                );
                Ok(json!({ "id": id }))
            }
            Msg::Get { id } => Ok(json!(self.order(&id)?)),
            Msg::Charge { id, amount } => {
                let order = self.order(&id)?;
                order.charges += 1;
                order.charged_cents += amount;
                Ok(json!({ "charges": order.charges }))
            }
            Msg::Complete { id } => self.settle(&id, "completed".to_string()),
            Msg::Fail { id, reason } => self.settle(&id, format!("failed: {reason}")),
            Msg::Deadline { id } => {
                let within = self.deadline.as_millis();
                self.settle(
                    &id,
                    format!(
                        "failed: no outcome within {within} ms (its processor crashed or was stopped)"
                    ),
                )
            }
            Msg::Summary => {
                let count =
                    |f: &dyn Fn(&Order) -> bool| self.orders.values().filter(|o| f(o)).count();
                Ok(json!({
                    "total": self.orders.len(),
                    "pending": count(&|o| o.status == "pending"),
                    "completed": count(&|o| o.status == "completed"),
                    "failed": count(&|o| o.status.starts_with("failed")),
                    "charged": count(&|o| o.charges > 0),
                    "charged_twice": count(&|o| o.charges > 1),
                }))
            }
        }
    }
}

arbor_guest::export!(Repository);
