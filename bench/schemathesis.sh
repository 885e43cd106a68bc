#!/usr/bin/env bash
# Schemathesis (PyPI) against schemas/openapi.json: property-based requests to a real node on
# each listener, as each kind of caller, checking that nothing answers 5xx and that every answer
# is one the document describes (status, content type, body schema). Writes
# bench/results/schemathesis-<date>.md (bench/results/schemathesis-<date>-short.md with --short).
#
#   bench/schemathesis.sh [--short] [examples-per-operation]
#
# Default 100 examples per operation and caller (~10-15 min on 2 cores); --short: 5 examples,
# the examples and coverage phases skipped (< 3 min after the build), a smoke test for CI.
#
# The node: `gateway pki init --topology` for a province (620000000000) with one child city
# (621000000000), both served on the embedded PostgreSQL (its own cluster under $ST_WORK, port
# $ST_PG_PORT; the city so that lookups routed down get answers); the province, under test,
# with the dev root key as grants publisher, its dev principals
# registered and one batch of every adapter's valid fixture pushed, so lookups find data.
# Callers: the exchange listener as a departmental system and as the child node (peer); the web
# listener as approver, operator and supervisor (client certificates) and anonymously. Each
# run sees the document cut down to the operations its listener serves.
#
# Schemathesis is installed into a venv under $ST_WORK (python3 -m venv; Debian:
# python3-venv). Environment: ST_WORK (default /var/tmp/exchange-gateway-schemathesis),
# ST_PG_PORT (55469), ST_RESULTS (folder of the results file, default bench/results), ST_DATE (the date in the results file's name), ST_SEED (the seed, default
# a fixed one so runs are repeatable), ST_VERSION (the schemathesis version pinned, 4.32.5).
# Exit status 1 when a check failed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
short=0
examples=100
for arg in "$@"; do
    case "$arg" in
        --short) short=1; examples=5 ;;
        [0-9]*) examples=$arg ;;
        *) echo "usage: $0 [--short] [examples-per-operation]" >&2; exit 2 ;;
    esac
done
work=${ST_WORK:-/var/tmp/exchange-gateway-schemathesis}
pg_port=${ST_PG_PORT:-55469}
date=${ST_DATE:-$(date +%F)}
seed=${ST_SEED:-20260112}
version=${ST_VERSION:-4.32.5}
suffix=$([ "$short" = 1 ] && echo "-short" || true)
results=${ST_RESULTS:-$root/bench/results}
mkdir -p "$results"
out="$results/schemathesis-$date$suffix.md"
if [ "$short" = 1 ]; then
    phases=fuzzing
else
    phases=examples,coverage,fuzzing
fi

mkdir -p "$work"
venv="$work/venv"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "schemathesis==$version"
fi

(cd "$root" && nice cargo build --quiet --bin gateway)
gw="${CARGO_TARGET_DIR:-$root/target}/debug/gateway"

