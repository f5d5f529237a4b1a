#!/usr/bin/env bash
# Arbor's benchmarks and the Erlang/OTP baseline, on this machine, in one run:
# prints every figure with the OTP figure beside it and the ratio.
#
#   bench/run.sh            full run (several minutes)
#   bench/run.sh --quick    few iterations (a smoke test, not figures to quote)
#
# The OTP baseline is bench/otp (or $OTP_BASELINE); it needs
# Erlang/OTP, which this script installs with apt-get when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=()
[ "${1:-}" = "--quick" ] && quick=(--quick)
out=$(mktemp -d)

cargo bench --bench runtime -- "${quick[@]}" | tee "$out/arbor.txt"
cargo bench --bench languages -- "${quick[@]}" | tee "$out/languages.txt"
cargo bench --bench swap -- "${quick[@]}" | tee "$out/swap.txt"
# Restarts through `arbor run` itself (log and events on), crashed by `arbor ctl`.
cargo bench -p arbor-cli --bench restart -- "${quick[@]}" | tee -a "$out/arbor.txt"

otp_dir=${OTP_BASELINE:-bench/otp}
if ! command -v erl >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bench: installing Erlang/OTP (erlang-nox) for the baseline" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq erlang-nox >/dev/null
  fi
fi
if command -v erl >/dev/null 2>&1 && [ -f "$otp_dir/run.sh" ]; then
  what=all
  OUT="$out/otp" sh "$otp_dir/run.sh" "$what" | tee "$out/otp.txt"
else
  echo "bench: no Erlang/OTP or no baseline at $otp_dir: ratios are left out" >&2
  : > "$out/otp.txt"
fi
python3 bench/compare.py "$out/arbor.txt" "$out/otp.txt" "$out/languages.txt"
