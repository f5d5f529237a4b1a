#!/usr/bin/env bash
# Builds {{name}}.wasm with componentize-py, installed into .tools/ (a venv).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .tools/bin/componentize-py ]; then
  python3 -m venv .tools
  .tools/bin/pip install --quiet --disable-pip-version-check componentize-py==0.25.1
fi
# Only the guest's own modules go on the component's Python path.
rm -rf .build && mkdir -p .build && cp app.py arbor_guest.py .build/
env -u VIRTUAL_ENV -u PYTHONPATH .tools/bin/componentize-py -d wit -w supervised componentize app -p .build -o {{name}}.wasm
echo "built {{name}}.wasm"
