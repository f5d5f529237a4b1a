//! Supervisors: the pure decision logic ([`state`]) and the async driver that
//! runs children and carries the decisions out ([`driver`]).

pub mod driver;
pub mod state;
