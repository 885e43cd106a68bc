#!/usr/bin/env bash
# Throughput of every adapter (criterion, adapters/benches/decode.rs): decode alone, and decode +
# normalize + schema validation, in records per second, on a batch of ~500 records built by
# repeating the records of each adapter's valid fixture. Writes
# bench/results/adapters-<date>.md (table) and bench/results/adapters-<date>.json (raw criterion
# estimates).
#
#   bench/adapters.sh [criterion filter…]      e.g. bench/adapters.sh tax health
#
# Builds with the bench (release) profile into target/bench (override with CARGO_TARGET_DIR), so
# the shared debug build in target/ is left alone. Criterion keeps its history in
# $CARGO_TARGET_DIR/criterion and prints the change since the previous run. Environment:
# BENCH_NICE (default 0) runs it under nice; BENCH_DATE overrides the date in the file names.
# Needs python3 for the report.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
date=${BENCH_DATE:-$(date +%F)}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/bench}
crit="$CARGO_TARGET_DIR/criterion"
results="$root/bench/results"
md="$results/adapters-$date.md"
raw="$results/adapters-$date.json"
mkdir -p "$results" "$CARGO_TARGET_DIR"
log="$CARGO_TARGET_DIR/adapters-bench.log"
stamp="$CARGO_TARGET_DIR/adapters-bench.stamp"
touch "$stamp"

cd "$root"
echo "== cargo bench -p exchange-adapters --bench decode (target dir: ${CARGO_TARGET_DIR#"$root"/})" >&2
nice -n "${BENCH_NICE:-0}" cargo bench -p exchange-adapters --bench decode -- "$@" 2>&1 | tee "$log" >&2

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
python3 - "$crit" "$stamp" "$md" "$raw" "$date" "$commit" "$(nproc)" "$cpu" "$(rustc -V)" <<'EOF'
import json, os, sys
crit, stamp, md, raw, date, commit, cores, cpu, rustc = sys.argv[1:]
since = os.path.getmtime(stamp)
found = []
for dirpath, dirnames, filenames in os.walk(crit):
    if os.path.basename(dirpath) != "new" or "estimates.json" not in filenames:
        continue
    est_path = os.path.join(dirpath, "estimates.json")
    if os.path.getmtime(est_path) < since:
        continue  # from an earlier run (or filtered out of this one)
    bench = json.load(open(os.path.join(dirpath, "benchmark.json")))
    est = json.load(open(est_path))
    found.append((os.path.getmtime(est_path), bench, est))
if not found:
    sys.exit("no criterion results from this run under " + crit)
found.sort(key=lambda f: f[0])  # the order the benchmark ran them in

entries, by_adapter = [], {}
for _, bench, est in found:
    records = bench["throughput"]["Elements"]
    mean = est["mean"]["point_estimate"]  # ns per batch
    lo = est["mean"]["confidence_interval"]["lower_bound"]
    hi = est["mean"]["confidence_interval"]["upper_bound"]
    e = {
        "adapter": bench["group_id"],
        "benchmark": bench["function_id"],
        "records_per_batch": records,
        "ns_per_batch": mean,
        "records_per_second": records / (mean / 1e9),
        "records_per_second_ci95": [records / (hi / 1e9), records / (lo / 1e9)],
        "us_per_record": mean / 1e3 / records,
        "criterion": {"benchmark": bench, "estimates": est},
    }
    entries.append(e)
    by_adapter.setdefault(e["adapter"], {})[e["benchmark"]] = e

json.dump({"date": date, "commit": commit, "cores": int(cores), "cpu": cpu, "rustc": rustc,
           "results": entries}, open(raw, "w"), indent=2, ensure_ascii=False)

def rate(e):
    return f"{e['records_per_second']:,.0f}" if e else "–"
def us(e):
    return f"{e['us_per_record']:.1f}" if e else "–"
def ci(e):
    if not e:
        return "–"
    a, b = e["records_per_second_ci95"]
    return f"{a:,.0f}–{b:,.0f}"

out = [f"# Adapter throughput, {date}", "",
       f"`bench/adapters.sh` (criterion, `adapters/benches/decode.rs`, bench profile) on {cores} cores"
       f" ({cpu}), {rustc}. Commit `{commit}` (plus the working tree).", "",
       "Each batch repeats the records of the adapter's valid fixture to about 500 records;"
       " **pipeline** is decode + `domain::normalize::normalize` (catalog, check digits, regions,"
       " JSON Schema validation) of every record, which is what the gateway does before storing;"
       " **decode** is the adapter alone. Rates are the mean over 20 samples (one thread);"
       " the 95% interval is criterion's for the mean.", "",
       "| adapter | records per batch | pipeline records/s | pipeline µs per record | pipeline 95% interval (records/s) | decode records/s | decode µs per record |",
       "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
for adapter, b in by_adapter.items():
    p, d = b.get("pipeline"), b.get("decode")
    n = (p or d)["records_per_batch"]
    out.append(f"| `{adapter}` | {n} | {rate(p)} | {us(p)} | {ci(p)} | {rate(d)} | {us(d)} |")
out += ["", f"Raw criterion estimates: `{os.path.basename(raw)}`."]
open(md, "w").write("\n".join(out) + "\n")
print("\n".join(out))
EOF
echo "== wrote ${md#"$root"/} and ${raw#"$root"/}" >&2
