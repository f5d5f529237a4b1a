//! Where instances get their memory, tables and fiber stacks: wasmtime's
//! pooling allocator sized from the tree (the default), or on-demand `mmap`.
//!
//! A restart drops a `Store` and builds a new one, so the allocator is on
//! the restart path. On demand, every restart maps and unmaps a linear
//! memory and a fiber stack; the unmap makes the kernel shoot down the TLBs
//! of the other threads (an IPI per core), the fresh pages fault in again,
//! and on this machine that is most of a 45 us restart. The pool keeps
//! slots mapped: a freed memory is reset by rewriting only its dirty pages
//! (found with the `PAGEMAP_SCAN` ioctl where the kernel has it), so the
//! next instance starts on resident pages without a single syscall in the
//! common case.
//!
//! The price of a pool is a capacity fixed when the engine is built, like
//! the BEAM's `+P` process limit: [`PoolSize::for_tree`] counts the static
//! workers, each dynamic supervisor's `max_children` (or
//! [`DEFAULT_DYNAMIC_CAPACITY`] when unbounded) and a margin; `[node]
//! max_instances` in the tree file overrides the count.
//! Each slot reserves address space, not memory: a linear memory slot is as
//! large as the biggest `max_memory_mb` in the tree, so 100,000 instances
//! with two 64 MiB slots each (12.5 TiB) fit in the 128 TiB of a 47-bit
//! address space (on-demand reserves 4 GiB + 2 GiB of guard per memory,
//! which runs out near 20,000).

use wasmtime::{Config, Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::spec::{ChildSpec, DEFAULT_MAX_MEMORY_BYTES, SupervisorSpec, TreeSpec};

/// Slots counted for a dynamic supervisor without `max_children`.
pub const DEFAULT_DYNAMIC_CAPACITY: u32 = 10_000;

/// Slots added to the count: a crashed instance is freed just after its
/// replacement starts, so restarts briefly hold both.
const MARGIN: u32 = 64;

/// Core instances, memories and tables a component may have, per component
/// instance. A Rust guest has 1 memory and 3-4 core instances; the Python
/// and JavaScript runtimes have a few more.
const CORE_INSTANCES_PER_SLOT: u32 = 4;
const MEMORIES_PER_SLOT: u32 = 2;
const TABLES_PER_SLOT: u32 = 2;

/// The largest table a guest may have: CPython's function table has ~13k
/// entries.
const TABLE_ELEMENTS: usize = 1 << 16;

/// The largest per-instance state (VMContext) of one core instance.
const CORE_INSTANCE_BYTES: usize = 4 << 20;

/// Memory kept resident per freed memory slot, its dirty pages (found by
/// `PAGEMAP_SCAN`) rewritten from the image instead of dropped: a Rust
/// guest's whole working set, and most of a Python or JavaScript
/// interpreter's (their restarts went from 1.9 to 1.6 ms and 0.66 to
/// 0.44 ms going from 1 to 16 MiB). Raising it further gains nothing for
/// them: wasmtime 48's scan stops at 32 dirty regions and decommits the
/// rest of the memory whatever this budget (README, per-language figures).
const MEMORY_KEEP_RESIDENT: usize = 16 << 20;

/// Each child's fiber: the host stack its callbacks run on, and the part
/// of it the wasm code may use (a deeper recursion is a stack-overflow trap).
const FIBER_STACK_BYTES: usize = 512 << 10;
const MAX_WASM_STACK_BYTES: usize = 256 << 10;

/// How instances are allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    /// wasmtime's pooling allocator with fixed capacity.
    Pooling(PoolSize),
    /// `mmap` per instance: no capacity limit, slower (re)starts; the
    /// kernel's `vm.max_map_count` stops it near 10,000 live instances.
    OnDemand,
}

/// The capacity of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSize {
    /// Live instances at once.
    pub instances: u32,
    /// Size of each linear-memory slot: the largest `max_memory_mb`.
    pub memory_bytes: usize,
}

