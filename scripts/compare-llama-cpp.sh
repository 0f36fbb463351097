#!/usr/bin/env bash
# Trellis's model runtime against llama.cpp's on the same GGUF file, same
# threads, alternating runs in one sitting; prints each side's figures and
# the ratios (Trellis / llama.cpp, higher is better for Trellis) as JSON.
#
#   scripts/compare-llama-cpp.sh [--model FILE] [--threads N] [--pairs K]
#
# llama.cpp is built once from the source vendored in PyPI's
# llama-cpp-python sdist (with cmake from PyPI), under
# ${TRELLIS_LLAMA_CPP_DIR:-~/.cache/trellis/llama.cpp}. CI does not run this.
# Figures: decode (llama-bench tg64 against bench-model's batch 1),
# prefill (pp128), batched decode (llama-batched-bench against bench-model
# at 16 and 64 sequences), peak RSS of one sequence with the same context
# (llama-bench's 128 + 64 tokens against bench-model --batch 1) and of the
# batched runs (llama.cpp's 8192-position f16 cache against Trellis's f32
# caches of 64 sequences × 96 positions: not the same context).
set -euo pipefail
cd "$(dirname "$0")/.."

model="${TRELLIS_MODEL:-$HOME/.cache/trellis/SmolLM2-135M-Instruct.Q4_1.gguf}"
threads=2
pairs=3
version=0.3.36
while [ $# -gt 0 ]; do
    case "$1" in
        --model) model="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --pairs) pairs="$2"; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "compare-llama-cpp.sh: unknown argument '$1' (see --help)" >&2; exit 64 ;;
    esac
done
[ -f "$model" ] || { echo "compare-llama-cpp.sh: no model at $model (run scripts/fetch-model.sh)" >&2; exit 66; }

dir="${TRELLIS_LLAMA_CPP_DIR:-$HOME/.cache/trellis/llama.cpp}"
mkdir -p "$dir"
bin="$dir/build/bin"
if [ ! -x "$bin/llama-bench" ] || [ ! -x "$bin/llama-batched-bench" ]; then
    echo "== building llama.cpp (llama-cpp-python $version's vendored source) in $dir" >&2
    if [ ! -x "$dir/venv/bin/cmake" ]; then
        python3 -m venv "$dir/venv"
        "$dir/venv/bin/pip" install --quiet cmake ninja
    fi
    if [ ! -d "$dir/src" ]; then
        # --no-binary for this one package only: `:all:` would build cmake
        # itself from source.
        "$dir/venv/bin/pip" download --quiet --no-deps --no-binary llama-cpp-python \
            "llama-cpp-python==$version" -d "$dir/sdist"
        mkdir -p "$dir/src"
        tar -xzf "$dir"/sdist/llama_cpp_python-*.tar.gz -C "$dir/src" --strip-components=1
    fi
    PATH="$dir/venv/bin:$PATH" cmake -S "$dir/src/vendor/llama.cpp" -B "$dir/build" -G Ninja \
        -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_SERVER=OFF > "$dir/cmake.log"
    PATH="$dir/venv/bin:$PATH" cmake --build "$dir/build" --target llama-bench llama-batched-bench \
        -j "$(nproc)" > "$dir/build.log"
fi

echo "== building trellis (release)" >&2
cargo build --release --quiet -p trellis-cli
trellis=target/release/trellis

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for pair in $(seq 1 "$pairs"); do
    echo "== pair $pair of $pairs" >&2
    /usr/bin/time -f '%M' -o "$out/llama-bench-rss.$pair" \
        "$bin/llama-bench" -m "$model" -t "$threads" -p 128 -n 64 -o json > "$out/llama-bench.$pair.json" 2> /dev/null
    /usr/bin/time -f '%M' -o "$out/batched-rss.$pair" \
        "$bin/llama-batched-bench" -m "$model" -t "$threads" -c 8192 -b 2048 -ub 512 -npp 32 -ntg 64 \
        -npl 1,16,64 --output-format jsonl > "$out/batched.$pair.jsonl" 2> /dev/null
    /usr/bin/time -f '%M' -o "$out/trellis-rss.$pair" \
        "$trellis" bench-model --model "$model" --threads "$threads" --batch 1,16,64 \
        --prompt-tokens 128 --new-tokens 64 > "$out/trellis.$pair.json"
    /usr/bin/time -f '%M' -o "$out/trellis-one-rss.$pair" \
        "$trellis" bench-model --model "$model" --threads "$threads" --batch 1 \
        --prompt-tokens 128 --new-tokens 64 > /dev/null
done

python3 - "$out" "$pairs" <<'EOF'
import json, statistics, sys
out, pairs = sys.argv[1], int(sys.argv[2])
def median(xs): return round(statistics.median(xs), 2)
llama = {"decode_tok_s": [], "prefill_tok_s": [], "batch_16_tok_s": [], "batch_64_tok_s": [], "peak_rss_mb": [],
         "batched_peak_rss_mb": []}
ours = {k: [] for k in llama}
for p in range(1, pairs + 1):
    for row in json.load(open(f"{out}/llama-bench.{p}.json")):
        key = "prefill_tok_s" if row["n_prompt"] > 0 else "decode_tok_s"
        llama[key].append(row["avg_ts"])
    for line in open(f"{out}/batched.{p}.jsonl"):
        line = line.strip()
        if not line.startswith("{"):
            continue
        row = json.loads(line)
        if row.get("pl") in (16, 64):
            llama[f"batch_{row['pl']}_tok_s"].append(row["speed_tg"])
    rss = lambda name: int(open(f"{out}/{name}.{p}").read().split()[-1]) / 1024
    llama["peak_rss_mb"].append(rss("llama-bench-rss"))
    llama["batched_peak_rss_mb"].append(rss("batched-rss"))
    t = json.load(open(f"{out}/trellis.{p}.json"))
    ours["prefill_tok_s"].append(t["prefill_tok_s"])
    by_batch = {d["batch"]: d["decode_tok_s"] for d in t["decode"]}
    ours["decode_tok_s"].append(by_batch[1])
    ours["batch_16_tok_s"].append(by_batch[16])
    ours["batch_64_tok_s"].append(by_batch[64])
    ours["peak_rss_mb"].append(rss("trellis-one-rss"))
    ours["batched_peak_rss_mb"].append(rss("trellis-rss"))
result = {"pairs": pairs, "llama_cpp": {k: median(v) for k, v in llama.items() if v},
          "trellis": {k: median(v) for k, v in ours.items() if v}}
# For memory, lower is better: the ratio is still Trellis / llama.cpp.
result["ratio"] = {k: round(result["trellis"][k] / result["llama_cpp"][k], 3)
                   for k in result["trellis"] if k in result["llama_cpp"]}
print(json.dumps(result, indent=2))
EOF
