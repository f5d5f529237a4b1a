//! README "Durable state": `wasi:keyvalue` on the host's SQLite store, through
//! the key-value probe (`guests/kv_probe`, stock `wit-bindgen` bindings of
//! the standard WIT). Each test has a database of its own.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arbor::{CallError, EventKind, Node, NodeError, NodeOptions, TreeSpec};

use crate::support::{Harness, root, user_cache, warm};

const KV_PROBE: &str = arbor_guest_artifacts::KV_PROBE;

/// A fresh directory for one test's database.
fn data_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arbor-kv-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A tree of kv probes, `[node] data` at `db`; `workers` are (name, settings).
fn kv_tree(db: &Path, workers: &[(&str, &str)]) -> TreeSpec {
    warm(KV_PROBE);
    let mut tree = root("max_restarts = 1000\nmax_seconds = 1");
    for (name, settings) in workers {
        tree = tree.worker_of(name, "kv", settings);
    }
    let text = format!(
        "[components]\nkv = {KV_PROBE:?}\n\n[node]\ndata = {:?}\n\n{}",
        db.display().to_string(),
        tree.text()
    );
    TreeSpec::parse(Path::new("kv-tree.toml"), &text).expect("a valid tree")
}

fn rejected(text: &str) -> Result<String, CallError> {
    Err(CallError::Rejected(text.to_string()))
}

#[tokio::test]
async fn a_write_that_returned_is_there_for_the_fresh_instance_after_a_trap() {
    let db = data_dir("trap").join("arbor.db");
    let mut h = Harness::start_tree(kv_tree(&db, &[("w", "keyvalue = [\"orders\"]")])).await;
    assert_eq!(h.call("w", "set orders o1 paid").await.unwrap(), "ok");
    assert_eq!(h.call("w", "incr orders n 3").await.unwrap(), "3");
    assert!(h.call("w", "crash").await.is_err());
    h.wait_event(EventKind::ChildRestarted, "root/w", None)
        .await;
    assert_eq!(h.call("w", "get orders o1").await.unwrap(), "paid");
    assert_eq!(h.call("w", "incr orders n 1").await.unwrap(), "4");
    assert_eq!(h.call("w", "keys orders").await.unwrap(), "n,o1");
    h.node.shutdown().await;
}

#[tokio::test]
async fn committed_data_survives_a_new_host_on_the_same_file() {
    let db = data_dir("restart").join("arbor.db");
    let h = Harness::start_tree(kv_tree(&db, &[("w", "keyvalue = [\"b\"]")])).await;
    assert_eq!(h.call("w", "set b k before").await.unwrap(), "ok");
    assert_eq!(h.call("w", "set-many b x=1,y=2").await.unwrap(), "ok");
    h.node.shutdown().await;
    let h = Harness::start_tree(kv_tree(&db, &[("w", "keyvalue = [\"b\"]")])).await;
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

#[tokio::test]
async fn a_bucket_not_granted_is_access_denied_and_a_child_without_grants_opens_nothing() {
    let dir = data_dir("grants");
    let db = dir.join("arbor.db");
    let h = Harness::start_tree(kv_tree(
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
        h.call("bare", "get orders o1").await,
        rejected("err(access-denied)")
    );
    // The refusal is a reply, not a crash: the child keeps serving.
    assert_eq!(h.call("granted", "set orders a 1").await.unwrap(), "ok");
    h.node.shutdown().await;
}

#[tokio::test]
async fn a_tree_without_grants_never_creates_the_database() {
    let dir = data_dir("untouched");
    let db = dir.join("arbor.db");
    let h = Harness::start_tree(kv_tree(&db, &[("bare", "")])).await;
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
    let text = start_error(&kv_tree(&db, &[("w", "keyvalue = [\"b\"]")])).await;
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
    let text = start_error(&kv_tree(&db, &[("w", "keyvalue = [\"b\"]")])).await;
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
    let h = Arc::new(Harness::start_tree(kv_tree(&db, &[("a", grant), ("b", grant)])).await);
    let done = Arc::new(AtomicBool::new(false));
    let crasher = {
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
    };
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