impl PoolSize {
    /// Room for every child the tree can have at once; `[node]
    /// max_instances` replaces the count.
    pub fn for_tree(tree: &TreeSpec) -> PoolSize {
        let mut count = Count::default();
        count.supervisor(&tree.root);
        let instances = match tree.max_instances {
            Some(n) => n,
            None => count.instances.saturating_add(MARGIN),
        };
        PoolSize {
            instances: instances.max(1),
            memory_bytes: round_to_wasm_page(count.memory_bytes.max(DEFAULT_MAX_MEMORY_BYTES)),
        }
    }
}

#[derive(Default)]
struct Count {
    instances: u32,
    memory_bytes: usize,
}

impl Count {
    fn supervisor(&mut self, spec: &SupervisorSpec) {
        if let Some(dynamic) = &spec.dynamic {
            let capacity = dynamic
                .max_children
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
                .unwrap_or(DEFAULT_DYNAMIC_CAPACITY);
            self.instances = self.instances.saturating_add(capacity);
        }
        for child in &spec.children {
            match child {
                ChildSpec::Worker(worker) => {
                    self.instances = self.instances.saturating_add(1);
                    self.memory_bytes = self.memory_bytes.max(worker.max_memory_bytes);
                }
                ChildSpec::Supervisor(nested) => self.supervisor(nested),
            }
        }
    }
}

fn round_to_wasm_page(bytes: usize) -> usize {
    const PAGE: usize = 64 << 10;
    bytes.div_ceil(PAGE).saturating_mul(PAGE)
}

impl Allocation {
    /// The pool sized for `tree` ([`PoolSize::for_tree`]).
    pub fn for_tree(tree: &TreeSpec) -> Allocation {
        Allocation::Pooling(PoolSize::for_tree(tree))
    }

    /// The largest linear memory a child may have under this allocation.
    pub fn memory_slot_bytes(&self) -> Option<usize> {
        match self {
            Allocation::Pooling(size) => Some(size.memory_bytes),
            Allocation::OnDemand => None,
        }
    }

    /// Applies this allocation to an engine's configuration.
    pub(crate) fn configure(&self, config: &mut Config) {
        config
            .async_stack_size(FIBER_STACK_BYTES)
            .max_wasm_stack(MAX_WASM_STACK_BYTES);
        let Allocation::Pooling(size) = self else {
            return;
        };
        let slots = size.instances;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(slots)
            .total_core_instances(slots.saturating_mul(CORE_INSTANCES_PER_SLOT))
            .total_memories(slots.saturating_mul(MEMORIES_PER_SLOT))
            .total_tables(slots.saturating_mul(TABLES_PER_SLOT))
            .total_stacks(slots)
            .max_memory_size(size.memory_bytes)
            .table_elements(TABLE_ELEMENTS)
            .max_core_instance_size(CORE_INSTANCE_BYTES)
            .max_memories_per_component(MEMORIES_PER_SLOT * CORE_INSTANCES_PER_SLOT)
            .max_tables_per_component(TABLES_PER_SLOT * CORE_INSTANCES_PER_SLOT)
            .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
            .table_keep_resident(64 << 10)
            .pagemap_scan(Enabled::Auto);
        config
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .memory_reservation(size.memory_bytes as u64)
            .memory_reservation_for_growth(0)
            .memory_guard_size(64 << 10)
            .memory_init_cow(true);
    }
}

/// The command that lifts the kernel's limit on memory mappings.
pub(crate) const RAISE_MAP_COUNT: &str = "sysctl -w vm.max_map_count=1048576";

/// Explains why the pool of `size` could not be reserved when the engine
/// was built (`detail` is wasmtime's error).
pub(crate) fn reservation_failure(size: PoolSize, detail: &str) -> String {
    format!(
        "{detail}: the instance pool for {} instances could not be reserved (each instance takes \
         2 memory slots of address space and about 2 of the kernel's vm.max_map_count mappings): \
         lower `[node] max_instances` or `max_memory_mb`, or raise the sysctl ({RAISE_MAP_COUNT})",
        size.instances
    )
}

