//! The `wasi:keyvalue@0.2.0-draft` interfaces as a guest sees them
//! (`store`, `atomics`, `batch`; the WIT is vendored from wasmtime's
//! `wasmtime-wasi-keyvalue` crate in `host/runtime/wit/keyvalue/`): each
//! call checks the child's grant and the limits, then waits for the store's
//! thread, so a guest built for wasmtime's or wasmCloud's key-value runs
//! here unchanged.
//!
//! `open` of a bucket the child's `keyvalue` does not name answers the
//! spec's `access-denied`, and the host logs which bucket and how to grant
//! it (the case carries no text). Every other failure is `other(TEXT)`,
//! with the text of [`KvError`].

use wasmtime::component::{HasSelf, Linker, Resource};

use super::store::{Answer, Op, unreachable_answer};
use super::{KvError, KvGrant};
use crate::host_api::ChildState;

mod generated {
    wasmtime::component::bindgen!({
        path: "wit/keyvalue",
        world: "wasi:keyvalue/imports",
        imports: { default: async },
        with: {
            "wasi:keyvalue/store.bucket": super::Bucket,
        },
    });
}

use generated::wasi::keyvalue::{atomics, batch, store};

/// An open bucket: the name the child opened (granted when opened).
pub struct Bucket {
    name: String,
}

/// Adds the three interfaces to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<ChildState>) -> wasmtime::Result<()> {
    store::add_to_linker::<ChildState, HasSelf<ChildState>>(linker, |s| s)?;
    atomics::add_to_linker::<ChildState, HasSelf<ChildState>>(linker, |s| s)?;
    batch::add_to_linker::<ChildState, HasSelf<ChildState>>(linker, |s| s)?;
    Ok(())
}

fn other(error: KvError) -> store::Error {
    store::Error::Other(error.to_string())
}

impl ChildState {
    /// The bucket behind `handle` and the store, or the error the guest gets.
    fn bucket(&mut self, handle: &Resource<Bucket>) -> Result<(KvGrant, String), store::Error> {
        let name = self
            .table()
            .get(handle)
            .map_err(|e| store::Error::Other(format!("bad bucket handle: {e}")))?
            .name
            .clone();
        // A bucket was opened through a grant, so the grant is there.
        let grant = self.keyvalue().cloned().ok_or(store::Error::AccessDenied)?;
        Ok((grant, name))
    }

    async fn kv(
        &mut self,
        handle: &Resource<Bucket>,
        op: impl FnOnce(String) -> Op,
    ) -> Result<Answer, store::Error> {
        let (grant, bucket) = self.bucket(handle)?;
        grant.store.run(op(bucket)).await.map_err(other)
    }
}

impl store::Host for ChildState {
    async fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, store::Error> {
        let granted = self.keyvalue().is_some_and(|g| g.allows(&identifier));
        if !granted {
            tracing::warn!(
                child = self.path(),
                "wasi:keyvalue open of bucket {identifier:?} refused (access-denied): \
                 the child's tree-file entry does not grant it; add it to `keyvalue = [...]`"
            );
            return Err(store::Error::AccessDenied);
        }
        self.table()
            .push(Bucket { name: identifier })
            .map_err(|e| store::Error::Other(format!("cannot open the bucket: {e}")))
    }
}

impl store::HostBucket for ChildState {
    async fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Result<Option<Vec<u8>>, store::Error> {
        match self.kv(&bucket, |bucket| Op::Get { bucket, key }).await? {
            Answer::Value(value) => Ok(value),
            other => unreachable_answer(other).map_err(self::other),
        }
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), store::Error> {
        self.kv(&bucket, |bucket| Op::Set { bucket, key, value })
            .await
            .map(drop)
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Result<(), store::Error> {
        self.kv(&bucket, |bucket| Op::Delete { bucket, key })
            .await
            .map(drop)
    }

    async fn exists(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Result<bool, store::Error> {
        match self
            .kv(&bucket, |bucket| Op::Exists { bucket, key })
            .await?
        {
            Answer::Bool(found) => Ok(found),
            other => unreachable_answer(other).map_err(self::other),
        }
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> Result<store::KeyResponse, store::Error> {
        let cursor = cursor.unwrap_or(0);
        match self
            .kv(&bucket, |bucket| Op::ListKeys { bucket, cursor })
            .await?
        {
            Answer::Keys { keys, next } => Ok(store::KeyResponse { keys, cursor: next }),
            other => unreachable_answer(other).map_err(self::other),
        }
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table().delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for ChildState {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: u64,
    ) -> Result<u64, store::Error> {
        match self
            .kv(&bucket, |bucket| Op::Increment { bucket, key, delta })
            .await?
        {
            Answer::Number(n) => Ok(n),
            other => unreachable_answer(other).map_err(self::other),
        }
    }
}

impl batch::Host for ChildState {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, store::Error> {
        match self
            .kv(&bucket, |bucket| Op::GetMany { bucket, keys })
            .await?
        {
            Answer::Values(values) => Ok(values),
            other => unreachable_answer(other).map_err(self::other),
        }
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), store::Error> {
        self.kv(&bucket, |bucket| Op::SetMany {
            bucket,
            pairs: key_values,
        })
        .await
        .map(drop)
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<(), store::Error> {
        self.kv(&bucket, |bucket| Op::DeleteMany { bucket, keys })
            .await
            .map(drop)
    }
}
