#!/usr/bin/env bash
# The gateway measured against this machine's ceilings, in one run (issue 11): a real node on
# loopback under load from bench/loadgen (every adapter, 10 % of records with certificates),
# PostgreSQL COPY, ring Ed25519, JSON Schema validation, a plain hyper server and an nginx hop
# measured beside it. Writes bench/results/<date>.json and bench/results/<date>.md (figures,
# ceilings, ratios, pass/fail against the targets); --short writes <date>-short.* instead.
#
#   bench/run.sh                 # full run: ~7 min after the release build (~6 min cold)
#   bench/run.sh --short         # a few seconds per figure: what CI can afford
#   bench/run.sh --perf          # also sample the node with perf during sustained ingest
#   bench/run.sh --no-nginx      # leave out the nginx hop (no apt-get)
#   bench/run.sh --results DIR   # write the results elsewhere
#   bench/run.sh --growth        # also the growth figures: ingest with 10 M records stored vs. an
#                                # empty store, forwarding drain and outbox lag (~25 GB of disk,
#                                # checked first; +20-30 min); --growth-only runs just those and
#                                # writes <date>-growth.*; --growth-rows N, --drain-records M;
#                                # --drain-only just the forwarding drain and lag (no bulk load)
#
# Environment: BENCH_PROFILE (release, or debug to reuse the test build: figures are then
# meaningless, the run a smoke test), CARGO_TARGET_DIR, BENCH_WORK (state of the run, default
# /var/tmp/exchange-gateway-bench), BENCH_PG_PORT (default 55449), BENCH_DATE.
# Installs PostgreSQL (scripts/setup-debian.sh) and, unless --no-nginx, Debian's nginx when
# missing (needs root; apt may start Debian's own nginx service on port 80, which is not used).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
profile=${BENCH_PROFILE:-release}
target=${CARGO_TARGET_DIR:-$root/target}

nginx=1
perf=0
for arg in "$@"; do
  case $arg in
    --no-nginx) nginx=0 ;;
    --perf) perf=1 ;;
  esac
done

./scripts/setup-debian.sh
if [ "$nginx" = 1 ] && ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "nginx is missing: run 'sudo apt-get install -y nginx', or pass --no-nginx" >&2
    exit 1
  fi
  echo "== installing nginx (Debian package) for the reverse-proxy hop" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx
fi
if [ "$perf" = 1 ] && ! command -v perf >/dev/null; then
  echo "--perf needs perf (Debian package linux-perf)" >&2
  exit 1
fi

if [ "$profile" = release ]; then
  echo "== cargo build --release -p exchange-gateway -p exchange-bench" >&2
  cargo build --release -p exchange-gateway -p exchange-bench
else
  cargo build -p exchange-gateway -p exchange-bench
fi
bin="$target/$profile"
exec "$bin/loadgen" run --gateway "$bin/gateway" "$@"
