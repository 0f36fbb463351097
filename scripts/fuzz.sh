#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer coverage instrumentation on the
# stable toolchain (the flags cargo-fuzz passes with `--sanitizer none`), then
# runs each for a while from its seeds.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 60 s, every target
#
# With cargo-fuzz and a nightly toolchain, `cargo fuzz run TARGET
# fuzz/seeds/TARGET` works as well. Crashes land in fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=(gbnf lark regex matcher json_schema cli_check cli_generate); fi

export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-fuzz/target}"
# An explicit --target keeps the instrumentation flags off build scripts.
triple="$(rustc -vV | sed -n 's/^host: //p')"
cargo build --release --manifest-path fuzz/Cargo.toml --bins --target "$triple"

for target in "${targets[@]}"; do
    # Absolute paths: the command-line targets run in a scratch folder of
    # their own.
    corpus="$PWD/fuzz/corpus/$target"
    mkdir -p "$corpus" "$PWD/fuzz/artifacts/$target"
    echo "== fuzz $target for ${seconds}s"
    "$CARGO_TARGET_DIR/$triple/release/$target" "$corpus" "$PWD/fuzz/seeds/$target" \
        -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$PWD/fuzz/artifacts/$target/" -print_final_stats=1 2>&1 | tail -n 12
done
