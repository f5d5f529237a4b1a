//! `wasi:keyvalue@0.2.0-draft2` (`store`, `atomics` with compare-and-swap,
//! `batch`): Spin's draft. Its `list-keys` cursor is a string (here the
//! last key of the page before); its `increment` counts in an s64; its
//! `get-many` answers every key asked, `none` for a missing one.
//!
//! Compare-and-swap: `cas.new` reads the key's value and the handle keeps
//! it; `current` answers that value without reading again; `swap` sets
//! the new value only if the key still holds the kept one, in the store's
//! writer, so no other write comes between the check and the set. A lost
//! race answers `cas-failed` with a new handle holding the value the key
//! has now, ready for the retry. The comparison is of values, so a key
//! changed and changed back counts as unchanged (the swap replaces the
//! same state it was computed from).

use wasmtime::component::{HasSelf, Linker, Resource};

use super::{Bucket, Cas, Refusal, unexpected};
use crate::host_api::ChildState;
use crate::keyvalue::store::{Answer, KeyCursor, NumberRange, Op};

mod generated {
    wasmtime::component::bindgen!({
        path: "wit/keyvalue-draft2",
        world: "wasi:keyvalue/imports",
        imports: { default: async },
        with: {
            "wasi:keyvalue/store.bucket": crate::keyvalue::guest::Bucket,
            "wasi:keyvalue/atomics.cas": crate::keyvalue::guest::Cas,
        },
    });
}

use generated::wasi::keyvalue::{atomics, batch, store};

draft_common!();

impl store::HostBucket for ChildState {
    bucket_methods!();

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<String>,
    ) -> Result<store::KeyResponse> {
        let cursor = cursor.map_or(KeyCursor::First, KeyCursor::After);
        match self
            .kv(&bucket, |bucket| Op::ListKeys { bucket, cursor })
            .await?
        {
            // A page asked for by key tells the next one by key.
            Answer::Keys { keys, next } => Ok(store::KeyResponse {
                keys,
                cursor: next.and_then(|next| match next {
                    KeyCursor::After(last) => Some(last),
                    KeyCursor::First | KeyCursor::Offset(_) => None,
                }),
            }),
            other => Ok(unexpected(other)?),
        }
    }
}

impl atomics::HostCas for ChildState {
    async fn new(&mut self, bucket: Resource<Bucket>, key: String) -> Result<Resource<Cas>> {
        Ok(self.new_cas(&bucket, key).await?)
    }

    async fn current(&mut self, cas: Resource<Cas>) -> Result<Option<Vec<u8>>> {
        Ok(self.cas_current(&cas)?)
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.drop_cas(cas)
    }
}

impl atomics::Host for ChildState {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> Result<i64> {
        let op = |bucket| Op::Increment {
            bucket,
            key,
            delta: i128::from(delta),
            range: NumberRange::I64,
        };
        match self.kv(&bucket, op).await? {
            // The store checked the range.
            Answer::Number(n) => Ok(i64::try_from(n).unwrap_or_default()),
            other => Ok(unexpected(other)?),
        }
    }

    async fn swap(
        &mut self,
        cas: Resource<Cas>,
        value: Vec<u8>,
    ) -> std::result::Result<(), atomics::CasError> {
        match ChildState::swap(self, cas, value).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(retry)) => Err(atomics::CasError::CasFailed(retry)),
            Err(refusal) => Err(atomics::CasError::StoreError(refusal.into())),
        }
    }
}

impl batch::Host for ChildState {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>> {
        let asked = keys.clone();
        match self
            .kv(&bucket, |bucket| Op::GetMany { bucket, keys })
            .await?
        {
            Answer::Values(values) => Ok(asked
                .into_iter()
                .zip(values)
                .map(|(key, found)| (key, found.map(|(_, value)| value)))
                .collect()),
            other => Ok(unexpected(other)?),
        }
    }

    batch_writes!();
}
