//! README "Durable state": `wasi:keyvalue` on the host's SQLite store,
//! through the key-value probes: `guests/kv_probe` (Rust, stock
//! `wit-bindgen` bindings) and `guests/js/kv_probe` (JavaScript, stock
//! componentize-js bindings), which answer the same messages, and
//! `guests/kv_draft2` (Rust, Spin's `0.2.0-draft2` with compare-and-swap).
//! The cases a guest's bindings could get wrong run against both probes;
//! the store's own behaviour (limits, a bad file, concurrent increments)
//! against the Rust one. Each test has a database of its own.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arbor::{CallError, EventKind, Node, NodeError, NodeOptions, TreeSpec};

use crate::support::{Harness, root, user_cache, warm};

/// A key-value probe: its component, and its language, which keeps its
/// tests' databases apart from the other probe's.
#[derive(Clone, Copy)]
struct KvProbe {
    lang: &'static str,
    component: &'static str,
}

impl KvProbe {
    const RUST: KvProbe = KvProbe {
        lang: "rust",
        component: arbor_guest_artifacts::KV_PROBE,
    };
    const JS: KvProbe = KvProbe {
        lang: "js",
        component: arbor_guest_artifacts::JS_KV_PROBE,
    };
    /// Spin's draft (`0.2.0-draft2`): a different message set.
    const DRAFT2: KvProbe = KvProbe {
        lang: "draft2",
        component: arbor_guest_artifacts::KV_DRAFT2,
    };

    /// The database file of `test`, in a fresh directory.
    fn database(self, test: &str) -> PathBuf {
        data_dir(&format!("{}-{test}", self.lang)).join("arbor.db")
    }
}

/// A fresh directory for one test's database.
fn data_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arbor-kv-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A tree of `probe`s, `[node] data` at `db`; `workers` are (name, settings).
fn kv_tree(probe: KvProbe, db: &Path, workers: &[(&str, &str)]) -> TreeSpec {
    warm(probe.component);
    let mut tree = root("max_restarts = 1000\nmax_seconds = 1");
    for (name, settings) in workers {
        tree = tree.worker_of(name, "kv", settings);
    }
    let text = format!(
        "[components]\nkv = {:?}\n\n[node]\ndata = {:?}\n\n{}",
        probe.component,
        db.display().to_string(),
        tree.text()
    );
    TreeSpec::parse(Path::new("kv-tree.toml"), &text).expect("a valid tree")
}

fn rejected(text: &str) -> Result<String, CallError> {
    Err(CallError::Rejected(text.to_string()))
}

/// Every operation of `store`, `atomics` and `batch`, each checked in the
/// guest's reply and in the store itself.
async fn every_operation_round_trips_through_the_store(probe: KvProbe) {
    let db = probe.database("round-trip");
    let h = Harness::start_tree(kv_tree(probe, &db, &[("w", "keyvalue = [\"b\"]")])).await;
    let store = h.node.keyvalue();
    assert_eq!(h.call("w", "get b k").await.unwrap(), "none");
    assert_eq!(h.call("w", "exists b k").await.unwrap(), "false");
    assert_eq!(h.call("w", "set b k paid in full").await.unwrap(), "ok");
    assert_eq!(
        store.get("b", "k").await.unwrap(),
        Some(b"paid in full".to_vec()),
        "the guest's set is in the store"
    );
    assert_eq!(h.call("w", "get b k").await.unwrap(), "paid in full");
    assert_eq!(h.call("w", "exists b k").await.unwrap(), "true");
    // What the operator writes, the guest reads.
    store.set("b", "op", b"from ctl".to_vec()).await.unwrap();
    assert_eq!(h.call("w", "get b op").await.unwrap(), "from ctl");

    assert_eq!(h.call("w", "set-many b x=1,y=2").await.unwrap(), "ok");
    assert_eq!(
        h.call("w", "get-many b x,k,z,y").await.unwrap(),
        "x=1,k=paid in full,z?,y=2"
    );
    assert_eq!(store.get("b", "y").await.unwrap(), Some(b"2".to_vec()));

    assert_eq!(h.call("w", "incr b n 5").await.unwrap(), "5");
    assert_eq!(h.call("w", "incr b n 2").await.unwrap(), "7");
    assert_eq!(
        h.call("w", "get b n").await.unwrap(),
        "7",
        "a number is decimal text"
    );
    // Above 2^53: a u64 crosses the bindings whole (a JavaScript Number
    // would round it).
    assert_eq!(
        h.call("w", "incr b big 9007199254740993").await.unwrap(),
        "9007199254740993"
    );
    assert_eq!(
        h.call("w", "incr b k 1").await,
        rejected(
            "err(other: cannot increment \"k\": its value is not a decimal number \
             (increment stores numbers as decimal text))"
        )
    );

    assert_eq!(h.call("w", "keys b").await.unwrap(), "big,k,n,op,x,y");
    assert_eq!(h.call("w", "del b x").await.unwrap(), "ok");
    assert_eq!(h.call("w", "exists b x").await.unwrap(), "false");
    assert_eq!(
        store.get("b", "x").await.unwrap(),
        None,
        "deleted in the store"
    );
    assert_eq!(h.call("w", "keys b").await.unwrap(), "big,k,n,op,y");
    h.node.shutdown().await;
}

