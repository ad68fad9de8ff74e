#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets/) for a bounded time and prints, per target, the
# executions and crashes. Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#   SECONDS  per target (default 60); TARGET  only these targets (default all).
# Env: FUZZ_SANITIZER=none|address (default none: the code under test is safe Rust, where
#      panics, overflow checks and the invariants are what we hunt; address halves the speed).
#
# Works on stable Rust: cargo-fuzz passes nightly-only rustc flags (-Z...), which
# RUSTC_BOOTSTRAP=1 allows on a stable compiler. Installs cargo-fuzz from crates.io if missing.
# Seeds: fuzz/seeds/<target>/ (committed, small) plus config.toml; what libFuzzer finds goes to
# fuzz/corpus/<target>/, crashes to fuzz/artifacts/<target>/, logs to fuzz/logs/ (ignored by git).
# Exits non-zero when any target crashed (or broke an invariant).
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
sanitizer="${FUZZ_SANITIZER:-none}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz from crates.io" >&2
    cargo install --locked cargo-fuzz
fi

# `cargo +stable` where rustup is in charge; plain cargo otherwise (it is stable then).
toolchain=()
if command -v rustup >/dev/null 2>&1; then
    toolchain=(+stable)
fi
export RUSTC_BOOTSTRAP=1

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list)
fi

# One build for all targets: release, with debug assertions (overflow checks) on.
build=(-s "$sanitizer" --release --debug-assertions)
cargo "${toolchain[@]}" fuzz build "${build[@]}" >&2

mkdir -p fuzz/logs
summary=()
failed=0
for target in "${targets[@]}"; do
    corpus="fuzz/corpus/$target"
    artifacts="fuzz/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    seeds=()
    [ -d "fuzz/seeds/$target" ] && seeds+=("fuzz/seeds/$target")
    [ "$target" = config ] && cp config.toml "$corpus/config.toml"
    options=(-max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048)
    [ -f "fuzz/$target.dict" ] && options+=(-dict="fuzz/$target.dict")
    before=$(find "$artifacts" -type f | wc -l)
    log="fuzz/logs/$target.log"
    echo "fuzzing $target for ${seconds}s (log: $log)" >&2
    status=0
    cargo "${toolchain[@]}" fuzz run "${build[@]}" "$target" "$corpus" "${seeds[@]}" \
        -- "${options[@]}" >"$log" 2>&1 || status=$?
    after=$(find "$artifacts" -type f | wc -l)
    crashes=$((after - before))
    if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes="?"   # libFuzzer failed without leaving an artifact: read the log
    fi
    stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
    execs=$(stat number_of_executed_units)
    per_second=$(stat average_exec_per_sec)
    units=$(find "$corpus" -type f | wc -l)
    summary+=("$(printf '%-14s %8s %12s %9s %8s %8s' "$target" "$seconds" "${execs:-?}" \
        "${per_second:-?}" "$units" "$crashes")")
    if [ "$crashes" != 0 ]; then
        failed=1
        grep -m1 -E "panicked at|ERROR: libFuzzer|SUMMARY" "$log" >&2 || true
        echo "  artifacts: $artifacts; reproduce: RUSTC_BOOTSTRAP=1 cargo ${toolchain[*]} fuzz run" \
            "${build[*]} $target $artifacts/<file>" >&2
    fi
done

echo
echo "fuzzing $(date -u +%Y-%m-%d), sanitizer $sanitizer, ${seconds}s per target"
printf '%-14s %8s %12s %9s %8s %8s\n' target seconds executions exec/s corpus crashes
printf '%s\n' "${summary[@]}"
exit "$failed"
