//! Contract 0.2.1 in every guest language that targets it (Rust on the
//! SDK, Python, JavaScript, Go on its SDK; the C probe stays on 0.1.0): `children`
//! (`start-child`, `stop-child`), `timers` (`send-after`, `cancel-timer`)
//! and a child's cast to itself, driven through each probe's messages
//! (`spawn`, `stop-child`, `cast-self`, `after`, `cancel`, the init arg
//! `init_cast_self`): the conformance cases of these functions, proving
//! each language reaches the host's functions and reports every outcome in
//! the probe protocol's words. The host's side (grants, restart types,
//! timers across a swap) is in `guest_tree.rs`.

use std::time::Duration;

use arbor::{CallError, EventKind};

use crate::support::{Harness, PATIENCE, root};

/// `p` may start children under the dynamic supervisor `pool` (at most 2);
/// `q` is granted nothing; `seeded` casts `note from-init` to itself from
/// `init` although `may_call = []` lets it reach no one else.
async fn start(probe: &str) -> Harness {
    let tree = root("max_restarts = 10\nmax_seconds = 60")
        .worker("p", "may_start = [\"pool\"]")
        .worker("q", "")
        .worker(
            "seeded",
            "may_call = []\nargs = '{\"init_cast_self\": \"note from-init\"}'",
        )
        .supervisor("pool", "dynamic = { max_children = 2 }", |s| s);
    Harness::start_with(&[("probe", probe)], tree.text()).await
}

/// The err a probe answers with, as its caller sees it.
fn refused(text: &str) -> Result<String, CallError> {
    Err(CallError::Rejected(text.to_string()))
}

/// The id in a probe's `timer ID` reply.
fn timer_id(reply: Result<String, CallError>) -> u64 {
    let reply = reply.expect("the timer is set");
    reply
        .strip_prefix("timer ")
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("not `timer ID`: {reply}"))
}

