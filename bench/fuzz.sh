#!/usr/bin/env bash
# Run every fuzz target of fuzz/ (cargo-fuzz, libFuzzer) for a fixed time each, one after the
# other, and write bench/results/fuzz-<date>.md.
#
#   bench/fuzz.sh [seconds-per-target] [target...]      (default: 60 s, every target)
#
# Only stable Rust is available, so targets are built with `--sanitizer none` (the property is
# "no panic on any input"; overflow checks and debug assertions are on). cargo-fuzz is installed
# with `cargo install cargo-fuzz --locked` when missing. Builds go to fuzz/target (git-ignored),
# never to the workspace's target/. Each fuzzer runs under `nice`, one at a time.
#
# Corpora: fuzz/corpus/<target>/ holds the seeds (seed-*, copied from the fixtures), regression
# inputs of fixed crashes (regress-*), and what earlier runs found that adds coverage. A run
# fuzzes into a scratch corpus (fuzz/target/work-corpus/<target>) and then, unless FUZZ_MERGE=0,
# folds it back into the committed corpus: the named inputs plus a greedy set cover of the edge
# features reached by the old corpus and the scratch one, capped at FUZZ_MAX_FILES (200) files
# and FUZZ_MAX_KIB (2048) KiB per target. The "features kept" column says how much of what was
# reached the capped corpus still reaches. `cargo test` replays every corpus file
# (adapters/tests/fuzz_corpus.rs, vc/tests/fuzz_corpus.rs).
#
# Crashes: libFuzzer stops the target and writes the input to fuzz/artifacts/<target>/; the
# script goes on with the next target, reports it, and exits 1 at the end. To fix one: reproduce
# with `fuzz/target/<host>/release/<target> fuzz/artifacts/<target>/crash-…`, fix the adapter,
# add a unit test near the bug, and keep the input as fuzz/corpus/<target>/regress-<what>.
#
# Environment: FUZZ_MERGE=0 leaves the corpora untouched; FUZZ_MAX_FILES, FUZZ_MAX_KIB cap them;
# FUZZ_TIMEOUT (s, default 10) is the per-input time limit; FUZZ_NICE (default 10) the
# niceness; FUZZ_DATE overrides the date in the results file's name. Needs python3 (corpus
# selection).
set -euo pipefail

secs=${1:-60}
shift || true
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fuzz="$root/fuzz"
merge=${FUZZ_MERGE:-1}
timeout=${FUZZ_TIMEOUT:-10}
niceness=${FUZZ_NICE:-10}
date=${FUZZ_DATE:-$(date +%F)}
max_files=${FUZZ_MAX_FILES:-200}
max_kib=${FUZZ_MAX_KIB:-2048}
out="$root/bench/results/fuzz-$date.md"

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

cd "$fuzz"
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

echo "== building ${#targets[@]} targets (release, --sanitizer none)" >&2
nice -n "$niceness" cargo fuzz build --sanitizer none >&2
host=$(rustc -vV | sed -n 's/^host: //p')
bindir="$fuzz/target/$host/release"
logs="$fuzz/target/fuzz-logs"
mkdir -p "$logs" "$root/bench/results"

files_of() { find "$1" -maxdepth 1 -type f | wc -l; }
kib_of() { du -sk --apparent-size "$1" | cut -f1; }
stat_of() { sed -n "s/^stat::$1: *//p" "$2" | tail -1; }

# Replace corpus/<t> by a greedy set cover of itself and the scratch corpus. libFuzzer's
# set-cover merge (`-set_cover_merge=1 -use_counters=0`) records the edge features each input
# reaches; the named inputs (seed-*, regress-*) are kept, then the input that adds the most
# features not yet covered is taken (the smaller on ties) until all are covered or the caps
# (FUZZ_MAX_FILES, FUZZ_MAX_KIB) are reached. Prints "kept/total" features.
fold_back() {
    local t=$1 work=$2 bin=$3
    local tmp="$fuzz/target/cmin/$t"
    rm -rf "$tmp"
    mkdir -p "$tmp/out" "$tmp/new"
    nice -n "$niceness" "$bin" -set_cover_merge=1 -use_counters=0 -timeout="$timeout" \
        -merge_control_file="$tmp/control" "$tmp/out" "$fuzz/corpus/$t" "$work" \
        >"$logs/$t.merge.log" 2>&1
    python3 - "$tmp/control" "$tmp/new" "$max_files" "$max_kib" <<'PY'
import os, shutil, sys
control, new, max_files, max_kib = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
lines = open(control).read().splitlines()
n = int(lines[0])
paths = lines[2:2 + n]
size, feats = {}, {}
for line in lines[2 + n:]:
    kind, _, rest = line.partition(" ")
    if kind == "STARTED":
        i, sz = rest.split()
        size[int(i)] = int(sz)
    elif kind == "FT":
        i, *fs = rest.split()
        feats[int(i)] = set(fs)
universe = set().union(*feats.values()) if feats else set()
covered, chosen, seen, total = set(), [], set(), 0
def take(i):
    global total
    chosen.append(i)
    covered.update(feats.get(i, ()))
    total += size.get(i, 0)
for i, p in enumerate(paths):  # named inputs first, whatever they add (if they did not crash)
    name = os.path.basename(p)
    if name.startswith(("seed-", "regress-")) and i in feats and name not in seen:
        seen.add(name)
        take(i)
rest = [i for i in feats if i not in chosen]
while rest and len(chosen) < max_files:
    best = max(rest, key=lambda i: (len(feats[i] - covered), -size[i]))
    if not feats[best] - covered or (total + size[best]) > max_kib * 1024:
        break
    take(best)
    rest.remove(best)
for i in chosen:
    dest = os.path.join(new, os.path.basename(paths[i]))
    if not os.path.exists(dest):
        shutil.copyfile(paths[i], dest)
print(f"{len(covered)}/{len(universe)}")
PY
    rm -rf "$fuzz/corpus/$t"
    mv "$tmp/new" "$fuzz/corpus/$t"
}

