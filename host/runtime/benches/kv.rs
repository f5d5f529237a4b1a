//! Durable state figures: `set`, `get` and `increment` rates through a
//! guest's `wasi:keyvalue` calls (the key-value probe, each call a round
//! trip to the store's thread; a `set` answers once fsynced, at
//! `synchronous = FULL` in WAL mode), next to the same operations on a
//! plain rusqlite connection from Rust with the same settings in the same
//! run: the floor, what the disk allows one writer. With 8 children
//! setting at once, group commit shares each fsync among their writes.
//!
//! `cargo bench --bench kv` prints one `metric NAME VALUE UNIT # what`
//! line per figure; `-- --quick` runs few operations, as does any run
//! without `cargo bench`'s `--bench` flag (CI's `cargo test --workspace
//! --benches`), so that the benchmark cannot rot. Never read these as
//! pass/fail thresholds.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arbor::compile_cache::CompileCache;
use arbor::{Node, NodeOptions, TreeSpec};
use arbor_guest_artifacts::KV_PROBE;
use rusqlite::{Connection, OptionalExtension, params};

fn metric(name: &str, value: f64, unit: &str, what: &str) {
    println!("metric {name} {value:.2} {unit} # {what}");
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arbor-kv-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch dir");
    dir.join("arbor.db")
}

async fn start(db: &Path, children: usize) -> Node {
    let mut text = format!(
        "[components]\nkv = {KV_PROBE:?}\n\n[node]\ndata = {:?}\n\n[supervisor]\nname = \"root\"\n",
        db.display().to_string()
    );
    for i in 0..children {
        text.push_str(&format!(
            "\n[[supervisor.children]]\nname = \"w{i}\"\ncomponent = \"kv\"\nkeyvalue = [\"bench\"]\ntimeout_ms = 600000\n"
        ));
    }
    let tree = TreeSpec::parse(Path::new("bench.toml"), &text).expect("bench tree");
    Node::start(
        &tree,
        NodeOptions {
            threads: 2,
            cache: CompileCache::user_default(|name| std::env::var_os(name)),
            ..NodeOptions::default()
        },
    )
    .await
    .expect("starts")
}

/// Operations per second of `repeat OP bench N` in each of `children`
/// children at once.
async fn through_guest(node: &Node, children: usize, op: &str, n: usize) -> f64 {
    let started = Instant::now();
    let names: Vec<String> = (0..children).map(|i| format!("w{i}")).collect();
    let calls = names.iter().map(|name| {
        let message = format!("repeat {op} bench {n}").into_bytes();
        node.call_with_timeout(name, message, Duration::from_secs(600))
    });
    for reply in futures_util::future::join_all(calls).await {
        reply.expect("the repeat call succeeds");
    }
    (children * n) as f64 / started.elapsed().as_secs_f64()
}

/// The floor: the same operations on one rusqlite connection, WAL mode,
/// `synchronous = FULL`, each write its own transaction.
fn plain_sqlite(db: &Path, n: usize) -> [f64; 2] {
    let connection = Connection::open(db).expect("open");
    connection
        .query_row("PRAGMA journal_mode = WAL", [], |row| {
            row.get::<_, String>(0)
        })
        .expect("wal");
    connection
        .pragma_update(None, "synchronous", "FULL")
        .expect("full");
    connection
        .execute_batch(
            "CREATE TABLE kv (bucket TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (bucket, key))",
        )
        .expect("schema");
    let rate = |f: &mut dyn FnMut(usize)| {
        let started = Instant::now();
        for i in 0..n {
            f(i);
        }
        n as f64 / started.elapsed().as_secs_f64()
    };
    let set = rate(&mut |i| {
        connection
            .prepare_cached(
                "INSERT OR REPLACE INTO kv (bucket, key, value) VALUES ('bench', ?1, ?2)",
            )
            .unwrap()
            .execute(params![
                format!("k{i}"),
                b"value of a benchmark key".as_slice()
            ])
            .unwrap();
    });
    let increment = rate(&mut |_| {
        connection.execute_batch("BEGIN IMMEDIATE").unwrap();
        let current: Option<Vec<u8>> = connection
            .prepare_cached("SELECT value FROM kv WHERE bucket = 'bench' AND key = 'n'")
            .unwrap()
            .query_row([], |row| row.get(0))
            .optional()
            .unwrap();
        let n: u64 = current
            .map(|v| String::from_utf8(v).unwrap().parse().unwrap())
            .unwrap_or(0);
        connection
            .prepare_cached(
                "INSERT OR REPLACE INTO kv (bucket, key, value) VALUES ('bench', 'n', ?1)",
            )
            .unwrap()
            .execute(params![(n + 1).to_string().into_bytes()])
            .unwrap();
        connection.execute_batch("COMMIT").unwrap();
    });
    [set, increment]
}

