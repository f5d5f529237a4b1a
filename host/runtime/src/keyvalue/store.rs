//! The host's one SQLite database and the two threads that own its
//! connections: a writer, which commits in groups, and a reader.
//!
//! Every guest's `wasi:keyvalue` call and every `arbor ctl kv` command
//! becomes an [`Op`] sent over a channel to one of the threads, so no
//! SQLite I/O (above all no fsync) ever runs on a tokio scheduler thread.
//! The writer takes every request waiting in its channel as one batch, runs
//! them in one transaction (each in a savepoint, so one refused operation
//! does not undo its neighbours) and answers each only once `COMMIT` has
//! returned: with `synchronous = FULL` in WAL mode (the default), once the
//! WAL is fsynced; with `[node] data_sync = "normal"`, once it is in the
//! WAL file (a killed host keeps it; an OS crash may not).
//! Children writing at the same time thus share fsyncs (group commit), and
//! a write that returned is on disk. Reads go to the reader's connection,
//! which sees every committed write (WAL readers see the latest commit when
//! their transaction starts) without waiting behind the writer's fsync.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::oneshot;

use super::{KvError, LIST_PAGE, check_key, check_value};
use crate::spec::DataSync;

/// At most this many requests share one transaction: enough to amortise an
/// fsync across every child of a busy host, few enough that one batch
/// holds the write lock for milliseconds, not seconds.
const MAX_BATCH: usize = 512;

/// How long a connection waits for a lock another process holds (an
/// operator's `sqlite3` shell writing, say) before the operation fails.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The schema: one table, documented in the README (Durable state).
/// `user_version` 1 marks a database this version of Arbor made.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    bucket TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  BLOB NOT NULL,
    PRIMARY KEY (bucket, key)
);
";
const SCHEMA_VERSION: i64 = 1;

/// One operation on the store.
#[derive(Debug)]
pub(crate) enum Op {
    Get {
        bucket: String,
        key: String,
    },
    Exists {
        bucket: String,
        key: String,
    },
    Set {
        bucket: String,
        key: String,
        value: Vec<u8>,
    },
    Delete {
        bucket: String,
        key: String,
    },
    ListKeys {
        bucket: String,
        cursor: KeyCursor,
    },
    Increment {
        bucket: String,
        key: String,
        /// Either draft's delta (u64 or s64) fits.
        delta: i128,
        range: NumberRange,
    },
    /// Sets `key` to `value` if it still holds `expected` (`None`: absent).
    Swap {
        bucket: String,
        key: String,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    },
    GetMany {
        bucket: String,
        keys: Vec<String>,
    },
    SetMany {
        bucket: String,
        pairs: Vec<(String, Vec<u8>)>,
    },
    DeleteMany {
        bucket: String,
        keys: Vec<String>,
    },
}

impl Op {
    /// Whether the operation only reads (and so goes to the reader).
    fn reads(&self) -> bool {
        matches!(
            self,
            Op::Get { .. } | Op::Exists { .. } | Op::ListKeys { .. } | Op::GetMany { .. }
        )
    }

    /// Key and value limits, checked before the request is queued.
    fn check(&self) -> Result<(), KvError> {
        match self {
            Op::Get { key, .. }
            | Op::Exists { key, .. }
            | Op::Delete { key, .. }
            | Op::Increment { key, .. } => check_key(key),
            Op::Set { key, value, .. } | Op::Swap { key, value, .. } => {
                check_key(key)?;
                check_value(value)
            }
            Op::ListKeys { .. } => Ok(()),
            Op::GetMany { keys, .. } | Op::DeleteMany { keys, .. } => {
                keys.iter().try_for_each(|k| check_key(k))
            }
            Op::SetMany { pairs, .. } => pairs.iter().try_for_each(|(k, v)| {
                check_key(k)?;
                check_value(v)
            }),
        }
    }
}

