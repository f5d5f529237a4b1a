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
//! | `{"op": "recover"}` | (its own, after `init`) starts a processor again for every pending order |
//! | `{"op": "crash"}` | panics: the instance traps (for the walk-through) |
//!
//! Every order gets a deadline when it is created (`deadline_ms`, 30 s by
//! default, from `init`'s args): a timer this child sets for itself. An order
//! whose processor crashed or was stopped before it finished is still
//! `pending` then, and becomes `failed: no outcome within ...`: no order
//! stays pending for ever.
//!
//! **Durable.** Every order lives in the host's key-value store (standard
//! `wasi:keyvalue`, bucket `orders`, key `order/ID`, the order as JSON;
//! order ids come from `atomics.increment` of the key `next-id`), written
//! before the reply that reports it: an order the endpoint accepted, a
//! charge payment recorded, an outcome, each survives a crash of the
//! repository and a kill of the host. The instance keeps a copy in memory
//! for reads, loaded from the store by `init`.
//!
//! **Recovery.** After a restart (of the repository, or of the host) the
//! pending orders get their deadline again, and their processors are
//! started again under `orders` (the tree file grants it: `may_start =
//! ["orders"]`); a processor still running from before is `already-started`
//! and left alone. A processor that runs an order again charges it only if
//! the ledger shows no charge: an order is never charged twice, even when
//! the host was killed between its charge and its completion.

use std::collections::BTreeMap;
use std::time::Duration;