rows=()
crashes=()
total_execs=0
for t in "${targets[@]}"; do
    bin="$bindir/$t"
    corpus="$fuzz/corpus/$t"
    work="$fuzz/target/work-corpus/$t"
    artifacts="$fuzz/artifacts/$t"
    log="$logs/$t.log"
    mkdir -p "$corpus" "$artifacts"
    rm -rf "$work"
    mkdir -p "$work"
    before=$(files_of "$corpus")
    stamp=$(mktemp)
    echo "== $t: ${secs}s (corpus: $before files)" >&2
    set +e
    nice -n "$niceness" "$bin" "$work" "$corpus" \
        -max_total_time="$secs" -timeout="$timeout" -print_final_stats=1 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(stat_of number_of_executed_units "$log")
    rate=$(stat_of average_exec_per_sec "$log")
    added=$(stat_of new_units_added "$log")
    rss=$(stat_of peak_rss_mb "$log")
    found=$(find "$artifacts" -type f -newer "$stamp" | sort)
    rm -f "$stamp"
    if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
        why=$(grep -m1 -E "panicked at|ERROR: libFuzzer|SUMMARY" "$log" || echo "exit $rc")
        result="**CRASH** (exit $rc): ${why//|/\\|}; input: $(echo "$found" | sed "s|$root/||" | tr '\n' ' ')"
        crashes+=("$t")
        echo "   $t: CRASH, see $log" >&2
    else
        result="no crash"
    fi
    kept="–"
    if [ "$merge" != 0 ]; then
        kept=$(fold_back "$t" "$work" "$bin")
    fi
    after=$(files_of "$corpus")
    kib=$(kib_of "$corpus")
    total_execs=$((total_execs + ${execs:-0}))
    rows+=("| \`$t\` | $secs | ${execs:-?} | ${rate:-?} | ${added:-?} | $before → $after | $kib | $kept | ${rss:-?} | $result |")
    echo "   $t: ${execs:-?} execs (${rate:-?}/s), corpus $before → $after files, $kib KiB" >&2
done

{
    echo "# Fuzzing run, $date"
    echo
    echo "\`bench/fuzz.sh $secs${1:+ $*}\` on $(nproc) cores ($(uname -m)), $(rustc -V), $(cargo fuzz --version),"
    echo "\`--sanitizer none\` (stable Rust; debug assertions and overflow checks on), one target at a"
    echo "time under \`nice -n $niceness\`, per-input timeout ${timeout} s. Commit: \`$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)\`"
    echo "(plus the working tree)."
    echo
    echo "| target | seconds | executions | exec/s | new units | corpus files (before → after) | corpus KiB | features kept | peak RSS MB | result |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    printf '%s\n' "${rows[@]}"
    echo
    echo "Total: ${#targets[@]} targets, $((secs * ${#targets[@]})) s, $total_execs executions, ${#crashes[@]} crashing target(s)${crashes[*]:+: ${crashes[*]}}."
    echo
    echo "\"new units\" are the inputs libFuzzer kept during the run for new coverage; \"after\" is the"
    echo "committed corpus once folded back (seeds, regression inputs and a greedy edge-feature set"
    echo "cover capped at $max_files files / $max_kib KiB$([ "$merge" = 0 ] && echo "; skipped: FUZZ_MERGE=0")); \"features kept\" is the"
    echo "edge features that corpus reaches out of all those reached by the old corpus and this run."
    echo "Logs: \`fuzz/target/fuzz-logs/<target>.log\`."
} >"$out"
echo "== wrote ${out#"$root"/}" >&2

[ ${#crashes[@]} -eq 0 ]