/// `list-keys` answers pages of 1,000: the probe follows the cursor to the
/// last page and returns every key once.
async fn keys_follows_the_cursor_past_the_first_page(probe: KvProbe) {
    let db = probe.database("pages");
    let h = Harness::start_tree(kv_tree(probe, &db, &[("w", "keyvalue = [\"b\"]")])).await;
    let count = arbor::keyvalue::LIST_PAGE * 2 + 1;
    let pairs: Vec<String> = (0..count).map(|i| format!("k{i:05}=v")).collect();
    let message = format!("set-many b {}", pairs.join(","));
    assert_eq!(h.call("w", &message).await.unwrap(), "ok");
    let keys = h.call("w", "keys b").await.unwrap();
    let keys: Vec<&str> = keys.split(',').collect();
    assert_eq!(
        (keys.len(), keys.first(), keys.last()),
        (count, Some(&"k00000"), Some(&"k02000")),
        "every page, in order"
    );
    let expected: Vec<String> = (0..count).map(|i| format!("k{i:05}")).collect();
    assert!(keys == expected, "each key once, in order");
    h.node.shutdown().await;
}

async fn a_write_that_returned_is_there_for_the_fresh_instance_after_a_trap(probe: KvProbe) {
    let db = probe.database("trap");
    let mut h = Harness::start_tree(kv_tree(probe, &db, &[("w", "keyvalue = [\"orders\"]")])).await;
    assert_eq!(h.call("w", "set orders o1 paid").await.unwrap(), "ok");
    assert_eq!(h.call("w", "incr orders n 3").await.unwrap(), "3");
    match h.call("w", "crash").await {
        // The Rust probe reports its panic (`host.crash`), the JavaScript
        // one traps: a crash either way, which is what this case is about.
        Err(CallError::Crashed(detail)) => assert!(
            detail.contains("crash requested") || detail.contains("wasm trap"),
            "{detail}"
        ),
        other => panic!("crash must crash, got {other:?}"),
    }
    let restarted = h
        .wait_event(EventKind::ChildRestarted, "root/w", None)
        .await;
    assert_eq!(restarted.generation, Some(2), "a fresh instance");
    assert_eq!(h.call("w", "get orders o1").await.unwrap(), "paid");
    assert_eq!(h.call("w", "incr orders n 1").await.unwrap(), "4");
    assert_eq!(h.call("w", "keys orders").await.unwrap(), "n,o1");
    h.node.shutdown().await;
}

async fn committed_data_survives_a_new_host_on_the_same_file(probe: KvProbe) {
    let db = probe.database("restart");
    let h = Harness::start_tree(kv_tree(probe, &db, &[("w", "keyvalue = [\"b\"]")])).await;
    assert_eq!(h.call("w", "set b k before").await.unwrap(), "ok");
    assert_eq!(h.call("w", "set-many b x=1,y=2").await.unwrap(), "ok");
    h.node.shutdown().await;
    let h = Harness::start_tree(kv_tree(probe, &db, &[("w", "keyvalue = [\"b\"]")])).await;
    assert_eq!(h.call("w", "get b k").await.unwrap(), "before");
    assert_eq!(h.call("w", "get-many b x,y,z").await.unwrap(), "x=1,y=2,z?");
    assert_eq!(h.call("w", "del b x").await.unwrap(), "ok");
    assert_eq!(h.call("w", "exists b x").await.unwrap(), "false");
    // The operator's view is the same store.
    assert_eq!(
        h.node.keyvalue().get("b", "k").await.unwrap(),
        Some(b"before".to_vec())
    );
    h.node.shutdown().await;
}

