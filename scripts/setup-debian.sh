#!/usr/bin/env bash
# Install what the gateway needs on a fresh Debian machine: PostgreSQL's server binaries
# (initdb, pg_ctl, postgres) for the embedded database. Idempotent; needs root for apt-get.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "PostgreSQL server binaries are missing: run 'sudo apt-get install -y postgresql'" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends postgresql
