//! The key-value probe for `wasi:keyvalue@0.2.0-draft2`, the draft Spin
//! implements: what a guest written for Spin's key-value looks like. Its
//! calls go through bindings that `wit-bindgen` generates from that
//! draft's WIT (vendored unchanged from Spin in
//! `host/runtime/wit/keyvalue-draft2`); only the lifecycle export is the
//! SDK's.
//!
//! | message | behaviour |
//! |---|---|
//! | `set BUCKET KEY VALUE` | sets KEY to VALUE (the rest of the line), replies `ok` |
//! | `get BUCKET KEY` | replies the value, or `none` |
//! | `incr BUCKET KEY N` | `atomics.increment` by N (an s64, may be negative), replies the new number |
//! | `cas-add BUCKET KEY N` | adds 1 to the decimal number KEY holds, N times, each by compare-and-swap (retrying with the handle a lost race returns); replies `VALUE RETRIES` (the last value it wrote, and how many swaps lost a race) |
//! | `cas-stale BUCKET KEY VALUE` | takes a CAS handle, sets KEY to VALUE behind its back, then swaps `stale` through the handle: replies `refused, now VALUE` if the swap lost (with what the new handle holds) and then swaps `fresh` through the new handle, replying `... then ok`; or `swapped` if the stale swap won |
//! | `fill BUCKET N` | `batch.set-many` of keys `k00000`.. (N of them), replies `ok` |
//! | `keys BUCKET` | the number of keys and the pages they came in (`list-keys`, following the string cursor): `N keys in P pages` |
//! | `get-many BUCKET K,K` | `batch.get-many`, replies `K=V` or `K?` (missing) joined by `,` |
//! | `crash` | traps |
//!
//! A store error is the reply `err(CASE)` or `err(other: TEXT)`.

wit_bindgen::generate!({
    path: "../../host/runtime/wit/keyvalue-draft2",
    world: "wasi:keyvalue/imports",
    generate_all,
});

use arbor_guest::{Actor, Init};
use wasi::keyvalue::atomics::{self, Cas, CasError};
use wasi::keyvalue::batch;
use wasi::keyvalue::store::{self, Error};

struct KvDraft2;

fn describe(error: Error) -> String {
    match error {
        Error::NoSuchStore => "no-such-store".to_string(),
        Error::AccessDenied => "access-denied".to_string(),
        Error::Other(text) => format!("other: {text}"),
    }
}

fn number(value: Option<Vec<u8>>) -> Result<i64, Error> {
    match value {
        None => Ok(0),
        Some(bytes) => String::from_utf8_lossy(&bytes)
            .parse()
            .map_err(|_| Error::Other("the value is not a number".to_string())),
    }
}

fn text(value: Option<Vec<u8>>) -> String {
    value.map_or("none".to_string(), |v| {
        String::from_utf8_lossy(&v).into_owned()
    })
}

/// Adds 1 to the key by compare-and-swap; returns the value written and
/// how many swaps lost a race first.
fn cas_add_one(bucket: &store::Bucket, key: &str) -> Result<(i64, u32), Error> {
    let mut cas = Cas::new(bucket, key)?;
    let mut lost = 0;
    loop {
        let next = number(cas.current()?)? + 1;
        match atomics::swap(cas, next.to_string().as_bytes()) {
            Ok(()) => return Ok((next, lost)),
            Err(CasError::CasFailed(retry)) => {
                lost += 1;
                cas = retry;
            }
            Err(CasError::StoreError(error)) => return Err(error),
        }
    }
}

fn run(message: &str) -> Result<String, Error> {
    let words: Vec<&str> = message.splitn(4, ' ').collect();
    let arg = |i: usize| words.get(i).copied().unwrap_or("");
    Ok(match arg(0) {
        "set" => {
            store::open(arg(1))?.set(arg(2), arg(3).as_bytes())?;
            "ok".to_string()
        }
        "get" => text(store::open(arg(1))?.get(arg(2))?),
        "incr" => {
            let delta = arg(3).parse().unwrap_or(1);
            atomics::increment(&store::open(arg(1))?, arg(2), delta)?.to_string()
        }
        "cas-add" => {
            let bucket = store::open(arg(1))?;
            let times: u32 = arg(3).parse().unwrap_or(1);
            let (mut last, mut lost) = (0, 0);
            for _ in 0..times {
                let (value, retries) = cas_add_one(&bucket, arg(2))?;
                last = value;
                lost += retries;
            }
            format!("{last} {lost}")
        }
        "cas-stale" => {
            let bucket = store::open(arg(1))?;
            let cas = Cas::new(&bucket, arg(2))?;
            bucket.set(arg(2), arg(3).as_bytes())?;
            match atomics::swap(cas, b"stale") {
                Ok(()) => "swapped".to_string(),
                Err(CasError::CasFailed(retry)) => {
                    let now = text(retry.current()?);
                    match atomics::swap(retry, b"fresh") {
                        Ok(()) => format!("refused, now {now}, then ok"),
                        Err(CasError::CasFailed(_)) => format!("refused, now {now}, then refused"),
                        Err(CasError::StoreError(error)) => return Err(error),
                    }
                }
                Err(CasError::StoreError(error)) => return Err(error),
            }
        }
        "fill" => {
            let n: usize = arg(2).parse().unwrap_or(0);
            let pairs: Vec<(String, Vec<u8>)> = (0..n)
                .map(|i| (format!("k{i:05}"), b"v".to_vec()))
                .collect();
            batch::set_many(&store::open(arg(1))?, &pairs)?;
            "ok".to_string()
        }
        "keys" => {
            let bucket = store::open(arg(1))?;
            let (mut keys, mut pages, mut cursor) = (0, 0, None);
            loop {
                let page = bucket.list_keys(cursor.as_deref())?;
                keys += page.keys.len();
                pages += 1;
                match page.cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            format!("{keys} keys in {pages} pages")
        }
        "get-many" => {
            let keys: Vec<String> = arg(2).split(',').map(str::to_string).collect();
            batch::get_many(&store::open(arg(1))?, &keys)?
                .into_iter()
                .map(|(key, value)| match value {
                    Some(v) => format!("{key}={}", String::from_utf8_lossy(&v)),
                    None => format!("{key}?"),
                })
                .collect::<Vec<_>>()
                .join(",")
        }
        "crash" => panic!("crash requested"),
        other => return Err(Error::Other(format!("unknown message {other:?}"))),
    })
}

impl Actor for KvDraft2 {
    fn init(_args: &[u8]) -> Result<Init<Self>, String> {
        Ok(Init::Running(KvDraft2))
    }

    fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, String> {
        let message = std::str::from_utf8(message).map_err(|e| e.to_string())?;
        run(message)
            .map(String::into_bytes)
            .map_err(|e| format!("err({})", describe(e)))
    }
}

arbor_guest::export!(KvDraft2);
