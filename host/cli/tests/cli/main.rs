//! The `arbor` binary end to end: `check`, `run`, `ctl`, signals, exit
//! codes, and the `arbor new` scaffolds.

mod support;

mod browser;
mod commands;
mod grants;
mod observer;
mod scaffold;
