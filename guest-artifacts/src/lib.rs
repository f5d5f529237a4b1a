//! Paths of the guest components built from `guests/` by this crate's build
//! script. Depending on this crate is what makes `cargo test` build them.

include!(concat!(env!("OUT_DIR"), "/guests.rs"));
