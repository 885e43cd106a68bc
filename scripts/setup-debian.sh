#!/usr/bin/env bash
# Install what the gateway needs on a fresh Debian machine: PostgreSQL's server binaries
# (initdb, pg_ctl, postgres) for the embedded database; with --tests (scripts/test.sh), also
# Chromium and ChromeDriver for the /ops page's browser test (tests/tests/ops_page.rs), a CJK
# font for its screenshot, and Python's venv for the schemathesis run. Idempotent; needs root for apt-get.
set -euo pipefail
missing=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
if [ "${1:-}" = "--tests" ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
  [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
  # bench/schemathesis.sh installs schemathesis (PyPI) into a venv.
  python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing: ${missing[*]}: run 'sudo apt-get install -y ${missing[*]}'" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
