#!/usr/bin/env bash
# Two gateways compared on one machine state: `loadgen run --short` with a long sustained
# window, A and B alternating, so a slow or a fast spell of the host falls on both sides.
# A change worth a few per cent moves the figures less than the host does between two full
# runs minutes apart (bench/README.md); alternating pairs are how this directory's
# "measured, not kept" verdicts were reached. Writes bench/results/ab-<name>.md: every run's
# figures, and each side's mean and range.
#
#   bench/ab.sh GATEWAY_A GATEWAY_B                  # two binaries, 3 pairs, 40 s windows (~8 min)
#   bench/ab.sh --env-b MIMALLOC_ALLOW_THP=0 G G     # one binary, B with an environment variable
#   bench/ab.sh --pairs 4 --secs 60 --name thp G G
#
# Options: --pairs N (default 3), --secs S (sustained window, default 40), --name NAME (default
# the date and time), --env-a / --env-b 'K=V …' (environment of that side's node; repeatable),
# --results DIR (default bench/results). Builds the load generator; build the gateways
# yourself (e.g. `cargo build --release -p exchange-gateway` and a copy of the binary before the
# change). Environment: BENCH_PROFILE (release, or debug: CI's smoke, figures meaningless),
# CARGO_TARGET_DIR, BENCH_WORK, BENCH_PG_PORT as for run.sh. Needs python3 (the summary).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
profile=${BENCH_PROFILE:-release}
pairs=3
secs=40
name=$(date -u +%Y-%m-%d-%H%M)
results=$root/bench/results
env_a=()
env_b=()
bins=()
while [ $# -gt 0 ]; do
  case $1 in
    --pairs) pairs=$2; shift 2 ;;
    --secs) secs=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --results) results=$(realpath -m "$2"); shift 2 ;;
    --env-a) read -ra more <<<"$2"; env_a+=("${more[@]}"); shift 2 ;;
    --env-b) read -ra more <<<"$2"; env_b+=("${more[@]}"); shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    *) bins+=("$(realpath -m "$1")"); shift ;;
  esac
done
if [ ${#bins[@]} -ne 2 ]; then
  echo "usage: bench/ab.sh [options] GATEWAY_A GATEWAY_B (see --help)" >&2
  exit 2
fi
for b in "${bins[@]}"; do
  [ -x "$b" ] || { echo "$b: not an executable gateway" >&2; exit 2; }
done

cd "$root"
./scripts/setup-debian.sh
if [ "$profile" = release ]; then
  echo "== cargo build --release -p exchange-bench" >&2
  cargo build --release -p exchange-bench
else
  cargo build -p exchange-bench
fi
runs=${BENCH_WORK:-/var/tmp/exchange-gateway-bench}/ab/$name
mkdir -p "$runs" "$results"

for i in $(seq 1 "$pairs"); do
  for side in a b; do
    if [ $side = a ]; then bin=${bins[0]}; envs=("${env_a[@]}"); else bin=${bins[1]}; envs=("${env_b[@]}"); fi
    echo "== pair $i/$pairs, $side: $bin ${envs[*]}" >&2
    env "${envs[@]}" "$target/$profile/loadgen" run --short --no-nginx --sustained-secs "$secs" \
      --gateway "$bin" --date "$side-$i" --results "$runs" >"$runs/$side-$i.log" 2>&1 \
      || { echo "run $side-$i failed: $runs/$side-$i.log" >&2; exit 1; }
  done
done

python3 - "$runs" "$pairs" "$results/ab-$name.md" "${bins[0]} ${env_a[*]}" "${bins[1]} ${env_b[*]}" "$secs" <<'EOF'
import json, statistics, sys
runs, pairs, out, a, b, secs = sys.argv[1:]
pairs = int(pairs)

def get(d, *path):
    for p in path:
        d = d.get(p) if isinstance(d, dict) else None
    return d

def figures(d):
    s = get(d, "gateway", "sustained") or {}
    rate = s.get("records_per_sec") or 0
    copy = get(d, "ceilings", "copy", "rows_per_sec")
    cpu = lambda p: (get(s, "usage", "processes", p, "cpu_cores") or 0) / rate * 1e6 if rate else None
    ring = get(d, "ceilings", "ed25519", "verify_us")
    verify = get(d, "gateway", "verify_api", "cpu_us_per_verification", "total")
    batch = get(d, "gateway", "verify_batch", "cpu_us_per_verification", "total")
    return {
        "sustained records/s": rate,
        "COPY rows/s": copy,
        "ratio": rate / copy if copy else None,
        "gateway µs/record": cpu("gateway"),
        "PostgreSQL µs/record": cpu("postgres"),
        "gateway peak MiB": get(s, "usage", "processes", "gateway", "peak_mem_mib"),
        "batch p99 ms (half peak)": get(d, "gateway", "half_peak", "latency_ms", "p99"),
        "single p99 ms": get(d, "gateway", "single", "latency_ms", "p99"),
        "verification µs": verify,
        "verification × ring": verify / ring if verify and ring else None,
        "verification in batches µs": batch,
        "verification in batches × ring": batch / ring if batch and ring else None,
    }

sides = {"a": [], "b": []}
for i in range(1, pairs + 1):
    for side in "ab":
        with open(f"{runs}/{side}-{i}-short.json") as f:
            sides[side].append(figures(json.load(f)))
keys = list(sides["a"][0])
fmt = lambda v: "–" if v is None else (f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.2f}")
lines = [f"# A/B: {out.rsplit('/', 1)[-1][3:-3]}", "",
         f"`bench/ab.sh`: {pairs} pair{'s' if pairs > 1 else ''} of `loadgen run --short --no-nginx --sustained-secs {secs}`, "
         "A and B alternating on the same machine.", "",
         f"- **A**: `{a.strip()}`", f"- **B**: `{b.strip()}`", "",
         "| figure | A mean | A range | B mean | B range | B / A |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
for k in keys:
    va = [r[k] for r in sides["a"] if r[k] is not None]
    vb = [r[k] for r in sides["b"] if r[k] is not None]
    if not va or not vb:
        continue
    ma, mb = statistics.mean(va), statistics.mean(vb)
    lines.append(f"| {k} | {fmt(ma)} | {fmt(min(va))}–{fmt(max(va))} | {fmt(mb)} | "
                 f"{fmt(min(vb))}–{fmt(max(vb))} | {mb / ma:.3f} |" if ma else f"| {k} | – | | | | |")
lines += ["", "Every run, in the order run:", "", "| run | " + " | ".join(keys) + " |",
          "| --- |" + " ---: |" * len(keys)]
for i in range(pairs):
    for side in "ab":
        r = sides[side][i]
        lines.append(f"| {side.upper()}{i + 1} | " + " | ".join(fmt(r[k]) for k in keys) + " |")
lines += ["", f"Each run's report and raw figures: `{runs}/<side>-<pair>-short.{{md,json}}`.", ""]
open(out, "w").write("\n".join(lines))
print(f"== wrote {out}", file=sys.stderr)
EOF
