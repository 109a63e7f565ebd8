#!/usr/bin/env bash
# Scores a checkpoint's ONNX exports (fp32 and fp16) in onnxruntime on a split, on exactly the
# tensors garbage evaluates, and prints their accuracy next to libtorch's.
# Usage: scripts/eval_onnx.sh CHECKPOINT [--split test|val|train] [--data D] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 1 && $1 != -* ]] || { sed -n '2,4p' "$0"; exit 2; }
checkpoint=$1
shift
split=test
data_args=()
out=""
while (($#)); do
  case "$1" in
    --split) split=$2; shift 2 ;;
    --data) data_args=(--data "$2"); shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "eval_onnx.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [[ -z $out ]]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
garbage=build/garbage
"$garbage" -q eval --checkpoint "$checkpoint" --split "$split" "${data_args[@]}" \
  --save-tensors "$out/tensors" --report "$out/libtorch.json" >/dev/null
for format in onnx onnx-fp16; do
  "$garbage" -q export --checkpoint "$checkpoint" --format "$format" --output "$out/$format.onnx"
  node tools/onnxruntime/ort.js score "$out/$format.onnx" "$out/tensors" >"$out/$format.json"
done
node - "$out" <<'JS'
const fs = require('fs');
const dir = process.argv[2];
const read = (f) => JSON.parse(fs.readFileSync(`${dir}/${f}`, 'utf8'));
const lt = read('libtorch.json');
console.log(`libtorch:         accuracy ${(lt.metrics.accuracy * 100).toFixed(2)} %`);
for (const f of ['onnx', 'onnx-fp16']) {
  const r = read(`${f}.json`);
  console.log(`${(f + ' (ort):').padEnd(17)} accuracy ${(r.accuracy * 100).toFixed(2)} %, ` +
              `top-1 agreement ${(r.top1_agreement_with_libtorch * 100).toFixed(2)} %, ` +
              `max |logit diff| ${r.max_abs_logit_diff.toExponential(2)} (${r.images} images)`);
}
JS