/// What an [`Op`] answered.
#[derive(Debug)]
pub(crate) enum Answer {
    Value(Option<Vec<u8>>),
    Bool(bool),
    Done,
    Keys {
        keys: Vec<String>,
        next: Option<KeyCursor>,
    },
    Number(i128),
    Values(Vec<Option<(String, Vec<u8>)>>),
    /// The swap was committed.
    Swapped,
    /// The key no longer held what the swap expected; this is what it holds.
    Conflict(Option<Vec<u8>>),
}

/// Where a `list-keys` page starts. The two drafts of `wasi:keyvalue`
/// page differently: `0.2.0-draft` by a number (here: how many keys came
/// before), `0.2.0-draft2` by a string (here: the last key of the page
/// before, which stays right when keys are added or removed between pages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyCursor {
    /// Skip this many keys.
    Offset(u64),
    /// The first page, with string cursors after it.
    First,
    /// The keys after this one.
    After(String),
}

/// The numbers an `increment` may produce: `0.2.0-draft` counts in a u64,
/// `0.2.0-draft2` in an s64. Both store the number as decimal text, so
/// either draft (and `arbor ctl kv`, and `sqlite3`) reads the other's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumberRange {
    U64,
    I64,
}

impl NumberRange {
    fn holds(self, n: i128) -> bool {
        match self {
            NumberRange::U64 => u64::try_from(n).is_ok(),
            NumberRange::I64 => i64::try_from(n).is_ok(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            NumberRange::U64 => "u64",
            NumberRange::I64 => "s64",
        }
    }
}

struct Request {
    op: Op,
    reply: oneshot::Sender<Result<Answer, KvError>>,
}

/// The two threads' request channels. Dropping it ends the threads, which
/// close their connections (the last one checkpoints the WAL).
struct Lanes {
    writer: mpsc::Sender<Request>,
    reader: mpsc::Sender<Request>,
}

/// The durable store of one host: the database at one path, opened on
/// first use (or at start, when the tree grants any bucket).
pub struct KvStore {
    path: PathBuf,
    sync: DataSync,
    /// `None` until opened; a failed open is not remembered, so the next
    /// use tries again (an operator may have fixed the file meanwhile).
    lanes: Mutex<Option<Arc<Lanes>>>,
}

impl std::fmt::Debug for KvStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvStore").field("path", &self.path).finish()
    }
}

impl KvStore {
    /// The store at `path`, durable as `synchronous = FULL` says; nothing
    /// is opened or created yet.
    pub fn new(path: impl Into<PathBuf>) -> KvStore {
        KvStore {
            path: path.into(),
            sync: DataSync::Full,
            lanes: Mutex::new(None),
        }
    }

    /// The same store, its writes durable as `sync` says (before it opens).
    pub fn with_sync(mut self, sync: DataSync) -> KvStore {
        self.sync = sync;
        self
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens (creating when missing) the database and starts its threads,
    /// unless done already: a corrupt file, a directory it cannot write,
    /// a full disk are errors here, naming the file.
    pub fn open(&self) -> Result<(), KvError> {
        self.lanes().map(drop)
    }

    fn lanes(&self) -> Result<Arc<Lanes>, KvError> {
        let mut lanes = self.lanes.lock().expect("the store lock is never poisoned");
        if let Some(open) = &*lanes {
            return Ok(open.clone());
        }
        let open_error = |message: String| KvError::Open {
            path: self.path.clone(),
            message,
        };
        let writer = open_writer(&self.path, self.sync).map_err(open_error)?;
        let reader = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|c| c.busy_timeout(BUSY_TIMEOUT).map(|()| c))
        .map_err(|e| open_error(describe(&e)))?;
        let spawn = |name: &str, connection: Connection, write: bool| {
            let (tx, rx) = mpsc::channel();
            std::thread::Builder::new()
                .name(name.to_string())
                .spawn(move || serve(connection, rx, write))
                .map(|_| tx)
                .map_err(|e| KvError::Open {
                    path: self.path.clone(),
                    message: format!("cannot start its thread: {e}"),
                })
        };
        let open = Arc::new(Lanes {
            writer: spawn("arbor-kv-writer", writer, true)?,
            reader: spawn("arbor-kv-reader", reader, false)?,
        });
        *lanes = Some(open.clone());
        Ok(open)
    }