fn main() {
    // `cargo bench` passes `--bench`; run any other way (`cargo test
    // --benches`, as CI does), a benchmark only checks that it still runs.
    let quick =
        std::env::args().any(|a| a == "--quick") || !std::env::args().any(|a| a == "--bench");
    let writes = if quick { 100 } else { 2_000 };
    let reads = if quick { 200 } else { 50_000 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let [floor_set, floor_incr] = plain_sqlite(&scratch("floor"), writes);
    let floor_get = plain_sqlite_get(&scratch("floor-get"), reads);
    runtime.block_on(async {
        let db = scratch("guest");
        let node = start(&db, 8).await;
        let set = through_guest(&node, 1, "set", writes).await;
        let get = through_guest(&node, 1, "get", reads).await;
        let incr = through_guest(&node, 1, "incr", writes).await;
        let set8 = through_guest(&node, 8, "set", writes).await;
        node.shutdown().await;
        metric(
            "kv_guest_set",
            set,
            "ops/s",
            "one guest, sequential sets, each answered once fsynced",
        );
        metric(
            "kv_sqlite_set",
            floor_set,
            "ops/s",
            "plain rusqlite, one autocommit insert per set (the floor)",
        );
        metric(
            "kv_set_ratio",
            set / floor_set,
            "x",
            "guest set rate / plain SQLite set rate",
        );
        metric("kv_guest_get", get, "ops/s", "one guest, sequential gets");
        metric(
            "kv_sqlite_get",
            floor_get,
            "ops/s",
            "plain rusqlite, one select per get (the floor)",
        );
        metric(
            "kv_get_ratio",
            get / floor_get,
            "x",
            "guest get rate / plain SQLite get rate",
        );
        metric(
            "kv_guest_increment",
            incr,
            "ops/s",
            "one guest, sequential atomic increments, each fsynced",
        );
        metric(
            "kv_sqlite_increment",
            floor_incr,
            "ops/s",
            "plain rusqlite, read and write in one transaction per increment",
        );
        metric(
            "kv_increment_ratio",
            incr / floor_incr,
            "x",
            "guest increment rate / plain SQLite increment rate",
        );
        metric(
            "kv_guest_set_8_children",
            set8,
            "ops/s",
            "8 guests setting at once: group commit shares fsyncs",
        );
        metric(
            "kv_set_8_children_ratio",
            set8 / floor_set,
            "x",
            "8 guests' set rate / plain SQLite set rate",
        );
    });
}

/// The floor's get rate over `n` reads of a table with 100 keys.
fn plain_sqlite_get(db: &Path, n: usize) -> f64 {
    let connection = Connection::open(db).expect("open");
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE kv (bucket TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (bucket, key));
             BEGIN;",
        )
        .expect("schema");
    for i in 0..100 {
        connection
            .execute(
                "INSERT INTO kv VALUES ('bench', ?1, ?2)",
                params![format!("k{i}"), b"value of a benchmark key".as_slice()],
            )
            .expect("insert");
    }
    connection.execute_batch("COMMIT").expect("commit");
    let started = Instant::now();
    for i in 0..n {
        let _: Option<Vec<u8>> = connection
            .prepare_cached("SELECT value FROM kv WHERE bucket = 'bench' AND key = ?1")
            .unwrap()
            .query_row(params![format!("k{}", i % 100)], |row| row.get(0))
            .optional()
            .unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}
