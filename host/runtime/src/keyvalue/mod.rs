//! Durable state: the standard `wasi:keyvalue@0.2.0-draft` interfaces
//! (`store`, `atomics`, `batch`) on one embedded SQLite database per host.
//!
//! A child restarted after a crash starts from clean memory; what must
//! survive it lives here, in a store the host owns. A child may open the
//! buckets its tree-file entry grants (`keyvalue = ["orders"]`) and no
//! other. [`store`] owns the database and its threads (group commit: a
//! write answers once it is fsynced); [`guest`] is the `wasi:keyvalue` face
//! the guests see. A child with no grant holds nothing of either.

use std::path::PathBuf;
use std::sync::Arc;

pub(crate) mod guest;
pub mod store;

pub use store::KvStore;

/// Longest key, in bytes of UTF-8. Keys are names (an order id, a user
/// name), and SQLite keeps each in the table's index: 4 KiB is far above
/// any real key and keeps index pages useful.
pub const MAX_KEY_BYTES: usize = 4 << 10;
/// Largest value, in bytes. A value crosses into guest memory whole (there
/// is no streaming in `wasi:keyvalue`), so it must fit beside the guest's
/// own data in a 64 MiB default memory; 16 MiB leaves room for that.
pub const MAX_VALUE_BYTES: usize = 16 << 20;
/// Longest bucket name, in bytes (checked in the tree file).
pub const MAX_BUCKET_BYTES: usize = 255;
/// Keys per `list-keys` page: the cursor moves on by this many.
pub const LIST_PAGE: usize = 1000;

/// Why a store operation failed. A guest sees the text as the
/// `wasi:keyvalue/store.error` case `other`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// The database could not be opened or created.
    #[error("cannot open the key-value store {}: {message}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// SQLite's reason, with a hint.
        message: String,
    },
    /// The key is longer than [`MAX_KEY_BYTES`].
    #[error(
        "the key is {size} bytes, more than the limit of {} bytes",
        MAX_KEY_BYTES
    )]
    KeyTooLarge {
        /// Its length.
        size: usize,
    },
    /// The value is larger than [`MAX_VALUE_BYTES`].
    #[error(
        "the value is {size} bytes, more than the limit of {} bytes (16 MiB)",
        MAX_VALUE_BYTES
    )]
    ValueTooLarge {
        /// Its length.
        size: usize,
    },
    /// `increment` on a key whose value is not a decimal number.
    #[error(
        "cannot increment {0:?}: its value is not a decimal number (increment stores numbers as decimal text)"
    )]
    NotANumber(String),
    /// `increment` to a number its draft cannot hold (past `u64::MAX` or
    /// below 0 for `0.2.0-draft`, outside the s64 range for `0.2.0-draft2`).
    #[error("cannot increment {key:?}: the result would be outside the {range} range")]
    OutOfRange {
        /// The key.
        key: String,
        /// The range: `u64` or `s64`.
        range: &'static str,
    },
    /// SQLite refused the operation (a full disk, an I/O error); nothing
    /// of it was committed.
    #[error("the key-value store failed: {0}")]
    Store(String),
    /// The store's threads are gone (the host is stopping).
    #[error("the key-value store has stopped")]
    Stopped,
}

pub(crate) fn check_key(key: &str) -> Result<(), KvError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(KvError::KeyTooLarge { size: key.len() });
    }
    Ok(())
}

pub(crate) fn check_value(value: &[u8]) -> Result<(), KvError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(KvError::ValueTooLarge { size: value.len() });
    }
    Ok(())
}

/// What a child with a `keyvalue` grant holds: the store and its buckets.
/// Made only for a child with a grant, so one without pays nothing.
#[derive(Clone)]
pub(crate) struct KvGrant {
    pub store: Arc<KvStore>,
    pub buckets: Arc<[String]>,
}

impl KvGrant {
    /// The grant of a worker whose `keyvalue` is `buckets`; `None` for none.
    pub fn new(store: &Arc<KvStore>, buckets: &[String]) -> Option<KvGrant> {
        (!buckets.is_empty()).then(|| KvGrant {
            store: store.clone(),
            buckets: Arc::from(buckets),
        })
    }

    /// Whether `bucket` is granted.
    pub fn allows(&self, bucket: &str) -> bool {
        self.buckets.iter().any(|granted| granted == bucket)
    }
}
