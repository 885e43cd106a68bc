#!/usr/bin/env bash
# The main command: run one gateway node on this machine. Installs PostgreSQL if missing,
# builds the gateway, creates a development PKI on first run (certs/dev, git-ignored) and
# registers its principals, then serves the exchange listener on https://127.0.0.1:8443 with
# the embedded PostgreSQL (started, or reused when already running). Extra arguments go to
# `gateway serve`; configuration comes from ./gateway.toml or GATEWAY_* variables.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-debian.sh
cargo build --bin gateway
gw="${CARGO_TARGET_DIR:-target}/debug/gateway"
if [ ! -f certs/dev/ca.crt ]; then
  "$gw" pki init --out certs/dev
fi
echo "gateway: starting the node. Push with e.g.:"
echo "  curl --cacert certs/dev/ca.crt --cert certs/dev/clients/xifeng-amr-system.crt --key certs/dev/clients/xifeng-amr-system.key \\"
echo "       --data-binary @adapters/fixtures/market-regulation/batch-valid.json https://localhost:8443/v1/ingest/market-regulation"
exec "$gw" serve "$@"