/// `name`'s notes once `done` holds for them (a timer's cast arrives on its
/// own time, so the test waits for it rather than sleeping a guess).
async fn notes_when(h: &Harness, name: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let notes = h.call(name, "notes").await.expect("notes");
        if done(&notes) {
            return notes;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}'s notes stayed {notes:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A granted `spawn` starts the child under the pool, with ARGS (spaces and
/// all) as its `init` args, and answers `started NAME`; the child then
/// answers calls, from the host and from its starter.
async fn spawn_starts_a_child_that_answers_calls(probe: &str) {
    let mut h = start(probe).await;
    assert_eq!(
        h.call("p", "spawn pool w1 probe permanent").await.unwrap(),
        "started w1"
    );
    h.wait_event(EventKind::ChildStarted, "root/pool/w1", None)
        .await;
    assert_eq!(h.call("w1", "ping").await.unwrap(), "pong");
    assert_eq!(h.call("p", "call w1 name").await.unwrap(), "w1");

    let args = r#"{"init_cast_self": "note got my args"}"#;
    assert_eq!(
        h.call("p", &format!("spawn pool w2 probe temporary {args}"))
            .await
            .unwrap(),
        "started w2"
    );
    assert_eq!(h.call("w2", "notes").await.unwrap(), "got my args");
    h.node.shutdown().await;
}

/// Every refusal comes back as `CASE: TEXT`, the `child-error` case by its
/// contract name, and leaves the asker and the pool serving.
async fn each_refusal_names_its_child_error_case(probe: &str) {
    let h = start(probe).await;
    assert_eq!(
        h.call("q", "spawn pool w1 probe permanent").await,
        refused("denied: pool"),
        "q's entry grants no may_start"
    );
    assert_eq!(
        h.call("p", "spawn pool w1 probe transient").await.unwrap(),
        "started w1"
    );
    assert_eq!(
        h.call("p", "spawn pool w1 probe transient").await,
        refused("already-started: w1")
    );
    assert_eq!(
        h.call("p", "spawn pool w2 nope permanent").await,
        refused("unknown-component: nope")
    );
    assert_eq!(
        h.call("p", "spawn pool w2 probe permanent").await.unwrap(),
        "started w2"
    );
    assert_eq!(
        h.call("p", "spawn pool w3 probe permanent").await,
        refused("max-children: 2"),
        "the pool holds its max_children"
    );
    assert_eq!(
        h.call("p", "spawn pool w3 probe sometimes").await,
        refused("bad restart type: sometimes"),
        "checked by the probe before the host is asked"
    );
    assert_eq!(h.call("p", "ping").await.unwrap(), "pong");
    assert_eq!(h.call("w2", "ping").await.unwrap(), "pong");
    h.node.shutdown().await;
}

/// `stop-child` stops the child in order and the dynamic pool forgets it:
/// the name and the slot are free again, and a second stop finds no child.
async fn stop_child_stops_and_frees_the_slot(probe: &str) {
    let mut h = start(probe).await;
    for name in ["w1", "w2"] {
        let spawn = format!("spawn pool {name} probe permanent");
        assert_eq!(
            h.call("p", &spawn).await.unwrap(),
            format!("started {name}")
        );
    }
    assert_eq!(
        h.call("q", "stop-child pool w1").await,
        refused("denied: pool"),
        "stopping takes the same grant as starting"
    );
    assert_eq!(h.call("p", "stop-child pool w1").await.unwrap(), "stopped");
    h.wait_event(EventKind::ChildTerminated, "root/pool/w1", Some("shutdown"))
        .await;
    assert!(h.call("w1", "ping").await.is_err(), "w1 is gone");
    assert_eq!(
        h.call("p", "stop-child pool w1").await,
        refused("no-such-child: w1")
    );
    assert_eq!(
        h.call("p", "spawn pool w1 probe permanent").await.unwrap(),
        "started w1",
        "the name and the pool's slot are free again"
    );
    assert_eq!(h.call("w1", "ping").await.unwrap(), "pong");
    h.node.shutdown().await;
}

/// A child casts to itself from a handler and from `init`, even when
/// `may_call` lets it reach no one else; the cast is handled after the
/// message that made it.
async fn a_child_casts_to_itself_from_a_handler_and_from_init(probe: &str) {
    let h = start(probe).await;
    assert_eq!(h.call("p", "cast-self note x").await.unwrap(), "sent");
    assert_eq!(h.call("p", "notes").await.unwrap(), "x");

    assert_eq!(h.call("seeded", "notes").await.unwrap(), "from-init");
    assert_eq!(h.call("seeded", "cast-self note y").await.unwrap(), "sent");
    assert_eq!(h.call("seeded", "notes").await.unwrap(), "from-init,y");
    assert_eq!(
        h.call("seeded", "cast p note z").await,
        refused("denied: p"),
        "may_call = [] still holds for others"
    );
    h.node.shutdown().await;
}

/// Timers fire by due time, not by the order they were set, and a timer is
/// held to `may_call` when it is set (the error in the `cast` wording).
/// The gap between the two due times is wide enough that a slow round trip
/// between setting them on a loaded machine cannot swap them.
async fn timers_fire_in_the_order_they_are_due(probe: &str) {
    let h = start(probe).await;
    let first = timer_id(h.call("p", "after 200 p note a").await);
    let second = timer_id(h.call("p", "after 10 p note b").await);
    assert_ne!(first, second, "each timer has its own id");
    let notes = notes_when(&h, "p", |n| n.split(',').count() == 2).await;
    assert_eq!(notes, "b,a");
    assert_eq!(
        h.call("seeded", "after 10 p note c").await,
        refused("denied: p")
    );
    assert_eq!(
        h.call("p", "after soon p note d").await,
        refused("bad delay: soon p note d")
    );
    h.node.shutdown().await;
}

/// A cancelled timer never fires: a later one set after it does, alone.
/// Cancelling answers `true` once, then `false`, as it does for an id
/// never set.
async fn a_cancelled_timer_never_fires(probe: &str) {
    let h = start(probe).await;
    let cancelled = timer_id(h.call("p", "after 50 p note cancelled").await);
    assert_eq!(
        h.call("p", &format!("cancel {cancelled}")).await.unwrap(),
        "true"
    );
    assert_eq!(
        h.call("p", &format!("cancel {cancelled}")).await.unwrap(),
        "false"
    );
    assert_eq!(h.call("p", "cancel 999999").await.unwrap(), "false");
    timer_id(h.call("p", "after 150 p note later").await);
    let notes = notes_when(&h, "p", |n| !n.is_empty()).await;
    assert_eq!(notes, "later", "only the timer left pending fired");
    h.node.shutdown().await;
}

/// A crashed instance's pending timer dies with it: the restarted child
/// gets a timer of its own, set later and due later, and not the old one.
async fn a_crashed_instances_timer_does_not_fire_into_its_successor(probe: &str) {
    let mut h = start(probe).await;
    timer_id(h.call("p", "after 200 p note from-the-dead").await);
    assert!(matches!(
        h.call("p", "crash").await,
        Err(CallError::Crashed(_))
    ));
    h.wait_event(EventKind::ChildRestarted, "root/p", None)
        .await;
    timer_id(h.call("p", "after 300 p note alive").await);
    let notes = notes_when(&h, "p", |n| !n.is_empty()).await;
    assert_eq!(notes, "alive", "the crashed instance's timer was dropped");
    h.node.shutdown().await;
}

macro_rules! each_probe {
    ($($lang:ident => $path:expr),* $(,)?) => {
        $(
            mod $lang {
                fn probe() -> &'static str {
                    $path
                }

                #[tokio::test]
                async fn spawn_starts_a_child_that_answers_calls() {
                    super::spawn_starts_a_child_that_answers_calls(probe()).await
                }

                #[tokio::test]
                async fn each_refusal_names_its_child_error_case() {
                    super::each_refusal_names_its_child_error_case(probe()).await
                }

                #[tokio::test]
                async fn stop_child_stops_and_frees_the_slot() {
                    super::stop_child_stops_and_frees_the_slot(probe()).await
                }

                #[tokio::test]
                async fn a_child_casts_to_itself_from_a_handler_and_from_init() {
                    super::a_child_casts_to_itself_from_a_handler_and_from_init(probe()).await
                }

                #[tokio::test]
                async fn timers_fire_in_the_order_they_are_due() {
                    super::timers_fire_in_the_order_they_are_due(probe()).await
                }

                #[tokio::test]
                async fn a_cancelled_timer_never_fires() {
                    super::a_cancelled_timer_never_fires(probe()).await
                }

                #[tokio::test]
                async fn a_crashed_instances_timer_does_not_fire_into_its_successor() {
                    super::a_crashed_instances_timer_does_not_fire_into_its_successor(probe())
                        .await
                }
            }
        )*
    };
}

each_probe! {
    rust => arbor_guest_artifacts::PROBE,
    python => arbor_guest_artifacts::PYTHON_PROBE,
    js => arbor_guest_artifacts::JS_PROBE,
    go => arbor_guest_artifacts::GO_PROBE,
}
