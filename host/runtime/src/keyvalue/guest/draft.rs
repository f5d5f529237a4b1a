//! `wasi:keyvalue@0.2.0-draft` (`store`, `atomics`, `batch`): the draft
//! wasmtime's `wasmtime-wasi-keyvalue` and wasmCloud implement. Its
//! `list-keys` cursor is a number (keys skipped); its `increment` counts in
//! a u64.

use wasmtime::component::{HasSelf, Linker, Resource};

use super::{Bucket, Refusal, unexpected};
use crate::host_api::ChildState;
use crate::keyvalue::store::{Answer, KeyCursor, NumberRange, Op};

mod generated {
    wasmtime::component::bindgen!({
        path: "wit/keyvalue",
        world: "wasi:keyvalue/imports",
        imports: { default: async },
        with: {
            "wasi:keyvalue/store.bucket": crate::keyvalue::guest::Bucket,
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
        cursor: Option<u64>,
    ) -> Result<store::KeyResponse> {
        let cursor = KeyCursor::Offset(cursor.unwrap_or(0));
        match self
            .kv(&bucket, |bucket| Op::ListKeys { bucket, cursor })
            .await?
        {
            // A page asked for by offset tells the next one by offset.
            Answer::Keys { keys, next } => Ok(store::KeyResponse {
                keys,
                cursor: next.and_then(|next| match next {
                    KeyCursor::Offset(skip) => Some(skip),
                    KeyCursor::First | KeyCursor::After(_) => None,
                }),
            }),
            other => Ok(unexpected(other)?),
        }
    }
}

impl atomics::Host for ChildState {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: u64,
    ) -> Result<u64> {
        let op = |bucket| Op::Increment {
            bucket,
            key,
            delta: i128::from(delta),
            range: NumberRange::U64,
        };
        match self.kv(&bucket, op).await? {
            // The store checked the range.
            Answer::Number(n) => Ok(u64::try_from(n).unwrap_or_default()),
            other => Ok(unexpected(other)?),
        }
    }
}

impl batch::Host for ChildState {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>> {
        match self
            .kv(&bucket, |bucket| Op::GetMany { bucket, keys })
            .await?
        {
            Answer::Values(values) => Ok(values),
            other => Ok(unexpected(other)?),
        }
    }

    batch_writes!();
}
