#!/usr/bin/env bash
# The test command: installs what is missing, builds once (one profile, one target dir), runs
# format and lint checks and every test (unit, golden fixtures, end-to-end against the real
# binary, real PostgreSQL and real mTLS), then stops the test PostgreSQL it started.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-debian.sh --tests

export E2E_PG_DIR="${E2E_PG_DIR:-/var/tmp/exchange-gateway-e2e/pg}"
export E2E_PG_PORT="${E2E_PG_PORT:-55439}"
gw="${CARGO_TARGET_DIR:-target}/debug/gateway"
stop_test_db() {
  GATEWAY_DATABASE__EMBEDDED__BASE_DIR="$E2E_PG_DIR" GATEWAY_DATABASE__EMBEDDED__PORT="$E2E_PG_PORT" \
    "$gw" db stop >/dev/null 2>&1 || true
}
trap stop_test_db EXIT

cargo fmt --all -- --check
cargo build --workspace --all-targets
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
# The README's main command, as a scenario: a five-node network on the test PostgreSQL.
GATEWAY_DATABASE__EMBEDDED__BASE_DIR="$E2E_PG_DIR" GATEWAY_DATABASE__EMBEDDED__PORT="$E2E_PG_PORT" \
  "$gw" demo --smoke --dir /var/tmp/exchange-gateway-test-demo --base-port 19541
# The benchmark harness as a smoke test (issue 11), so it does not rot: a few seconds per figure
# on the debug build just made, no timing assertion, no nginx hop (setup-debian.sh does not
# install nginx), with the node run as two processes too (--scale-out); ~1.5 min. It fails if
# what was pushed is not all stored (or stored twice, or a credential not logged once), or a
# phase errors out. Its own state folder and PostgreSQL port, apart from a developer's full run.
BENCH_WORK=/var/tmp/exchange-gateway-bench-smoke BENCH_PG_PORT=55450 BENCH_PROFILE=debug \
  bench/run.sh --short --no-nginx --scale-out --results target/bench-smoke >/dev/null
# And its forwarding phases (a parent and a child node, a small backlog drained, the outbox lag
# at half and a quarter of the child's peak): ~1 min.
BENCH_WORK=/var/tmp/exchange-gateway-bench-smoke BENCH_PG_PORT=55450 BENCH_PROFILE=debug \
  bench/run.sh --short --no-nginx --drain-only --drain-records 5000 --results target/bench-smoke >/dev/null
# And the A/B comparison (bench/ab.sh): one pair of the same binary, 1 s windows, ~2 min.
BENCH_WORK=/var/tmp/exchange-gateway-bench-smoke BENCH_PG_PORT=55450 BENCH_PROFILE=debug \
  bench/ab.sh --pairs 1 --secs 1 --name smoke --results target/bench-smoke "$gw" "$gw" >/dev/null
# Schemathesis against the OpenAPI document (issue 12), 5 examples per operation and caller:
# no 5xx, no answer outside the document; ~3 min. Results in target/, not in the checkout.
ST_RESULTS=target/schemathesis bench/schemathesis.sh --short
