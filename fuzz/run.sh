#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for FUZZ_SECONDS each, one after the other,
# and prints one summary line per target. Used by `make fuzz`; needs a nightly toolchain
# and cargo-fuzz (the Makefile installs cargo-fuzz into .tools/ when missing).
#   FUZZ_SECONDS=60 fuzz/run.sh                # every target, 60 s each
#   FUZZ_SECONDS=600 fuzz/run.sh redact_apply  # one target
# Corpora grow in fuzz/corpus/<target> (seeded from fuzz/seeds/<target>); crashes land in
# fuzz/artifacts/<target>/; each run's libFuzzer output is fuzz/artifacts/<target>.log.
set -uo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
TOOLCHAIN=${FUZZ_TOOLCHAIN:-nightly}
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  mapfile -t TARGETS < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^portcullis-fuzz$')
fi
if ! cargo "+$TOOLCHAIN" --version >/dev/null 2>&1; then
  echo "fuzz: no '$TOOLCHAIN' toolchain (cargo-fuzz needs nightly): rustup toolchain install nightly" >&2
  exit 2
fi
cargo "+$TOOLCHAIN" fuzz --version >/dev/null 2>&1 || { echo "fuzz: cargo-fuzz not found (cargo install cargo-fuzz --locked)" >&2; exit 2; }
cargo "+$TOOLCHAIN" fuzz build -O >/dev/null 2>&1 || cargo "+$TOOLCHAIN" fuzz build -O || exit 2
status=0
printf '%-20s %12s %10s %8s %s\n' target executions exec/s crashes result
for t in "${TARGETS[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  log="fuzz/artifacts/$t.log"
  before=$(find "fuzz/artifacts/$t" -type f | wc -l)
  cargo "+$TOOLCHAIN" fuzz run -O "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  after=$(find "fuzz/artifacts/$t" -type f | wc -l)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  result=ok
  if [ $rc -ne 0 ] || [ "$after" -gt "$before" ]; then result="FAILED (see $log, fuzz/artifacts/$t/)"; status=1; fi
  printf '%-20s %12s %10s %8s %s\n' "$t" "${runs:-?}" "${speed:-?}" "$((after - before))" "$result"
done
exit $status