    /// Runs `op`, answering once it is committed (for a write) or read.
    pub(crate) async fn run(&self, op: Op) -> Result<Answer, KvError> {
        op.check()?;
        let lanes = self.lanes()?;
        let lane = if op.reads() {
            &lanes.reader
        } else {
            &lanes.writer
        };
        let (reply, answer) = oneshot::channel();
        lane.send(Request { op, reply })
            .map_err(|_| KvError::Stopped)?;
        drop(lanes);
        answer.await.map_err(|_| KvError::Stopped)?
    }

    /// The value of `key` in `bucket`.
    pub async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let op = Op::Get {
            bucket: bucket.to_string(),
            key: key.to_string(),
        };
        match self.run(op).await? {
            Answer::Value(value) => Ok(value),
            other => unreachable_answer(other),
        }
    }

    /// Sets `key` in `bucket`; returns once committed.
    pub async fn set(&self, bucket: &str, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        let op = Op::Set {
            bucket: bucket.to_string(),
            key: key.to_string(),
            value,
        };
        self.run(op).await.map(drop)
    }

    /// Adds `delta` to the number `key` holds (0 when missing); returns
    /// the new number once committed.
    pub async fn increment(&self, bucket: &str, key: &str, delta: u64) -> Result<u64, KvError> {
        let op = Op::Increment {
            bucket: bucket.to_string(),
            key: key.to_string(),
            delta: i128::from(delta),
            range: NumberRange::U64,
        };
        match self.run(op).await? {
            Answer::Number(n) => Ok(u64::try_from(n).expect("the store keeps a u64 in range")),
            other => unreachable_answer(other),
        }
    }

    /// Every key of `bucket`, in order.
    pub async fn keys(&self, bucket: &str) -> Result<Vec<String>, KvError> {
        let mut all = Vec::new();
        let mut cursor = KeyCursor::First;
        loop {
            let op = Op::ListKeys {
                bucket: bucket.to_string(),
                cursor,
            };
            match self.run(op).await? {
                Answer::Keys { keys, next } => {
                    all.extend(keys);
                    match next {
                        Some(next) => cursor = next,
                        None => return Ok(all),
                    }
                }
                other => return unreachable_answer(other),
            }
        }
    }
}

/// The threads answer each op with its own kind of answer.
pub(crate) fn unreachable_answer<T>(answer: Answer) -> Result<T, KvError> {
    Err(KvError::Store(format!(
        "internal error: unexpected answer {answer:?}"
    )))
}

/// Opens the writer's connection, creating the file and the schema when
/// missing, in WAL mode with `synchronous` as `sync` says.
fn open_writer(path: &Path, sync: DataSync) -> Result<Connection, String> {
    let sql = |e: rusqlite::Error| describe(&e);
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql)?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
    // The first statement that reads the file: a file that is not a
    // database fails here, before anything is written to it.
    let mode: String = connection
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(sql)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!(
            "cannot switch to WAL mode (journal_mode is {mode})"
        ));
    }
    connection
        .pragma_update(None, "synchronous", sync.as_str())
        .map_err(sql)?;
    let version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(sql)?;
    if version > SCHEMA_VERSION {
        return Err(format!(
            "its schema version is {version}, newer than this Arbor's ({SCHEMA_VERSION})"
        ));
    }
    connection.execute_batch(SCHEMA).map_err(sql)?;
    if version == 0 {
        connection
            .pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(sql)?;
    }
    Ok(connection)
}

/// A thread's loop: takes whatever is queued as one batch, runs it in one
/// transaction, answers each request once the transaction ended.
fn serve(connection: Connection, requests: mpsc::Receiver<Request>, write: bool) {
    while let Ok(first) = requests.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let answers = run_batch(&connection, &batch, write);
        for (request, answer) in batch.into_iter().zip(answers) {
            // The caller may have gone (its child crashed): nothing to tell.
            let _ = request.reply.send(answer);
        }
    }
}

