//! The key-value probe: Arbor's test guest for durable state.
//!
//! Its `wasi:keyvalue@0.2.0-draft` calls go through bindings that
//! `wit-bindgen` generates from the standard WIT (the same files wasmtime's
//! `wasmtime-wasi-keyvalue` ships, vendored in `host/runtime/wit/keyvalue`),
//! not through Arbor's SDK: it is what a guest written for wasmtime's or
//! wasmCloud's key-value looks like. Only the lifecycle export is the SDK's.
//!
//! | message | behaviour |
//! |---|---|
//! | `open BUCKET` | opens BUCKET, replies `opened` |
//! | `set BUCKET KEY VALUE` | sets KEY to VALUE (the rest of the line), replies `ok` |
//! | `get BUCKET KEY` | replies the value, or `none` |
//! | `del BUCKET KEY` | deletes KEY, replies `ok` |
//! | `exists BUCKET KEY` | replies `true` or `false` |
//! | `incr BUCKET KEY N` | `atomics.increment` by N, replies the new number |
//! | `keys BUCKET` | every key (`list-keys`, following the cursor), joined by `,` |
//! | `set-many BUCKET K=V,K=V` | `batch.set-many`, replies `ok` |
//! | `get-many BUCKET K,K` | `batch.get-many`, replies `K=V` or `K?` (missing) joined by `,` |
//! | `big BUCKET KEY BYTES` | sets KEY to BYTES bytes of `x`, replies `ok` |
//! | `repeat OP BUCKET N` | N sets (of keys `k0`..), gets or increments (of key `n`) in a loop, OP `set`, `get` or `incr`; replies `done N` (the benchmark's) |
//! | `crash` | traps |
//!
//! A store error is the reply `err(CASE)` or `err(other: TEXT)`, CASE the
//! `wasi:keyvalue/store.error` case (`no-such-store`, `access-denied`).

wit_bindgen::generate!({
    path: "../../host/runtime/wit/keyvalue",
    world: "wasi:keyvalue/imports",
    generate_all,
});

use arbor_guest::{Actor, Init};
use wasi::keyvalue::store::Error;
use wasi::keyvalue::{atomics, batch, store};

struct KvProbe;

fn describe(error: Error) -> String {
    match error {
        Error::NoSuchStore => "no-such-store".to_string(),
        Error::AccessDenied => "access-denied".to_string(),
        Error::Other(text) => format!("other: {text}"),
    }
}

fn run(message: &str) -> Result<String, Error> {
    let words: Vec<&str> = message.splitn(4, ' ').collect();
    let arg = |i: usize| words.get(i).copied().unwrap_or("");
    Ok(match arg(0) {
        "open" => {
            store::open(arg(1))?;
            "opened".to_string()
        }
        "set" => {
            store::open(arg(1))?.set(arg(2), arg(3).as_bytes())?;
            "ok".to_string()
        }
        "get" => match store::open(arg(1))?.get(arg(2))? {
            Some(value) => String::from_utf8_lossy(&value).into_owned(),
            None => "none".to_string(),
        },
        "del" => {
            store::open(arg(1))?.delete(arg(2))?;
            "ok".to_string()
        }
        "exists" => store::open(arg(1))?.exists(arg(2))?.to_string(),
        "incr" => {
            let delta = arg(3).parse().unwrap_or(1);
            atomics::increment(&store::open(arg(1))?, arg(2), delta)?.to_string()
        }
        "keys" => {
            let bucket = store::open(arg(1))?;
            let mut keys = Vec::new();
            let mut cursor = None;
            loop {
                let page = bucket.list_keys(cursor)?;
                keys.extend(page.keys);
                match page.cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            keys.join(",")
        }
        "set-many" => {
            let pairs: Vec<(String, Vec<u8>)> = arg(2)
                .split(',')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect();
            batch::set_many(&store::open(arg(1))?, &pairs)?;
            "ok".to_string()
        }
        "get-many" => {
            let keys: Vec<String> = arg(2).split(',').map(str::to_string).collect();
            let found = batch::get_many(&store::open(arg(1))?, &keys)?;
            keys.iter()
                .zip(found)
                .map(|(key, value)| match value {
                    Some((_, v)) => format!("{key}={}", String::from_utf8_lossy(&v)),
                    None => format!("{key}?"),
                })
                .collect::<Vec<_>>()
                .join(",")
        }
        "big" => {
            let size: usize = arg(3).parse().unwrap_or(0);
            store::open(arg(1))?.set(arg(2), &vec![b'x'; size])?;
            "ok".to_string()
        }
        "repeat" => {
            let bucket = store::open(arg(2))?;
            let n: usize = arg(3).parse().unwrap_or(0);
            for i in 0..n {
                match arg(1) {
                    "set" => bucket.set(&format!("k{i}"), b"value of a benchmark key")?,
                    "get" => drop(bucket.get(&format!("k{}", i % 100))?),
                    _ => drop(atomics::increment(&bucket, "n", 1)?),
                }
            }
            format!("done {n}")
        }
        "crash" => panic!("crash requested"),
        other => return Err(Error::Other(format!("unknown message {other:?}"))),
    })
}

impl Actor for KvProbe {
    fn init(_args: &[u8]) -> Result<Init<Self>, String> {
        Ok(Init::Running(KvProbe))
    }

    fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, String> {
        let message = std::str::from_utf8(message).map_err(|e| e.to_string())?;
        run(message)
            .map(String::into_bytes)
            .map_err(|e| format!("err({})", describe(e)))
    }
}

arbor_guest::export!(KvProbe);
