//! `wasi:keyvalue` as a guest sees it, in both drafts a guest may be built
//! against: `0.2.0-draft` ([`draft`]: the version wasmtime's own
//! `wasmtime-wasi-keyvalue` and wasmCloud implement) and `0.2.0-draft2`
//! ([`draft2`]: Spin's, which adds compare-and-swap). The WIT of each is
//! vendored unchanged, from wasmtime's crate in `host/runtime/wit/keyvalue/`
//! and from Spin's repository in `host/runtime/wit/keyvalue-draft2/`, so a
//! guest written for any of them runs here as it is.
//!
//! This module holds what both drafts share: the open bucket and the CAS
//! handle in the child's resource table, the grant check of `open`, and
//! the trip to the store. Each draft only converts to and from its own
//! types. `open` of a bucket the child's `keyvalue` does not name answers
//! the spec's `access-denied`, and the host logs which bucket and how to
//! grant it (the case carries no text); every other failure is
//! `other(TEXT)`, with the text of [`KvError`].

use wasmtime::component::{Linker, Resource};

use super::store::{Answer, Op};
use super::{KvError, KvGrant};
use crate::host_api::ChildState;

/// What both drafts' generated bindings share word for word, written once:
/// each draft's module invokes these inside its own impls, where `store`,
/// `atomics`, `batch` and `Result` name that draft's generated types.
macro_rules! draft_common {
    () => {
        pub(super) fn add_to_linker(linker: &mut Linker<ChildState>) -> wasmtime::Result<()> {
            store::add_to_linker::<ChildState, HasSelf<ChildState>>(linker, |s| s)?;
            atomics::add_to_linker::<ChildState, HasSelf<ChildState>>(linker, |s| s)?;
            batch::add_to_linker::<ChildState, HasSelf<ChildState>>(linker, |s| s)?;
            Ok(())
        }

        impl From<Refusal> for store::Error {
            fn from(refusal: Refusal) -> Self {
                match refusal {
                    Refusal::AccessDenied => store::Error::AccessDenied,
                    Refusal::Other(text) => store::Error::Other(text),
                }
            }
        }

        type Result<T> = std::result::Result<T, store::Error>;

        impl store::Host for ChildState {
            async fn open(&mut self, identifier: String) -> Result<Resource<Bucket>> {
                Ok(self.open_bucket(identifier)?)
            }
        }
    };
}

/// The `bucket` methods both drafts answer alike (inside `impl
/// store::HostBucket`); `list-keys` differs by its cursor.
macro_rules! bucket_methods {
    () => {
        async fn get(&mut self, bucket: Resource<Bucket>, key: String) -> Result<Option<Vec<u8>>> {
            match self.kv(&bucket, |bucket| Op::Get { bucket, key }).await? {
                Answer::Value(value) => Ok(value),
                other => Ok(unexpected(other)?),
            }
        }

        async fn set(
            &mut self,
            bucket: Resource<Bucket>,
            key: String,
            value: Vec<u8>,
        ) -> Result<()> {
            self.kv(&bucket, |bucket| Op::Set { bucket, key, value })
                .await?;
            Ok(())
        }

        async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Result<()> {
            self.kv(&bucket, |bucket| Op::Delete { bucket, key })
                .await?;
            Ok(())
        }

        async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Result<bool> {
            match self
                .kv(&bucket, |bucket| Op::Exists { bucket, key })
                .await?
            {
                Answer::Bool(found) => Ok(found),
                other => Ok(unexpected(other)?),
            }
        }

        async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
            self.drop_bucket(bucket)
        }
    };
}

/// The batch writes both drafts answer alike (inside `impl batch::Host`);
/// `get-many` differs by its answer's shape.
macro_rules! batch_writes {
    () => {
        async fn set_many(
            &mut self,
            bucket: Resource<Bucket>,
            key_values: Vec<(String, Vec<u8>)>,
        ) -> Result<()> {
            let op = |bucket| Op::SetMany {
                bucket,
                pairs: key_values,
            };
            self.kv(&bucket, op).await?;
            Ok(())
        }

        async fn delete_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> Result<()> {
            self.kv(&bucket, |bucket| Op::DeleteMany { bucket, keys })
                .await?;
            Ok(())
        }
    };
}

mod draft;
mod draft2;

/// An open bucket: the name the child opened (granted when opened).
pub struct Bucket {
    name: String,
}

/// A compare-and-swap in progress (`0.2.0-draft2`): the key and the value
/// it held when the handle was made. The swap commits only if the key
/// still holds that value (compared byte for byte, absent equal to absent).
pub struct Cas {
    bucket: String,
    key: String,
    seen: Option<Vec<u8>>,
}

