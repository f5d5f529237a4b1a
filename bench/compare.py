"""Reads Arbor's `metric NAME VALUE UNIT # what` lines and the OTP baseline's
output (same machine, same run) and prints the comparison table with ratios.

    python3 bench/compare.py ARBOR_OUTPUT OTP_OUTPUT [MORE_ARBOR_OUTPUTS...]
"""

import re
import sys


def arbor_metrics(path):
    metrics = {}
    for line in open(path, encoding="utf-8"):
        m = re.match(r"metric (\S+) ([0-9.]+) (\S+) # (.*)", line)
        if m:
            metrics[m.group(1)] = (float(m.group(2)), m.group(3), m.group(4).strip())
    return metrics


def otp_metrics(path):
    text = open(path, encoding="utf-8").read()
    found = {}
    patterns = {
        "call_per_s": r"gen_server:call 1c1s .*median (\d+) /s",
        "restart_us": r"restart latency \(crash, .*median of run medians ([0-9.]+) us",
        "restart_spaced_5ms_us": r"restart latency spaced \(crash, .*every 5 ms.*median ([0-9.]+) us",
        "restart_spaced_50ms_us": r"restart latency spaced \(crash, .*every 50 ms.*median ([0-9.]+) us",
        "start_child_per_s": r"supervisor:start_child .*median (\d+) /s",
        "memory_per_process_bytes": r"VmRSS before .*delta/N = ([0-9.]+) B/process",
    }
    for name, pattern in patterns.items():
        m = re.search(pattern, text)
        if m:
            found[name] = float(m.group(1))
    # One start's time, to set a phase of Arbor's start beside.
    if "start_child_per_s" in found:
        found["start_child_us"] = 1e6 / found["start_child_per_s"]
    return found


# (Arbor metric, OTP metric, how to read the ratio, target)
ROWS = [
    ("restart_us", "restart_us", "lower is better", "<= 1.0x"),
    ("restart_p99_us", None, "", ""),
    ("restart_from_panic_us", "restart_us", "lower is better", "<= 1.0x"),
    ("restart_from_trap_us", "restart_us", "lower is better", "<= 1.0x"),
    ("restart_fast_traps_us", "restart_us", "lower is better", ""),
    ("restart_fast_traps_from_trap_us", "restart_us", "lower is better", "<= 1.0x"),
    ("restart_e2e_us", None, "", ""),
    ("restart_event_writer_us", "restart_us", "lower is better", ""),
    ("restart_spaced_us", "restart_spaced_50ms_us", "lower is better", "<= 1.0x"),
    ("restart_spaced_from_panic_us", "restart_spaced_50ms_us", "lower is better", "<= 1.0x"),
    ("restart_cli_burst_us", "restart_us", "lower is better", ""),
    ("restart_cli_burst_p99_us", None, "", ""),
    ("restart_cli_spaced_5ms_us", "restart_spaced_5ms_us", "lower is better", "<= 1.0x"),
    ("restart_cli_spaced_50ms_us", "restart_spaced_50ms_us", "lower is better", "<= 1.0x"),
    ("restart_cli_spaced_50ms_p99_us", None, "", ""),
    ("restart_on_demand_us", "restart_us", "lower is better", ""),
    ("one_for_all_10_us", None, "", ""),
    ("restart_among_5000_us", "restart_us", "lower is better", ""),
    ("restart_rust_us", "restart_us", "lower is better", ""),
    ("restart_python_us", "restart_us", "lower is better", "< 200 us"),
    ("restart_javascript_us", "restart_us", "lower is better", "< 200 us"),
    ("restart_c_us", "restart_us", "lower is better", ""),
    ("restart_go_us", "restart_us", "lower is better", ""),
    ("call_rust_per_s", "call_per_s", "higher is better", ">= 1.0x"),
    ("call_guest_per_s", "call_per_s", "higher is better", ">= 1.0x"),
    ("call_guest_long_per_s", "call_per_s", "higher is better", ">= 1.0x"),
    ("call_rust_remote_per_s", "call_per_s", "higher is better", ">= 0.3x"),
    ("call_rust_remote_nospin_per_s", "call_per_s", "higher is better", ""),
    ("cast_per_s", None, "", ""),
    ("start_child_per_s", "start_child_per_s", "higher is better", ">= 1.0x"),
    ("start_child_reused_per_s", "start_child_per_s", "higher is better", ">= 1.0x"),
    ("start_child_reused_traced_us", "start_child_us", "lower is better", ""),
    ("start_child_reused_instantiate_us", "start_child_us", "lower is better", ""),
    ("start_child_reused_init_us", "start_child_us", "lower is better", ""),
    ("start_child_reused_arbor_us", "start_child_us", "lower is better", ""),
    ("start_child_on_demand_per_s", "start_child_per_s", "higher is better", ""),
    ("memory_per_child_10k_bytes", "memory_per_process_bytes", "lower is better", "<= 64 KiB"),
    ("memory_per_child_100k_bytes", "memory_per_process_bytes", "lower is better", "<= 32 KiB"),
    ("live_children_100k", None, "", "100,000"),
    ("maps_per_child_100k", None, "", ""),
    ("cold_start_10_ms", None, "", "< 50 ms"),
]


def main():
    arbor = arbor_metrics(sys.argv[1])
    otp = otp_metrics(sys.argv[2]) if len(sys.argv) > 2 else {}
    # Further Arbor outputs of the same run (the per-language bench).
    for extra in sys.argv[3:]:
        arbor.update(arbor_metrics(extra))
    print("\n| figure | Arbor | OTP (same run) | Arbor / OTP | target |")
    print("|---|---|---|---|---|")
    for name, otp_name, _, target in ROWS:
        if name not in arbor:
            continue
        value, unit, what = arbor[name]
        other = otp.get(otp_name) if otp_name else None
        ratio = f"{value / other:.2f}x" if other else "-"
        other_text = f"{other:,.1f} {unit}" if other else "-"
        print(f"| {what} | {value:,.1f} {unit} | {other_text} | {ratio} | {target} |")


if __name__ == "__main__":
    main()