async fn a_bucket_not_granted_is_access_denied_and_a_child_without_grants_opens_nothing(
    probe: KvProbe,
) {
    let db = probe.database("grants");
    let h = Harness::start_tree(kv_tree(
        probe,
        &db,
        &[("granted", "keyvalue = [\"orders\"]"), ("bare", "")],
    ))
    .await;
    assert_eq!(h.call("granted", "open orders").await.unwrap(), "opened");
    assert_eq!(
        h.call("granted", "open payments").await,
        rejected("err(access-denied)")
    );
    assert_eq!(
        h.call("granted", "set payments p1 10").await,
        rejected("err(access-denied)")
    );
    assert_eq!(
        h.call("bare", "get orders o1").await,
        rejected("err(access-denied)")
    );
    // The refusal is a reply, not a crash: the child keeps serving, and
    // nothing reached the bucket it was refused.
    assert_eq!(h.call("granted", "set orders a 1").await.unwrap(), "ok");
    assert_eq!(h.call("granted", "get orders a").await.unwrap(), "1");
    assert_eq!(
        h.node.keyvalue().keys("payments").await.unwrap(),
        Vec::<String>::new()
    );
    h.node.shutdown().await;
}

/// The cases above, once per probe.
macro_rules! each_probe {
    ($($lang:ident => $probe:expr),* $(,)?) => {
        $(
            mod $lang {
                use super::KvProbe;

                const PROBE: KvProbe = $probe;

                #[tokio::test]
                async fn every_operation_round_trips_through_the_store() {
                    super::every_operation_round_trips_through_the_store(PROBE).await
                }

                #[tokio::test]
                async fn keys_follows_the_cursor_past_the_first_page() {
                    super::keys_follows_the_cursor_past_the_first_page(PROBE).await
                }

                #[tokio::test]
                async fn a_write_that_returned_is_there_for_the_fresh_instance_after_a_trap() {
                    super::a_write_that_returned_is_there_for_the_fresh_instance_after_a_trap(PROBE)
                        .await
                }

                #[tokio::test]
                async fn committed_data_survives_a_new_host_on_the_same_file() {
                    super::committed_data_survives_a_new_host_on_the_same_file(PROBE).await
                }

                #[tokio::test]
                async fn a_bucket_not_granted_is_access_denied_and_a_child_without_grants_opens_nothing() {
                    super::a_bucket_not_granted_is_access_denied_and_a_child_without_grants_opens_nothing(PROBE)
                        .await
                }
            }
        )*
    };
}

each_probe! {
    rust => KvProbe::RUST,
    js => KvProbe::JS,
}

#[tokio::test]
async fn a_tree_without_grants_never_creates_the_database() {
    let dir = data_dir("untouched");
    let db = dir.join("arbor.db");
    let h = Harness::start_tree(kv_tree(KvProbe::RUST, &db, &[("bare", "")])).await;
    assert_eq!(
        h.call("bare", "set b k v").await,
        rejected("err(access-denied)")
    );
    h.node.shutdown().await;
    assert!(!db.exists(), "no grant, no database file");
}

#[tokio::test]
async fn keys_and_values_above_the_limits_are_refused_and_the_child_keeps_running() {
    let db = data_dir("limits").join("arbor.db");
    let h = Harness::start_tree(kv_tree(
        KvProbe::RUST,
        &db,
        &[("w", "keyvalue = [\"b\"]\nmax_memory_mb = 128")],
    ))
    .await;
    let key = "k".repeat(arbor::keyvalue::MAX_KEY_BYTES + 1);
    let Err(CallError::Rejected(text)) = h.call("w", &format!("set b {key} v")).await else {
        panic!("a long key is refused")
    };
    assert!(
        text.contains("the key is 4097 bytes, more than the limit of 4096 bytes"),
        "{text}"
    );
    let too_big = arbor::keyvalue::MAX_VALUE_BYTES + 1;
    let Err(CallError::Rejected(text)) = h.call("w", &format!("big b k {too_big}")).await else {
        panic!("a large value is refused")
    };
    assert!(
        text.contains("more than the limit of 16777216 bytes"),
        "{text}"
    );
    // At the limit it is stored.
    let at_limit = arbor::keyvalue::MAX_VALUE_BYTES;
    assert_eq!(
        h.call("w", &format!("big b k {at_limit}")).await.unwrap(),
        "ok"
    );
    assert_eq!(
        h.node
            .keyvalue()
            .get("b", "k")
            .await
            .unwrap()
            .map(|v| v.len()),
        Some(at_limit)
    );
    h.node.shutdown().await;
}

