# Convenience recipes. Nothing here is required: the README's two cargo
# commands work on their own.

# Run the example tree (Ctrl-C stops it).
demo:
    cargo run --example supervision

# The whole test suite (builds the guest components first).
test:
    cargo test --workspace

# Lints as CI runs them.
lint:
    cargo clippy --workspace --all-targets -- -D warnings
    cargo fmt --all --check

# Build the guest components only.
guests:
    cargo build -p arbor-guest-artifacts

# Talk to the running example: just ctl tree, just ctl call frontdesk ping
ctl *ARGS:
    cargo run -q -- ctl {{ARGS}}

# Fuzz what faces untrusted input (the tree-file parser, the control socket
# and its decoder, the component loader) with CASES cases per property; CI
# runs 2,000. A failure prints the smallest failing input, and proptest keeps
# its seed in host/runtime/tests/proptest-regressions/ to replay first.
fuzz CASES="100000":
    PROPTEST_CASES={{CASES}} cargo test --workspace fuzz::

# Everything CI runs.
ci:
    bash .ci/run

# The chaos soak: random crashes, loops, memory bombs and kills under call
# traffic until 100,000 restarts (or --seconds N); prints calls, replies,
# hangs (must be 0), restarts and RSS.
soak *ARGS:
    cargo bench -p arbor --bench soak -- {{ARGS}}

# Benchmarks with the Erlang/OTP baseline and ratios (bench/run.sh --quick for a smoke run).
bench *ARGS:
    bash bench/run.sh {{ARGS}}