/// Adds both drafts' `store`, `atomics` and `batch` to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<ChildState>) -> wasmtime::Result<()> {
    draft::add_to_linker(linker)?;
    draft2::add_to_linker(linker)
}

/// Why a key-value call failed, before it becomes one draft's `error`.
enum Refusal {
    AccessDenied,
    Other(String),
}

impl From<KvError> for Refusal {
    fn from(error: KvError) -> Self {
        Refusal::Other(error.to_string())
    }
}

impl ChildState {
    /// `open`: a handle to `identifier` if the child's grant names it.
    fn open_bucket(&mut self, identifier: String) -> Result<Resource<Bucket>, Refusal> {
        let granted = self.keyvalue().is_some_and(|g| g.allows(&identifier));
        if !granted {
            tracing::warn!(
                child = self.path(),
                "wasi:keyvalue open of bucket {identifier:?} refused (access-denied): \
                 the child's tree-file entry does not grant it; add it to `keyvalue = [...]`"
            );
            return Err(Refusal::AccessDenied);
        }
        self.table()
            .push(Bucket { name: identifier })
            .map_err(|e| Refusal::Other(format!("cannot open the bucket: {e}")))
    }

    fn drop_bucket(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table().delete(bucket)?;
        Ok(())
    }

    /// The store and the bucket name behind `handle`.
    fn bucket(&mut self, handle: &Resource<Bucket>) -> Result<(KvGrant, String), Refusal> {
        let name = self
            .table()
            .get(handle)
            .map_err(|e| Refusal::Other(format!("bad bucket handle: {e}")))?
            .name
            .clone();
        // A bucket was opened through a grant, so the grant is there.
        let grant = self.keyvalue().cloned().ok_or(Refusal::AccessDenied)?;
        Ok((grant, name))
    }

    /// Runs the op `op` makes of the bucket's name.
    async fn kv(
        &mut self,
        handle: &Resource<Bucket>,
        op: impl FnOnce(String) -> Op,
    ) -> Result<Answer, Refusal> {
        let (grant, bucket) = self.bucket(handle)?;
        Ok(grant.store.run(op(bucket)).await?)
    }

    /// A CAS handle for `key`, holding the value it has now.
    async fn new_cas(
        &mut self,
        handle: &Resource<Bucket>,
        key: String,
    ) -> Result<Resource<Cas>, Refusal> {
        let (grant, bucket) = self.bucket(handle)?;
        let op = Op::Get {
            bucket: bucket.clone(),
            key: key.clone(),
        };
        let seen = match grant.store.run(op).await? {
            Answer::Value(value) => value,
            other => unexpected(other)?,
        };
        self.push_cas(Cas { bucket, key, seen })
    }

    fn push_cas(&mut self, cas: Cas) -> Result<Resource<Cas>, Refusal> {
        self.table()
            .push(cas)
            .map_err(|e| Refusal::Other(format!("cannot hold the CAS handle: {e}")))
    }

    fn cas_current(&mut self, handle: &Resource<Cas>) -> Result<Option<Vec<u8>>, Refusal> {
        self.table()
            .get(handle)
            .map(|cas| cas.seen.clone())
            .map_err(|e| Refusal::Other(format!("bad CAS handle: {e}")))
    }

    fn drop_cas(&mut self, handle: Resource<Cas>) -> wasmtime::Result<()> {
        self.table().delete(handle)?;
        Ok(())
    }

    /// `swap`: consumes the handle; `Ok(Err(handle))` is a lost race, with
    /// a new handle holding the key's value now.
    async fn swap(
        &mut self,
        handle: Resource<Cas>,
        value: Vec<u8>,
    ) -> Result<Result<(), Resource<Cas>>, Refusal> {
        let cas = self
            .table()
            .delete(handle)
            .map_err(|e| Refusal::Other(format!("bad CAS handle: {e}")))?;
        let grant = self.keyvalue().cloned().ok_or(Refusal::AccessDenied)?;
        let op = Op::Swap {
            bucket: cas.bucket.clone(),
            key: cas.key.clone(),
            expected: cas.seen,
            value,
        };
        match grant.store.run(op).await? {
            Answer::Swapped => Ok(Ok(())),
            Answer::Conflict(now) => Ok(Err(self.push_cas(Cas {
                bucket: cas.bucket,
                key: cas.key,
                seen: now,
            })?)),
            other => unexpected(other),
        }
    }
}

/// An answer of the wrong kind: a bug in the store, told to the guest
/// rather than trapping it.
fn unexpected<T>(answer: Answer) -> Result<T, Refusal> {
    Ok(super::store::unreachable_answer(answer)?)
}
