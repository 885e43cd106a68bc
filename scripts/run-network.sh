#!/usr/bin/env bash
# The main command: a small network of five gateway nodes on this machine (Gansu province ->
# Qingyang city -> Xifeng district -> Xiaojin town, plus Huan county), each its own process and
# database on the embedded PostgreSQL, mTLS between them. Installs PostgreSQL if missing and
# builds the gateway. Ctrl-C stops the nodes (the database keeps running; `gateway db stop`).
# Extra arguments go to `gateway demo` (e.g. --smoke to run the scenario and exit).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-debian.sh
cargo build --bin gateway
exec "${CARGO_TARGET_DIR:-target}/debug/gateway" demo "$@"