async fn start_error(tree: &TreeSpec) -> String {
    match Node::start(
        tree,
        NodeOptions {
            threads: 1,
            cache: user_cache(),
            ..NodeOptions::default()
        },
    )
    .await
    {
        Err(error @ NodeError::Store(_)) => error.to_string(),
        Err(other) => panic!("expected a store error, got {other}"),
        Ok(_) => panic!("the host started on a bad database"),
    }
}

#[tokio::test]
async fn a_corrupt_database_stops_the_start_naming_the_file_and_is_left_as_it_was() {
    let db = data_dir("corrupt").join("arbor.db");
    let garbage =
        b"this is not an SQLite database, but it is long enough to look like one?".repeat(100);
    std::fs::write(&db, &garbage).unwrap();
    let text = start_error(&kv_tree(KvProbe::RUST, &db, &[("w", "keyvalue = [\"b\"]")])).await;
    assert!(text.contains(&db.display().to_string()), "{text}");
    assert!(text.contains("file is not a database"), "{text}");
    assert!(text.contains("move it away to start empty"), "{text}");
    assert_eq!(std::fs::read(&db).unwrap(), garbage);
}

#[tokio::test]
async fn a_database_in_a_directory_it_cannot_write_stops_the_start_with_a_hint() {
    use std::os::unix::fs::PermissionsExt;
    let dir = data_dir("readonly");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    // root writes anywhere chmod forbids: then take a directory where no
    // one may create files (sysfs).
    let dir = if std::fs::write(dir.join("probe"), b"").is_ok() {
        PathBuf::from("/sys")
    } else {
        dir
    };
    let db = dir.join("arbor.db");
    let text = start_error(&kv_tree(KvProbe::RUST, &db, &[("w", "keyvalue = [\"b\"]")])).await;
    assert!(text.contains(&db.display().to_string()), "{text}");
    assert!(text.contains("unable to open database file"), "{text}");
    assert!(text.contains("this user may write to it"), "{text}");
}

/// Two children increment one key while a third task crashes them at
/// random: every increment that returned is counted once, none is lost,
/// and no two returned the same number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_increments_under_crash_injection_lose_no_update() {
    let db = data_dir("crashes").join("arbor.db");
    let grant = "keyvalue = [\"c\"]";
    let h = Arc::new(
        Harness::start_tree(kv_tree(KvProbe::RUST, &db, &[("a", grant), ("b", grant)])).await,
    );
    let done = Arc::new(AtomicBool::new(false));
    let crasher = crash_at_random(&h, &done);
    let incrementer = |name: &'static str| {
        let h = h.clone();
        tokio::spawn(async move {
            let mut returned = Vec::new();
            let mut failed = 0;
            for _ in 0..150 {
                match h.call(name, "incr c n 1").await {
                    Ok(n) => returned.push(n.parse::<u64>().unwrap()),
                    Err(_) => failed += 1,
                }
            }
            (returned, failed)
        })
    };
    let (a, b) = tokio::join!(incrementer("a"), incrementer("b"));
    done.store(true, Ordering::Relaxed);
    let crashes = crasher.await.unwrap();
    let ((mut returned, failed_a), (b_returned, failed_b)) = (a.unwrap(), b.unwrap());
    returned.extend(b_returned);
    returned.sort_unstable();
    let count = h.node.keyvalue().get("c", "n").await.unwrap().unwrap();
    let count: u64 = String::from_utf8(count).unwrap().parse().unwrap();
    assert!(crashes > 10, "the children were crashed ({crashes} times)");
    assert!(
        returned.len() > 100,
        "most increments returned ({failed_a} + {failed_b} failed)"
    );
    assert_eq!(
        count,
        returned.len() as u64,
        "the count is the increments that returned"
    );
    assert_eq!(
        returned,
        (1..=count).collect::<Vec<_>>(),
        "each returned number once"
    );
}

/// Crashes child `a` or `b` (a `crash` cast) every 2-9 ms until `done`;
/// the task answers how many crashes it sent.
fn crash_at_random(h: &Arc<Harness>, done: &Arc<AtomicBool>) -> tokio::task::JoinHandle<u32> {
    let (h, done) = (h.clone(), done.clone());
    tokio::spawn(async move {
        let mut crashes = 0;
        let mut seed = 0x2545_f491_u64;
        while !done.load(Ordering::Relaxed) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let target = if seed.is_multiple_of(2) { "a" } else { "b" };
            if h.node.cast(target, b"crash".to_vec()).is_ok() {
                crashes += 1;
            }
            tokio::time::sleep(Duration::from_millis(2 + seed % 8)).await;
        }
        crashes
    })
}

