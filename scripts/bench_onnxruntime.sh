#!/usr/bin/env bash
# Times one model in garbage (libtorch) and in onnxruntime (npm onnxruntime-node) on the same
# batches and threads, and prints both side by side.
# Usage: scripts/bench_onnxruntime.sh (--checkpoint CK | --model NAME [--num-classes N])
#                                     [--batch 1,8,64] [--threads N] [--min-time S] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

source_args=()
batch=1,8,64
threads=$(nproc)
min_time=3
out=""
while (($#)); do
  case "$1" in
    --checkpoint | --model | --weights | --num-classes) source_args+=("$1" "$2"); shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --min-time) min_time=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "bench_onnxruntime.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if ((${#source_args[@]} == 0)); then
  echo "bench_onnxruntime.sh: give --checkpoint CK or --model NAME" >&2
  exit 2
fi
garbage=build/garbage
ort=tools/onnxruntime/ort.js
[[ -x $garbage ]] || { echo "bench_onnxruntime.sh: build first (scripts/setup.sh)" >&2; exit 1; }
[[ -d tools/onnxruntime/node_modules/onnxruntime-node ]] ||
  { echo "bench_onnxruntime.sh: onnxruntime-node missing (scripts/setup.sh installs it)" >&2; exit 1; }

if [[ -z $out ]]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
"$garbage" -q export "${source_args[@]}" --format onnx --output "$out/model.onnx"
"$garbage" -q bench "${source_args[@]}" --batch "$batch" --threads "$threads" \
  --min-time "$min_time" --json >"$out/garbage.json"
node "$ort" bench "$out/model.onnx" --batch "$batch" --threads "$threads" \
  --min-time "$min_time" >"$out/onnxruntime.json"

node - "$out/garbage.json" "$out/onnxruntime.json" <<'JS'
const fs = require('fs');
const [g, o] = process.argv.slice(2).map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
console.log(`model ${g.model}, ${g.img_size} px, ${g.threads} threads`);
console.log('batch | garbage ms (median/p90) | img/s | onnxruntime ms (median/p90) | img/s | ort/garbage');
for (const r of g.results) {
  const x = o.results.find((q) => q.batch === r.batch);
  const f = (v) => v.toFixed(2);
  console.log(`${String(r.batch).padStart(5)} | ${f(r.latency_ms_median)} / ${f(r.latency_ms_p90)}` +
              ` | ${r.images_per_second.toFixed(1)} | ${f(x.latency_ms_median)} / ` +
              `${f(x.latency_ms_p90)} | ${x.images_per_second.toFixed(1)} | ` +
              `${(x.images_per_second / r.images_per_second).toFixed(2)}x`);
}
JS