# A fresh node each run: PKI, database and logs under $work/run.
run="$work/run"
pki="$run/pki"
province=620000000000
city=621000000000
if [ -d "$run" ]; then
    # The previous run's node, should it still be up.
    for pid in "$run"/*.pid; do [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true; done
    rm -rf "$run"
fi
mkdir -p "$run"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
x_port=$(free_port)
w_port=$(free_port)
c_port=$(free_port)
cat >"$run/topology.json" <<EOF
{"network_base_url": "https://localhost:$x_port", "nodes": [
  {"region": "$province", "name": "甘肃省节点", "parent": null,
   "exchange": "127.0.0.1:$x_port", "web": "127.0.0.1:$w_port"},
  {"region": "$city", "name": "庆阳市节点", "parent": "$province",
   "exchange": "127.0.0.1:$c_port", "web": "127.0.0.1:$(free_port)"}
]}
EOF
"$gw" pki init --topology "$run/topology.json" --out "$pki" >/dev/null
node="$pki/$province"
export GATEWAY_CONFIG="$node/gateway.toml"
export GATEWAY_DATABASE__EMBEDDED__BASE_DIR="$work/pg"
export GATEWAY_DATABASE__EMBEDDED__PORT=$pg_port
export GATEWAY_DATABASE__EMBEDDED__DATABASE="st_$(date +%s)"
export GATEWAY_FEDERATION__PUBLISHER_KEY="$pki/root-key.pk8"
export GATEWAY_MLLP__LISTEN=127.0.0.1:0
export GATEWAY_LOG__LEVEL=warn
unset GATEWAY_DATABASE__URL
"$gw" principals import "$node/principals.json" >/dev/null
"$gw" serve --ready-file "$run/ready.json" 2>"$run/serve.log" &
echo $! >"$run/serve.pid"
# The child city node too (its own database): lookups the province routes down get answers.
(
    export GATEWAY_CONFIG="$pki/$city/gateway.toml"
    export GATEWAY_DATABASE__EMBEDDED__DATABASE="${GATEWAY_DATABASE__EMBEDDED__DATABASE}_city"
    unset GATEWAY_FEDERATION__PUBLISHER_KEY
    "$gw" principals import "$pki/$city/principals.json" >/dev/null
    exec "$gw" serve --ready-file "$run/ready-city.json" 2>"$run/serve-city.log"
) &
echo $! >"$run/city.pid"
stop() {
    kill "$(cat "$run/city.pid")" 2>/dev/null || true
    kill "$(cat "$run/serve.pid")" 2>/dev/null || true
    wait 2>/dev/null || true
    "$gw" db stop >/dev/null 2>&1 || true
}
trap stop EXIT
for _ in $(seq 600); do
    [ -s "$run/ready.json" ] && [ -s "$run/ready-city.json" ] && break
    kill -0 "$(cat "$run/serve.pid")" 2>/dev/null || { cat "$run/serve.log" >&2; exit 1; }
    sleep 0.1
done
[ -s "$run/ready.json" ] && [ -s "$run/ready-city.json" ] ||
    { echo "gateway serve did not become ready" >&2; cat "$run"/serve*.log >&2; exit 1; }
exchange="https://localhost:$x_port"
web="https://localhost:$w_port"
ca="$node/ca.crt"
clients="$node/clients"

# Data to look up: every adapter's valid fixture, pushed by the province's system of its
# department (the fixtures' regions are all within the province).
system_of() { echo "n$province-$1"; }
for dir in "$root"/adapters/fixtures/*/; do
    adapter=$(basename "$dir")
    fixture=$(ls "$dir"batch-valid.* 2>/dev/null | head -1)
    [ -n "$fixture" ] || continue
    principal="n$province-$adapter"
    [ -f "$clients/$principal.crt" ] || continue
    case "$fixture" in *.xml) ct=application/xml ;; *) ct=application/json ;; esac
    curl -sS -o /dev/null --cacert "$ca" --cert "$clients/$principal.crt" --key "$clients/$principal.key" \
        -H "content-type: $ct" --data-binary "@$fixture" "$exchange/v1/ingest/$adapter" || true
done

# The document cut down to one listener's operations (0 exchange, 1 web).
split() {
    python3 - "$root/schemas/openapi.json" "$1" "$2" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
index, base = int(sys.argv[2]), sys.argv[3]
url = doc["servers"][index]["url"]
for path in list(doc["paths"]):
    item = doc["paths"][path]
    for method in [m for m in item if m in ("get", "put", "post", "delete", "patch")]:
        servers = item[method].get("servers") or item.get("servers") or doc["servers"]
        if url not in [s["url"] for s in servers]:
            del item[method]
        else:
            item[method].pop("servers", None)
    item.pop("servers", None)
    if not any(m in item for m in ("get", "put", "post", "delete", "patch")):
        del doc["paths"][path]
doc["servers"] = [{"url": base}]
json.dump(doc, sys.stdout, ensure_ascii=False)
EOF
}
split 0 "$exchange" >"$run/exchange.json"
split 1 "$web" >"$run/web.json"

checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
# (name, listener, certificate stem or "-" for none)
runs=(
    "system exchange $clients/$(system_of market-regulation)"
    "peer exchange $pki/$city/node"
    "approver web $clients/n$province-approver"
    "operator web $clients/n$province-operator"
    "supervisor web $clients/n$province-supervisor"
    "anonymous web -"
)
status=0
started=$(date +%s)
for spec in "${runs[@]}"; do
    read -r name listener cert <<<"$spec"
    base=$([ "$listener" = exchange ] && echo "$exchange" || echo "$web")
    args=(--url "$base" --tls-verify "$ca" -n "$examples" --seed "$seed" --phases "$phases"
          --checks "$checks" --workers 2 --request-timeout 30
          --suppress-health-check all --no-color
          --report ndjson --report-ndjson-path "$run/$name.ndjson")
    [ "$cert" = - ] || args+=(--request-cert "$cert.crt" --request-cert-key "$cert.key")
    echo "== $name on the $listener listener" >&2
    t0=$(date +%s)
    if ! nice "$venv/bin/schemathesis" run "$run/$listener.json" "${args[@]}" >"$run/$name.log" 2>&1; then
        status=1
    fi
    echo $(( $(date +%s) - t0 )) >"$run/$name.secs"
    tail -3 "$run/$name.log" >&2
