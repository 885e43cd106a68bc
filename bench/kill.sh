#!/usr/bin/env bash
# The long variant of the crash-consistency test (tests/tests/crash.rs): SIGKILL the gateway
# N times at random moments during concurrent pushes (one record in ten with certificates),
# once for a single node and once for a parent and a child killed alternately, then check that
# every acknowledged record is stored exactly once (at the parent too), every credential is a
# leaf of the log exactly once, and `gateway log audit` / `gateway audit verify` pass. Writes
# bench/results/kill-<date>.md.
#
#   bench/kill.sh [kills]        (default 200 per scenario; the CI variant runs 5)
#
# Environment: CRASH_SEED replays a run's kill moments (each scenario prints its seed);
# KILL_DATE overrides the date in the results file's name. Needs cargo and python3. Uses the
# e2e harness's PostgreSQL (started by `gateway db start` under /var/tmp, as for `cargo test`).
set -euo pipefail

kills=${1:-200}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
date=${KILL_DATE:-$(date +%F)}
out="$root/bench/results/kill-$date.md"
figures=$(mktemp)
log=$(mktemp)
trap 'rm -f "$figures" "$log"' EXIT

cd "$root"
echo "== building the gateway and the crash test" >&2
nice cargo build --bin gateway >&2
start=$(date +%s)
status=0
CRASH_KILLS=$kills CRASH_REPORT=$figures nice cargo test -p e2e --test crash -- \
    --test-threads 1 --nocapture >"$log" 2>&1 || status=$?
elapsed=$(( $(date +%s) - start ))

python3 - "$figures" "$log" "$out" "$kills" "$status" "$elapsed" <<'EOF'
import json, re, sys
figures, log, out, kills, status, elapsed = sys.argv[1:]
rows = [json.loads(l) for l in open(figures) if l.strip()]
text = open(log, errors="replace").read()
seeds = re.findall(r"CRASH_SEED=(\d+)", text)
lines = text.splitlines()
# On a failure: the panic, the test's diagnostics (unsent outbox rows, the nodes' log tails).
failed = [l for i, l in enumerate(lines)
          if "panicked at" in l or l.startswith(("unsent ", "test result"))
          or (i > 0 and "panicked at" in lines[i - 1])]
with open(out, "w") as f:
    f.write(f"# Crash consistency: {kills} SIGKILLs per scenario\n\n")
    f.write("`bench/kill.sh` (tests/tests/crash.rs with `CRASH_KILLS`): concurrent clients push "
            "batches of 10 records (1 in 10 with two certificates) with client batch ids and "
            "retry every batch not acknowledged, while the gateway is SIGKILLed at random "
            "moments (0.3-1.5 s apart) and restarted.\n\n")
    f.write("| scenario | kills | pushes (with retries) | batches acknowledged | records checked "
            "| credentials checked | failures | seconds |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
    for r in rows:
        f.write(f"| {r['scenario']} | {r['kills']} | {r['pushes']} | {r['batches_acknowledged']} "
                f"| {r['records_checked']} | {r['credentials_checked']} | {r['failures']} | {r['seconds']} |\n")
    f.write(f"\nExit status of the test run: {status} ({elapsed} s in all); seeds: "
            f"{', '.join(seeds) or '-'}.\n")
    if status != "0":
        f.write("\n## Failures\n\n```\n" + "\n".join(failed[-40:]) + "\n```\n")
        # The whole test output, for the node log tails the test printed.
        open(out.replace(".md", ".log"), "w").write(text)
print(open(out).read())
EOF
exit "$status"