use arbor_guest::typed::{TypedActor, args};
use arbor_guest::{
    ChildError, ChildSpec, Init, Restart, cast_self, self_name, send_after, start_child,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

wit_bindgen::generate!({
    path: "../../../host/runtime/wit/keyvalue",
    world: "wasi:keyvalue/imports",
    generate_all,
});

use wasi::keyvalue::{atomics, store};

/// The bucket the tree file grants (`keyvalue = ["orders"]`).
const BUCKET: &str = "orders";
/// Where an order is kept: this prefix and its id.
const ORDER_KEY: &str = "order/";
/// How often recovery tries while `orders` is not running yet.
const RECOVERY_TRIES: u32 = 50;

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Msg {
    Create {
        item: String,
        qty: u32,
    },
    Get {
        id: String,
    },
    Charge {
        id: String,
        amount: u64,
    },
    Complete {
        id: String,
    },
    Fail {
        id: String,
        reason: String,
    },
    Summary,
    Deadline {
        id: String,
    },
    Recover {
        #[serde(default)]
        attempt: u32,
    },
    Crash,
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

#[derive(Serialize, Deserialize, Clone)]
struct Order {
    id: String,
    item: String,
    qty: u32,
    status: String,
    /// How many times payment charged it: more than 1 would be a double charge.
    charges: u32,
    /// The sum of those charges, in cents.
    #[serde(default)]
    charged_cents: u64,
}

struct Repository {
    bucket: store::Bucket,
    orders: BTreeMap<String, Order>,
    deadline: Duration,
}

fn store_error(error: store::Error) -> String {
    match error {
        store::Error::NoSuchStore => "the store: no such store".to_string(),
        store::Error::AccessDenied => {
            "the store: access denied (the tree file grants the bucket orders?)".to_string()
        }
        store::Error::Other(text) => format!("the store: {text}"),
    }
}

/// Every order in the bucket.
fn load(bucket: &store::Bucket) -> Result<BTreeMap<String, Order>, String> {
    let mut orders = BTreeMap::new();
    let mut cursor = None;
    loop {
        let page = bucket.list_keys(cursor).map_err(store_error)?;
        for key in page.keys.iter().filter(|k| k.starts_with(ORDER_KEY)) {
            if let Some(bytes) = bucket.get(key).map_err(store_error)? {
                let order: Order = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("the stored order {key} does not read: {e}"))?;
                orders.insert(order.id.clone(), order);
            }
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(orders),
        }
    }
}

impl Repository {
    /// Writes `order` to the store (durable once this returns), then keeps it.
    fn save(&mut self, order: Order) -> Result<Value, String> {
        let json = json!(order);
        self.bucket
            .set(
                &format!("{ORDER_KEY}{}", order.id),
                json.to_string().as_bytes(),
            )
            .map_err(store_error)?;
        self.orders.insert(order.id.clone(), order);
        Ok(json)
    }

    fn order(&self, id: &str) -> Result<Order, String> {
        self.orders
            .get(id)
            .cloned()
            .ok_or_else(|| format!("no such order: {id}"))
    }

    /// Sets `id`'s outcome unless it has one: the first outcome stands.
    fn settle(&mut self, id: &str, status: String) -> Result<Value, String> {
        let mut order = self.order(id)?;
        if order.status != "pending" {
            return Ok(json!(order));
        }
        order.status = status;
        self.save(order)
    }

    /// Sets the deadline timer of the order `id`.
    fn arm_deadline(&self, id: &str) -> Result<(), String> {
        let deadline = json!({"op": "deadline", "id": id}).to_string();
        send_after(&self_name(), deadline.as_bytes(), self.deadline)
            .map(drop)
            .map_err(|e| format!("cannot set the order's deadline: {e}"))
    }

    /// Starts a processor for every pending order that has none; tries
    /// again later while `orders` is not running.
    fn recover(&self, attempt: u32) -> Result<Value, String> {
        let mut started = 0;
        for order in self.orders.values().filter(|o| o.status == "pending") {
            let spec = ChildSpec::new(order.id.clone(), "processor")
                .args(json!({ "id": order.id }).to_string())
                .restart(Restart::Temporary);
            match start_child("orders", &spec) {
                Ok(_) => started += 1,
                Err(ChildError::AlreadyStarted(_)) => {}
                Err(ChildError::NoSuchSupervisor(_)) if attempt < RECOVERY_TRIES => {
                    let again = json!({"op": "recover", "attempt": attempt + 1}).to_string();
                    send_after(&self_name(), again.as_bytes(), Duration::from_millis(100))
                        .map_err(|e| e.to_string())?;
                    return Ok(json!({ "recovering": true }));
                }
                // Its deadline fails it.
                Err(e) => arbor_guest::warn!("cannot start a processor for {}: {e}", order.id),
            }
        }
        Ok(json!({ "restarted": started }))
    }
}

impl TypedActor for Repository {
    type Msg = Msg;
    type Reply = Value;

    fn init(raw: &[u8]) -> Result<Init<Self>, String> {
        let config: Args = args(raw)?;
        let bucket = store::open(BUCKET).map_err(store_error)?;
        let orders = load(&bucket)?;
        let repository = Repository {
            bucket,
            orders,
            deadline: Duration::from_millis(config.deadline_ms),
        };
        let pending: Vec<String> = repository
            .orders
            .values()
            .filter(|o| o.status == "pending")
            .map(|o| o.id.clone())
            .collect();
        for id in &pending {
            repository.arm_deadline(id)?;
        }
        if !pending.is_empty() {
            arbor_guest::info!("{} pending orders to recover", pending.len());
            cast_self(json!({"op": "recover"}).to_string().as_bytes())
                .map_err(|e| e.to_string())?;
        }
        Ok(Init::Running(repository))
    }

    fn handle(&mut self, msg: Msg) -> Result<Value, String> {
        match msg {
            Msg::Create { item, qty } => {
                let n = atomics::increment(&self.bucket, "next-id", 1).map_err(store_error)?;
                let id = format!("o-{n}");
                self.save(Order {
                    id: id.clone(),
                    item,
                    qty,
                    status: "pending".to_string(),
                    charges: 0,
                    charged_cents: 0,
                })?;
                self.arm_deadline(&id)?;
                Ok(json!({ "id": id }))
            }
            Msg::Get { id } => Ok(json!(self.order(&id)?)),
            Msg::Charge { id, amount } => {
                let mut order = self.order(&id)?;
                order.charges += 1;
                order.charged_cents += amount;
                let charges = order.charges;
                self.save(order)?;
                Ok(json!({ "charges": charges }))
            }
            Msg::Recover { attempt } => self.recover(attempt),
            Msg::Crash => panic!("crash requested"),
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