fn run_batch(
    connection: &Connection,
    batch: &[Request],
    write: bool,
) -> Vec<Result<Answer, KvError>> {
    let fail_all = |e: &rusqlite::Error| {
        batch
            .iter()
            .map(|_| Err(KvError::Store(describe(e))))
            .collect()
    };
    // IMMEDIATE: take the write lock now, not at the first write, so a
    // batch cannot fail half-way on a lock another process took.
    let begin = if write { "BEGIN IMMEDIATE" } else { "BEGIN" };
    if let Err(e) = connection.execute_batch(begin) {
        return fail_all(&e);
    }
    let mut answers = Vec::with_capacity(batch.len());
    for request in batch {
        if !write {
            answers.push(apply(connection, &request.op));
            continue;
        }
        if let Err(e) = connection.execute_batch("SAVEPOINT op") {
            answers.push(Err(KvError::Store(describe(&e))));
            continue;
        }
        let answer = apply(connection, &request.op);
        if let Err(error) = &answer
            && connection.is_autocommit()
        {
            // SQLite rolled the whole transaction back (a full disk, an I/O
            // error do): the batch's earlier writes are gone with it, so
            // they fail too; the rest of the batch starts a new one.
            for earlier in answers.iter_mut() {
                if earlier.is_ok() {
                    *earlier = Err(KvError::Store(format!(
                        "rolled back with its batch, nothing was written: {error}"
                    )));
                }
            }
            answers.push(answer);
            if let Err(e) = connection.execute_batch(begin) {
                let rest = batch.len() - answers.len();
                answers.extend((0..rest).map(|_| Err(KvError::Store(describe(&e)))));
                return answers;
            }
            continue;
        }
        let end = if answer.is_ok() {
            "RELEASE op"
        } else {
            "ROLLBACK TO op; RELEASE op"
        };
        match connection.execute_batch(end) {
            Ok(()) => answers.push(answer),
            Err(e) => answers.push(Err(KvError::Store(describe(&e)))),
        }
    }
    match connection.execute_batch("COMMIT") {
        Ok(()) => answers,
        Err(e) => {
            // Nothing of the batch is committed: every write fails, and the
            // data committed before it is untouched.
            if !connection.is_autocommit() {
                let _ = connection.execute_batch("ROLLBACK");
            }
            let why = format!("the commit failed, nothing was written: {}", describe(&e));
            answers
                .into_iter()
                .map(|answer| answer.and(Err(KvError::Store(why.clone()))))
                .collect()
        }
    }
}

/// Runs one op inside the current transaction.
fn apply(connection: &Connection, op: &Op) -> Result<Answer, KvError> {
    apply_sql(connection, op).map_err(|e| match e {
        Failure::Kv(kv) => kv,
        Failure::Sql(sql) => KvError::Store(describe(&sql)),
    })
}

enum Failure {
    Kv(KvError),
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Failure::Sql(e)
    }
}

fn read(connection: &Connection, bucket: &str, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    connection
        .prepare_cached("SELECT value FROM kv WHERE bucket = ?1 AND key = ?2")?
        // Text or blob: an operator's `sqlite3` UPDATE may store text.
        .query_row(params![bucket, key], |row| {
            Ok(row.get_ref(0)?.as_bytes().map(<[u8]>::to_vec)?)
        })
        .optional()
}

fn write(connection: &Connection, bucket: &str, key: &str, value: &[u8]) -> rusqlite::Result<()> {
    connection
        .prepare_cached("INSERT OR REPLACE INTO kv (bucket, key, value) VALUES (?1, ?2, ?3)")?
        .execute(params![bucket, key, value])
        .map(drop)
}

