//! End-to-end tests over real guest components (the probe, built from
//! `guests/probe` by the guest-artifacts crate), asserting on the event stream.

mod support;

mod allocation;
mod apply;
mod auto_shutdown;
mod backoff;
mod bad_input;
mod calls;
mod children;
mod conformance;
mod contract_0_2_0;
mod contract_0_2_1;
mod contract_0_2_2;
mod crash;
mod dynamic;
mod fast_traps;
mod fuzz;
mod grants;
mod guest_children_timers;
mod guest_crash;
mod guest_tree;
mod http;
mod ignore;
mod inspection;
mod intensity;
mod keyvalue;
mod lifecycle;
mod live_settings;
mod mailbox;
mod names;
mod observer;
mod order_system;
mod poison;
mod restart_types;
mod shutdown;
mod strategies;
mod swap;
