#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time: CTest's fuzz.<name> (scripts/fuzz.sh runs them).
#   run_fuzzer.sh BINARY FUZZ_SOURCE_DIR BUILD_DIR NAME
# Seconds: $ELEANOR_FUZZ_SECONDS, else the build's ELEANOR_FUZZ_SECONDS (60). The seed corpus
# (tests/fuzz/corpus/NAME) is read, new inputs go to BUILD_DIR/fuzz-corpus/NAME (kept between
# runs), and a crashing, leaking or hanging input is saved as BUILD_DIR/crashes/NAME-*; the
# exit status is then non-zero.
set -euo pipefail
binary="$1" source="$2" build="$3" name="$4"
seconds="${ELEANOR_FUZZ_SECONDS:-${ELEANOR_FUZZ_SECONDS_DEFAULT:-60}}"
corpus="$build/fuzz-corpus/$name"
crashes="$build/crashes"
mkdir -p "$corpus" "$crashes"
# The targets' scratch files (fuzz_support.h): under the build, emptied each run, so a crash,
# which skips their clean-up, leaves nothing in /tmp.
export TMPDIR="$build/fuzz-tmp/$name"
rm -rf "$TMPDIR" && mkdir -p "$TMPDIR"

options=(-max_total_time="$seconds" -timeout=25 -rss_limit_mb=2560 -print_final_stats=1)
[ -f "$source/dicts/$name.dict" ] && options+=(-dict="$source/dicts/$name.dict")
case "$name" in
  # Past the reader's 2048-byte header cap, so both sides of it are tried.
  npy) options+=(-max_len=4096) ;;
esac

# Leaks are findings too; UBSan reports abort like ASan's.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
supp="$source/../sanitizers/lsan.supp"
[ -f "$supp" ] && export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$supp:print_suppressions=0}"

# The whole libFuzzer log goes to BUILD_DIR/fuzz-logs/NAME.log (and to stdout), its final
# statistics to one line of NAME.summary, which scripts/fuzz.sh prints.
logs="$build/fuzz-logs"
mkdir -p "$logs"
before=$(find "$corpus" -type f | wc -l)
status=0
"$binary" "${options[@]}" -artifact_prefix="$crashes/$name-" "$corpus" "$source/corpus/$name" \
  >"$logs/$name.log" 2>&1 || status=$?
cat "$logs/$name.log"
after=$(find "$corpus" -type f | wc -l)
fuzzStat() { sed -n "s/^stat::$1: *//p" "$logs/$name.log" | tail -1; }
verdict="ok"
[ "$status" -ne 0 ] && verdict="FAILED (exit $status): input in $crashes/, reproduce with $binary FILE"
printf '%-13s %4ss %9s runs %7s exec/s  corpus %4s -> %4s  peak %5s MB  %s\n' "$name" "$seconds" \
  "$(fuzzStat number_of_executed_units)" "$(fuzzStat average_exec_per_sec)" "$before" "$after" \
  "$(fuzzStat peak_rss_mb)" "$verdict" | tee "$logs/$name.summary"
exit "$status"