fn delete(connection: &Connection, bucket: &str, key: &str) -> rusqlite::Result<()> {
    connection
        .prepare_cached("DELETE FROM kv WHERE bucket = ?1 AND key = ?2")?
        .execute(params![bucket, key])
        .map(drop)
}

fn apply_sql(connection: &Connection, op: &Op) -> Result<Answer, Failure> {
    Ok(match op {
        Op::Get { bucket, key } => Answer::Value(read(connection, bucket, key)?),
        Op::Exists { bucket, key } => Answer::Bool(
            connection
                .prepare_cached("SELECT 1 FROM kv WHERE bucket = ?1 AND key = ?2")?
                .exists(params![bucket, key])?,
        ),
        Op::Set { bucket, key, value } => {
            write(connection, bucket, key, value)?;
            Answer::Done
        }
        Op::Delete { bucket, key } => {
            delete(connection, bucket, key)?;
            Answer::Done
        }
        Op::ListKeys { bucket, cursor } => {
            let page = LIST_PAGE as i64;
            let keys = match cursor {
                KeyCursor::Offset(skip) => connection
                    .prepare_cached(
                        "SELECT key FROM kv WHERE bucket = ?1 ORDER BY key LIMIT ?2 OFFSET ?3",
                    )?
                    .query_map(
                        params![bucket, page, i64::try_from(*skip).unwrap_or(i64::MAX)],
                        |row| row.get(0),
                    )?
                    .collect::<rusqlite::Result<Vec<String>>>()?,
                KeyCursor::First => connection
                    .prepare_cached("SELECT key FROM kv WHERE bucket = ?1 ORDER BY key LIMIT ?2")?
                    .query_map(params![bucket, page], |row| row.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?,
                KeyCursor::After(last) => connection
                    .prepare_cached(
                        "SELECT key FROM kv WHERE bucket = ?1 AND key > ?3 ORDER BY key LIMIT ?2",
                    )?
                    .query_map(params![bucket, page, last], |row| row.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?,
            };
            let next = (keys.len() == LIST_PAGE).then(|| match cursor {
                KeyCursor::Offset(skip) => KeyCursor::Offset(skip + LIST_PAGE as u64),
                KeyCursor::First | KeyCursor::After(_) => {
                    KeyCursor::After(keys.last().expect("a full page").clone())
                }
            });
            Answer::Keys { keys, next }
        }
        Op::Increment {
            bucket,
            key,
            delta,
            range,
        } => {
            let current = match read(connection, bucket, key)? {
                None => 0,
                Some(bytes) => std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|text| text.parse::<i128>().ok())
                    .ok_or_else(|| Failure::Kv(KvError::NotANumber(key.clone())))?,
            };
            let new = current
                .checked_add(*delta)
                .filter(|n| range.holds(*n))
                .ok_or_else(|| {
                    Failure::Kv(KvError::OutOfRange {
                        key: key.clone(),
                        range: range.name(),
                    })
                })?;
            write(connection, bucket, key, new.to_string().as_bytes())?;
            Answer::Number(new)
        }
        Op::Swap {
            bucket,
            key,
            expected,
            value,
        } => {
            let current = read(connection, bucket, key)?;
            if current == *expected {
                write(connection, bucket, key, value)?;
                Answer::Swapped
            } else {
                Answer::Conflict(current)
            }
        }
        Op::GetMany { bucket, keys } => Answer::Values(
            keys.iter()
                .map(|key| {
                    read(connection, bucket, key).map(|v| v.map(|value| (key.clone(), value)))
                })
                .collect::<rusqlite::Result<_>>()?,
        ),
        Op::SetMany { bucket, pairs } => {
            for (key, value) in pairs {
                write(connection, bucket, key, value)?;
            }
            Answer::Done
        }
        Op::DeleteMany { bucket, keys } => {
            for key in keys {
                delete(connection, bucket, key)?;
            }
            Answer::Done
        }
    })
}

/// SQLite's error on one line, with a hint for the ones an operator fixes.
fn describe(error: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode;
    let hint = match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            " (the file is not an SQLite database, or is corrupt: move it away to start empty, or restore a backup)"
        }
        Some(ErrorCode::DatabaseCorrupt) => {
            " (the database is corrupt: restore a backup, or try `sqlite3 FILE .recover`)"
        }
        Some(ErrorCode::CannotOpen) => {
            " (check that the directory exists and this user may write to it: SQLite creates the file and its -wal and -shm files there)"
        }
        Some(ErrorCode::ReadOnly) => " (the file or its directory is read-only)",
        Some(ErrorCode::DiskFull) => " (the disk is full; nothing of this write was committed)",
        Some(ErrorCode::SystemIoFailure) => {
            " (writing the file failed: a full disk, a file-size limit or a failing device; nothing of this write was committed)"
        }
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            " (another process holds a lock on it)"
        }
        _ => "",
    };
    format!("{error}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("arbor-kv-unit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("arbor.db")
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn a_committed_write_is_read_back_by_a_new_store_on_the_same_file() {
        let path = temp_db("reopen");
        runtime().block_on(async {
            let store = KvStore::new(&path);
            store.set("b", "k", b"v1".to_vec()).await.unwrap();
            assert_eq!(store.increment("b", "n", 5).await.unwrap(), 5);
            drop(store);
            let again = KvStore::new(&path);
            assert_eq!(again.get("b", "k").await.unwrap(), Some(b"v1".to_vec()));
            assert_eq!(again.increment("b", "n", 2).await.unwrap(), 7);
            assert_eq!(again.keys("b").await.unwrap(), ["k", "n"]);
            // Buckets are apart.
            assert_eq!(again.get("other", "k").await.unwrap(), None);
        });
    }

    #[test]
    fn concurrent_increments_each_count_once() {
        let path = temp_db("concurrent");
        runtime().block_on(async {
            let store = Arc::new(KvStore::new(&path));
            let tasks: Vec<_> = (0..200)
                .map(|_| {
                    let store = store.clone();
                    async move { store.increment("b", "n", 1).await.unwrap() }
                })
                .collect();
            let mut seen = futures_util::future::join_all(tasks).await;
            seen.sort();
            assert_eq!(seen, (1..=200).collect::<Vec<u64>>());
        });
    }

    #[test]
    fn a_refused_op_in_a_batch_does_not_undo_its_neighbours() {
        let path = temp_db("batch");
        runtime().block_on(async {
            let store = Arc::new(KvStore::new(&path));
            store.set("b", "text", b"abc".to_vec()).await.unwrap();
            let (a, bad, c) = tokio::join!(
                store.set("b", "x", b"1".to_vec()),
                store.increment("b", "text", 1),
                store.set("b", "y", b"2".to_vec()),
            );
            a.unwrap();
            c.unwrap();
            assert!(matches!(bad, Err(KvError::NotANumber(_))), "{bad:?}");
            assert_eq!(store.get("b", "y").await.unwrap(), Some(b"2".to_vec()));
            assert_eq!(store.get("b", "text").await.unwrap(), Some(b"abc".to_vec()));
        });
    }

    #[test]
    fn keys_and_values_above_the_limits_are_refused_before_the_store() {
        let path = temp_db("limits");
        runtime().block_on(async {
            let store = KvStore::new(&path);
            let key = "k".repeat(crate::keyvalue::MAX_KEY_BYTES + 1);
            let err = store.set("b", &key, vec![]).await.unwrap_err();
            assert_eq!(err, KvError::KeyTooLarge { size: key.len() });
            let value = vec![0; crate::keyvalue::MAX_VALUE_BYTES + 1];
            let err = store.set("b", "k", value).await.unwrap_err();
            assert!(err.to_string().contains("more than the limit"), "{err}");
            // Nothing was opened for them.
            assert!(!path.exists());
        });
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_naming_it_and_left_alone() {
        let path = temp_db("corrupt");
        let garbage = vec![0x5a; 8192];
        std::fs::write(&path, &garbage).unwrap();
        let err = KvStore::new(&path).open().unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("not an SQLite database"), "{text}");
        assert_eq!(std::fs::read(&path).unwrap(), garbage);
    }

    fn list(store: &KvStore, cursor: KeyCursor, rt: &tokio::runtime::Runtime) -> Answer {
        rt.block_on(store.run(Op::ListKeys {
            bucket: "b".into(),
            cursor,
        }))
        .unwrap()
    }

    #[test]
    fn a_key_cursor_pages_on_from_the_last_key_even_when_keys_change_between_pages() {
        let path = temp_db("cursor");
        let rt = runtime();
        let store = KvStore::new(&path);
        rt.block_on(async {
            for i in 0..LIST_PAGE + 5 {
                store.set("b", &format!("k{i:05}"), vec![]).await.unwrap();
            }
        });
        let Answer::Keys { keys, next } = list(&store, KeyCursor::First, &rt) else {
            panic!("keys")
        };
        assert_eq!(keys.len(), LIST_PAGE);
        assert_eq!(
            next,
            Some(KeyCursor::After(format!("k{:05}", LIST_PAGE - 1)))
        );
        // A key added before the cursor neither repeats nor hides one after.
        rt.block_on(store.set("b", "a-first", vec![])).unwrap();
        let Answer::Keys { keys, next } = list(&store, next.unwrap(), &rt) else {
            panic!("keys")
        };
        assert_eq!(keys.first().unwrap(), &format!("k{LIST_PAGE:05}"));
        assert_eq!((keys.len(), next), (5, None));
    }

    #[test]
    fn increments_stay_in_their_drafts_range_and_both_drafts_read_one_number() {
        let path = temp_db("ranges");
        let rt = runtime();
        let store = KvStore::new(&path);
        let increment = |delta: i128, range| {
            rt.block_on(store.run(Op::Increment {
                bucket: "b".into(),
                key: "n".into(),
                delta,
                range,
            }))
        };
        assert!(matches!(
            increment(-3, NumberRange::I64),
            Ok(Answer::Number(-3))
        ));
        // 0.2.0-draft counts in a u64: below zero is refused, nothing written.
        let err = increment(1, NumberRange::U64).unwrap_err();
        assert!(
            matches!(err, KvError::OutOfRange { range: "u64", .. }),
            "{err}"
        );
        assert!(err.to_string().contains("outside the u64 range"), "{err}");
        assert!(matches!(
            increment(5, NumberRange::U64),
            Ok(Answer::Number(2))
        ));
        let err = increment(i128::from(i64::MAX), NumberRange::I64).unwrap_err();
        assert!(
            matches!(err, KvError::OutOfRange { range: "s64", .. }),
            "{err}"
        );
        assert_eq!(
            rt.block_on(store.get("b", "n")).unwrap(),
            Some(b"2".to_vec())
        );
    }

    #[test]
    fn a_swap_commits_only_while_the_key_holds_what_it_expects() {
        let path = temp_db("swap");
        let rt = runtime();
        let store = KvStore::new(&path);
        let swap = |expected: Option<&[u8]>, value: &[u8]| {
            rt.block_on(store.run(Op::Swap {
                bucket: "b".into(),
                key: "k".into(),
                expected: expected.map(<[u8]>::to_vec),
                value: value.to_vec(),
            }))
            .unwrap()
        };
        // Absent expected absent: created.
        assert!(matches!(swap(None, b"one"), Answer::Swapped));
        // Absent expected, but it is there now: refused, with what it holds.
        assert!(matches!(swap(None, b"two"), Answer::Conflict(Some(v)) if v == b"one"));
        assert!(matches!(swap(Some(b"one"), b"two"), Answer::Swapped));
        assert!(matches!(swap(Some(b"one"), b"three"), Answer::Conflict(Some(v)) if v == b"two"));
        assert_eq!(
            rt.block_on(store.get("b", "k")).unwrap(),
            Some(b"two".to_vec())
        );
    }
}