/// Whether an instantiation failed because the pool is full.
pub(crate) fn pool_exhausted(error: &wasmtime::Error) -> bool {
    error
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
}

/// How full the instance pool is (`arbor ctl instances`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InstanceUsage {
    /// Live component instances (children running, or starting).
    pub live: u64,
    /// The pool's capacity.
    pub capacity: u32,
    /// Size of each linear-memory slot.
    pub memory_slot_bytes: usize,
    /// Bytes kept resident by slots that stopped children freed.
    pub freed_resident_bytes: usize,
}

impl InstanceUsage {
    /// The usage of `engine`'s pool; `None` with the on-demand allocator.
    pub(crate) fn of(engine: &wasmtime::Engine, allocation: Allocation) -> Option<InstanceUsage> {
        let (Allocation::Pooling(size), Some(metrics)) =
            (allocation, engine.pooling_allocator_metrics())
        else {
            return None;
        };
        Some(InstanceUsage {
            live: metrics.component_instances(),
            capacity: size.instances,
            memory_slot_bytes: size.memory_bytes,
            freed_resident_bytes: metrics.unused_memory_bytes_resident(),
        })
    }
}

impl std::fmt::Display for InstanceUsage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} instances live ({:.0}% of the pool; raise `[node] max_instances` for more), \
             {} MiB memory slots, {:.1} MiB kept resident by freed slots",
            self.live,
            self.capacity,
            self.live as f64 * 100.0 / f64::from(self.capacity.max(1)),
            self.memory_slot_bytes >> 20,
            self.freed_resident_bytes as f64 / f64::from(1 << 20)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn tree(text: &str) -> TreeSpec {
        let text = format!("[components]\nw = \"w.wasm\"\n\n{text}");
        TreeSpec::parse(Path::new("t.toml"), &text).unwrap()
    }

    const TWO_WORKERS_AND_A_POOL: &str = r#"
[supervisor]
name = "root"

[[supervisor.children]]
name = "a"
component = "w"

[[supervisor.children]]
name = "b"
component = "w"
max_memory_mb = 200

[[supervisor.children]]
name = "pool"
dynamic = { max_children = 100 }
"#;

    #[test]
    fn a_pool_has_a_slot_for_every_child_the_tree_can_hold_and_the_largest_memory() {
        let size = PoolSize::for_tree(&tree(TWO_WORKERS_AND_A_POOL));
        assert_eq!(size.instances, 2 + 100 + MARGIN);
        assert_eq!(size.memory_bytes, 200 << 20);
    }

    #[test]
    fn an_unbounded_dynamic_supervisor_counts_the_default_capacity() {
        let text = TWO_WORKERS_AND_A_POOL.replace("{ max_children = 100 }", "{}");
        let size = PoolSize::for_tree(&tree(&text));
        assert_eq!(size.instances, 2 + DEFAULT_DYNAMIC_CAPACITY + MARGIN);
    }

    #[test]
    fn node_max_instances_replaces_the_count() {
        let text = format!("[node]\nmax_instances = 5000\n{TWO_WORKERS_AND_A_POOL}");
        assert_eq!(PoolSize::for_tree(&tree(&text)).instances, 5000);
    }

    #[test]
    fn memory_slots_are_whole_wasm_pages_and_at_least_the_default_limit() {
        assert_eq!(round_to_wasm_page(1), 64 << 10);
        assert_eq!(round_to_wasm_page(64 << 10), 64 << 10);
        let small = tree(
            "[supervisor]\nname = \"r\"\n[[supervisor.children]]\nname = \"a\"\ncomponent = \"w\"\nmax_memory_mb = 1\n",
        );
        assert_eq!(
            PoolSize::for_tree(&small).memory_bytes,
            DEFAULT_MAX_MEMORY_BYTES
        );
    }
}