done
alive=$(kill -0 "$(cat "$run/serve.pid")" 2>/dev/null && echo yes || echo "NO: it exited")

python3 - "$run" "$out" "$examples" "$phases" "$seed" "$version" "$(( $(date +%s) - started ))" "$alive" "${runs[@]}" <<'EOF'
import json, re, sys, pathlib
run, out, examples, phases, seed, version, secs, alive = sys.argv[1:9]
runs = [s.split()[:2] for s in sys.argv[9:]]
run = pathlib.Path(run)
lines = [
    f"# Schemathesis against schemas/openapi.json — {out.rsplit('schemathesis-', 1)[1][:-3]}",
    "",
    f"`bench/schemathesis.sh` with schemathesis {version}: up to {examples} examples per operation "
    f"and caller, phases {phases}, seed {seed}, checks not_a_server_error, "
    "status_code_conformance, content_type_conformance, response_schema_conformance. "
    f"A debug build of `gateway serve` (province node, embedded PostgreSQL), {secs} s in all; "
    f"the node was still running at the end: {alive}.",
    "",
    "| caller | listener | operations | test cases | failures | seconds |",
    "| --- | --- | --- | --- | --- | --- |",
]
details = []
for name, listener in runs:
    log = (run / f"{name}.log").read_text(errors="replace")
    events = []
    nd = run / f"{name}.ndjson"
    if nd.exists():
        for l in nd.read_text(errors="replace").splitlines():
            try:
                events.append(json.loads(l))
            except ValueError:
                pass
    ops = re.search(r"^\s*Tested: (\d+)", log, re.M)
    cases = re.search(r"(\d+) generated", log)
    unique = re.search(r"found (\d+) unique failures?", log)
    # Each failing operation's section: "____ METHOD /path ____", its checks "- STnnn …".
    sections = re.findall(r"^_{3,} ([A-Z]+ \S+) _{3,}$\n(.*?)(?=^_{3,} |^={3,})", log, re.M | re.S)
    secs_run = (run / f"{name}.secs").read_text().strip()
    lines.append(
        f"| {name} | {listener} | {ops.group(1) if ops else '?'} | "
        f"{cases.group(1) if cases else '?'} | {unique.group(1) if unique else 0} | {secs_run} |"
    )
    if sections:
        details.append(f"## {name} on the {listener} listener\n")
        for op, body in sections:
            checks = sorted(set(re.findall(r"^- (ST\d+ .+)$", body, re.M)))
            if not checks:
                # An error inside schemathesis itself (not an answer of the gateway).
                first = next((l.strip() for l in body.splitlines() if l.strip()), "")
                err = re.findall(r"^\s*(\w+(?:Error|Exception)): (.+)$", body, re.M)
                details.append(f"- `{op}`: schemathesis failed to generate cases ({first}"
                               + (f": {err[-1][0]}: {err[-1][1][:120]}" if err else "") + ")")
                continue
            status = re.findall(r"^\[(\d{3})\] ", body, re.M)
            details.append(f"- `{op}`: {'; '.join(checks)} (answered {', '.join(sorted(set(status)))})")
            why = [l.strip() for l in body.splitlines()
                   if l.startswith("    `{") or (l.startswith("    ") and " is not " in l)][:2]
            for w in why:
                details.append(f"  - {w[:300]}")
            repro = [l.strip() for l in body.splitlines() if l.strip().startswith("curl ")][:1]
            if repro:
                details.append(f"  - reproduce: `{repro[0][:300]}`")
        details.append("")
lines += ["", "Failures by caller (the run's full output: `$ST_WORK/run/<caller>.log`):", ""]
lines += details if details else ["None."]
pathlib.Path(out).write_text("\n".join(lines) + "\n")
print(out)
EOF
exit $status
