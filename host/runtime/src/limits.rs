//! What one child's `Store` may grow to, and what it holds: wasmtime's
//! [`StoreLimits`] (the tree file's `max_memory_mb`, the instance count)
//! decide every growth, and each linear memory made or grown is added to
//! the child's [`MemoryGauge`], which gets it all back when the store is
//! dropped. The gauge is what `arbor ctl tree --json`, the observer's page
//! and `/metrics` show as a child's memory.
//!
//! The limiter is asked before each growth, not told after it, so a growth
//! it allowed that the operating system then refused (out of memory) stays
//! counted until the instance is dropped: rare, and then the figure errs
//! high. It cannot be told apart from a refusal wasmtime reports without
//! asking first (a growth past the memory's declared maximum), which must
//! not be taken off.

use std::sync::Arc;

use wasmtime::{ResourceLimiter, StoreLimits};

use crate::observe::stats::MemoryGauge;

/// A child store's limiter.
pub(crate) struct Limits {
    limits: StoreLimits,
    gauge: Arc<MemoryGauge>,
    /// Bytes this store has added to the gauge.
    held: u64,
}

impl Limits {
    /// `limits` decide; growth is counted on `gauge`.
    pub fn new(limits: StoreLimits, gauge: Arc<MemoryGauge>) -> Self {
        Limits {
            limits,
            gauge,
            held: 0,
        }
    }

    /// The same limits and gauge for another store, holding nothing yet
    /// (a hot swap's new instance, which lives beside the old one for a
    /// while: both are counted).
    pub fn renewed(&self) -> Self {
        Limits::new(self.limits.clone(), self.gauge.clone())
    }
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if allowed {
            let grown = desired.saturating_sub(current) as u64;
            self.held += grown;
            self.gauge.grew(grown);
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

impl Drop for Limits {
    fn drop(&mut self) {
        // The store, and with it every memory counted here, is going away.
        self.gauge.freed(self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::StoreLimitsBuilder;

    const PAGE: usize = 1 << 16;

    #[test]
    fn growth_within_the_limit_is_counted_and_given_back_on_drop() {
        let gauge = Arc::new(MemoryGauge::default());
        let capped = || StoreLimitsBuilder::new().memory_size(4 * PAGE).build();
        let mut limits = Limits::new(capped(), gauge.clone());
        assert!(limits.memory_growing(0, 2 * PAGE, None).unwrap(), "made");
        assert!(limits.memory_growing(2 * PAGE, 3 * PAGE, None).unwrap());
        assert!(
            !limits.memory_growing(3 * PAGE, 5 * PAGE, None).unwrap(),
            "past max_memory_mb: refused, not counted"
        );
        assert_eq!(gauge.bytes(), 3 * PAGE as u64);
        let mut swapped_in = limits.renewed();
        assert!(swapped_in.memory_growing(0, PAGE, None).unwrap());
        assert_eq!(gauge.bytes(), 4 * PAGE as u64, "both instances, for now");
        drop(limits);
        assert_eq!(gauge.bytes(), PAGE as u64);
        drop(swapped_in);
        assert_eq!(gauge.bytes(), 0);
    }
}