/// A guest written for Spin's key-value (`wasi:keyvalue@0.2.0-draft2`,
/// built from that draft's WIT with stock bindings) runs unchanged: its
/// signed increment, its `get-many` that answers every key, and its
/// string `list-keys` cursor across pages.
#[tokio::test]
async fn a_guest_written_for_spins_keyvalue_draft2_runs_unchanged() {
    let db = KvProbe::DRAFT2.database("runs-unchanged");
    let tree = kv_tree(KvProbe::DRAFT2, &db, &[("s", "keyvalue = [\"orders\"]")]);
    let h = Harness::start_tree(tree).await;
    assert_eq!(h.call("s", "set orders o1 paid").await.unwrap(), "ok");
    assert_eq!(h.call("s", "get orders o1").await.unwrap(), "paid");
    assert_eq!(h.call("s", "incr orders n -5").await.unwrap(), "-5");
    assert_eq!(h.call("s", "incr orders n 7").await.unwrap(), "2");
    assert_eq!(
        h.call("s", "get-many orders o1,gone").await.unwrap(),
        "o1=paid,gone?"
    );
    assert_eq!(h.call("s", "fill orders 2500").await.unwrap(), "ok");
    // 2,502 keys: pages of 1,000 by the last key seen.
    assert_eq!(
        h.call("s", "keys orders").await.unwrap(),
        "2502 keys in 3 pages"
    );
    assert_eq!(
        h.call("s", "get other k").await,
        rejected("err(access-denied)")
    );
    // The draft-1 view of the same data: the number is shared text.
    assert_eq!(
        h.node.keyvalue().get("orders", "n").await.unwrap(),
        Some(b"2".to_vec())
    );
    h.node.shutdown().await;
}

/// A swap through a handle whose value changed behind it is refused, and
/// the handle the refusal carries holds the value the key has now, so the
/// retry through it goes through.
#[tokio::test]
async fn a_stale_compare_and_swap_is_refused_and_its_retry_handle_holds_the_latest_value() {
    let db = KvProbe::DRAFT2.database("cas-stale");
    let tree = kv_tree(KvProbe::DRAFT2, &db, &[("s", "keyvalue = [\"c\"]")]);
    let h = Harness::start_tree(tree).await;
    assert_eq!(
        h.call("s", "cas-stale c k first").await.unwrap(),
        "refused, now first, then ok"
    );
    assert_eq!(h.call("s", "get c k").await.unwrap(), "fresh");
    h.node.shutdown().await;
}

/// Two children add to one key by compare-and-swap while crashed at
/// random: the key ends at exactly the additions that returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_swap_additions_under_crash_injection_lose_no_update() {
    let db = KvProbe::DRAFT2.database("cas-crashes");
    let grant = "keyvalue = [\"c\"]";
    let tree = kv_tree(KvProbe::DRAFT2, &db, &[("a", grant), ("b", grant)]);
    let h = Arc::new(Harness::start_tree(tree).await);
    let done = Arc::new(AtomicBool::new(false));
    let crasher = crash_at_random(&h, &done);
    const EACH: u64 = 5;
    let adder = |name: &'static str| {
        let h = h.clone();
        tokio::spawn(async move {
            let (mut added, mut lost_races, mut failed) = (0, 0, 0);
            for _ in 0..80 {
                match h.call(name, &format!("cas-add c n {EACH}")).await {
                    Ok(reply) => {
                        added += EACH;
                        let (_, lost) = reply.split_once(' ').unwrap();
                        lost_races += lost.parse::<u64>().unwrap();
                    }
                    Err(_) => failed += 1,
                }
            }
            (added, lost_races, failed)
        })
    };
    let (a, b) = tokio::join!(adder("a"), adder("b"));
    done.store(true, Ordering::Relaxed);
    let crashes = crasher.await.unwrap();
    let ((added_a, lost_a, failed_a), (added_b, lost_b, failed_b)) = (a.unwrap(), b.unwrap());
    let value = h.node.keyvalue().get("c", "n").await.unwrap().unwrap();
    let value: u64 = String::from_utf8(value).unwrap().parse().unwrap();
    assert!(crashes > 10, "the children were crashed ({crashes} times)");
    assert!(
        lost_a + lost_b > 0,
        "the children raced (no swap ever lost)"
    );
    assert!(
        added_a + added_b > 100 * EACH,
        "most additions returned ({failed_a} + {failed_b} failed)"
    );
    assert_eq!(
        value,
        added_a + added_b,
        "the key is the additions that returned ({} swaps lost a race and retried)",
        lost_a + lost_b
    );
}
