#!/usr/bin/env bash
# The native engine vs libtorch eager vs onnxruntime-node, on the same ONNX export of the same
# random weights, at the same thread count, back to back in one invocation (other processes
# share the CPU: --rounds repeats the whole set to show the noise).
# Usage: scripts/benchmarks/engine_vs_onnxruntime.sh [--threads 2] [--batch 1,64] [--min-time 3]
#                                                    [--rounds 2] [--models a,b,c] [--out DIR]
# A model is a registry name or a checkpoint (*.pt), e.g. a brief configs/simple_cnn.json run:
#   garbage train --config configs/simple_cnn.json --set train.epochs=1 --set data.subset=0.1
set -euo pipefail
cd "$(dirname "$0")/../.."

threads=2
batch=1,64
min_time=3
rounds=2
models=mobilenet_v3_small,resnet18
out=""
while (($#)); do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --min-time) min_time=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "engine_vs_onnxruntime.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
garbage=build/garbage
ort=tools/onnxruntime/ort.js
[[ -x $garbage ]] || { echo "engine_vs_onnxruntime.sh: build first (scripts/setup.sh)" >&2; exit 1; }
[[ -d tools/onnxruntime/node_modules/onnxruntime-node ]] ||
  { echo "engine_vs_onnxruntime.sh: onnxruntime-node missing (scripts/setup.sh)" >&2; exit 1; }
if [[ -z $out ]]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

IFS=, read -r -a names <<<"$models"
source_of() { if [[ $1 == *.pt ]]; then echo "--checkpoint $1"; else echo "--model $1"; fi; }
key_of() { basename "$1" .pt; }
for m in "${names[@]}"; do
  # shellcheck disable=SC2046
  "$garbage" -q export $(source_of "$m") --format onnx --output "$out/$(key_of "$m").onnx"
done
for ((round = 1; round <= rounds; ++round)); do
  for m in "${names[@]}"; do
    k=$(key_of "$m")
    for engine in native torch; do
      # shellcheck disable=SC2046
      "$garbage" -q bench $(source_of "$m") --engine "$engine" --batch "$batch" --threads "$threads" \
        --min-time "$min_time" --json >"$out/$k.$round.$engine.json"
    done
    node "$ort" bench "$out/$k.onnx" --batch "$batch" --threads "$threads" \
      --min-time "$min_time" >"$out/$k.$round.ort.json"
  done
done

keys=()
for m in "${names[@]}"; do keys+=("$(key_of "$m")"); done
node - "$out" "$rounds" "$(IFS=,; echo "${keys[*]}")" <<'JS'
const fs = require('fs');
const [dir, rounds, models] = process.argv.slice(2);
const read = (f) => JSON.parse(fs.readFileSync(`${dir}/${f}`, 'utf8'));
const f1 = (v) => v.toFixed(1), f2 = (v) => v.toFixed(2);
console.log('| round | model | px | batch | native img/s | torch img/s | onnxruntime img/s | ' +
            'native/ort | native p90 ms | ort p90 ms | native peak RSS MiB | torch peak RSS MiB |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (let round = 1; round <= Number(rounds); ++round) {
  for (const m of models.split(',')) {
    const n = read(`${m}.${round}.native.json`), t = read(`${m}.${round}.torch.json`);
    const o = read(`${m}.${round}.ort.json`);
    for (const r of n.results) {
      const tr = t.results.find((q) => q.batch === r.batch);
      const or = o.results.find((q) => q.batch === r.batch);
      console.log(`| ${round} | ${m} | ${n.img_size} | ${r.batch} | ${f1(r.images_per_second)} | ` +
                  `${f1(tr.images_per_second)} | ${f1(or.images_per_second)} | ` +
                  `${f2(r.images_per_second / or.images_per_second)}x | ${f2(r.latency_ms_p90)} | ` +
                  `${f2(or.latency_ms_p90)} | ${(n.peak_rss_bytes / 2 ** 20).toFixed(0)} | ` +
                  `${(t.peak_rss_bytes / 2 ** 20).toFixed(0)} |`);
    }
  }
}
JS
