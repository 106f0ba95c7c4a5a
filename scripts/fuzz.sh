#!/usr/bin/env bash
# Fuzzes coldpatch's parsers with cargo fuzz (libFuzzer), one target at a time.
#
#   [FUZZ_JOBS=N] scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Builds the seed corpora (fuzz/seeds: the samples, the fixtures, fresh mkimage images, a plan
# and a journal written by coldpatch), builds the targets (nightly, `cargo fuzz build`), runs
# each target for SECONDS_PER_TARGET (default 120) over fuzz/corpus/TARGET (kept between runs)
# and the seeds, and prints one summary line per target (also appended to
# fuzz/logs/summary.txt). A crash, hang (-timeout) or huge allocation (-rss_limit_mb,
# -malloc_limit_mb) stops that target and is saved under fuzz/artifacts/TARGET; the exit status
# is 1 when any target found one. Full libFuzzer output: fuzz/logs/TARGET.log. FUZZ_JOBS=N runs
# N targets at a time (default 1; each is one libFuzzer process, one core).
set -euo pipefail
cd "$(dirname "$0")/.."

ALL=(ese_header ese_page ese_record ese_db regf_hive regf_log reg_file plan profile journal)
secs=${1:-120}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${ALL[@]}")

# Seeds.
cargo build -q -p coldpatch -p coldpatch-tools
work=fuzz/seeds-work
rm -rf "$work" fuzz/seeds
mkdir -p "$work/images" fuzz/logs
for format in ese97 ese98; do
    target/debug/mkimage "$work/images/$format" --seed fuzz --format "$format" \
        --folders 4 --messages 12 --body-bytes 64 >/dev/null
done
target/debug/mkimage "$work/images/dirty" --seed fuzz --scenario dirty-hive \
    --folders 4 --messages 12 --body-bytes 64 >/dev/null
target/debug/coldpatch plan fixtures/cluster-small --out "$work/cluster.plan.json" >/dev/null
target/debug/coldpatch plan fixtures/standalone-small --seed fuzz \
    --out "$work/standalone.plan.json" >/dev/null
cp -r fixtures/standalone-small "$work/inplace"
target/debug/coldpatch apply "$work/inplace" --in-place --journal "$work/inplace.journal" \
    --seed fuzz >/dev/null
target/debug/fuzz-profile >"$work/profile.json"
rm -rf "$work/inplace"
python3 fuzz/seeds.py "$work"

# Targets: no sanitizer (the library has no unsafe code outside the memory maps, which the
# targets do not use); debug assertions and overflow checks are on.
(cd fuzz && cargo +nightly fuzz build -s none)
bin=fuzz/target/x86_64-unknown-linux-gnu/release

# One target: its run, its summary line; exit 1 when it found a crash, hang or huge allocation.
fuzz_one() {
    local t=$1
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    local log="fuzz/logs/$t.log"
    local before after start ran rc execs rate cov ft corp found line
    before=$(ls "fuzz/artifacts/$t" | wc -l)
    start=$(date +%s)
    set +e
    "$bin/$t" "fuzz/corpus/$t" "fuzz/seeds/$t" \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" >"$log" 2>&1
    rc=$?
    set -e
    ran=$(($(date +%s) - start))
    after=$(ls "fuzz/artifacts/$t" | wc -l)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    corp=$(ls "fuzz/corpus/$t" | wc -l)
    found=$((after - before))
    line="$(date -u +%FT%TZ) $t: ${ran}s, ${execs:-?} execs (${rate:-?}/s), cov ${cov:-?}, ft ${ft:-?}, corpus $corp, crashes $found, exit $rc"
    echo "$line" | tee -a fuzz/logs/summary.txt
    if [ "$found" -gt 0 ] || [ "$rc" -ne 0 ]; then
        ls -t "fuzz/artifacts/$t" | head -n "$((found > 0 ? found : 1))" | sed "s|^|    fuzz/artifacts/$t/|"
        return 1
    fi
}

jobs=${FUZZ_JOBS:-1}
status=0
running=()
for t in "${targets[@]}"; do
    fuzz_one "$t" &
    running+=($!)
    if [ ${#running[@]} -ge "$jobs" ]; then
        wait "${running[0]}" || status=1
        running=("${running[@]:1}")
    fi
done
for p in "${running[@]}"; do
    wait "$p" || status=1
done
exit $status
