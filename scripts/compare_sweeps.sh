#!/usr/bin/env bash
# Bayes + Hyperband against random search without early termination, same run_cap, on a small
# TrashNet setting that fits a 2-core CPU; prints best validation accuracy and epochs trained.
# Usage: scripts/compare_sweeps.sh [RUN_CAP] [MAX_EPOCHS] [MIN_ITER] [-- extra sweep options]
# Default: 12 trials of at most 9 epochs, Hyperband brackets at 2 and 6 epochs (eta 3), on 30 %
# of the training split at 32 px with 3 conv layers.
set -euo pipefail
cd "$(dirname "$0")/.."
run_cap=${1:-12}
max_epochs=${2:-9}
min_iter=${3:-2}
shift $(($# < 3 ? $# : 3))
[[ ${1:-} == -- ]] && shift
garbage=${GARBAGE:-build/garbage}
out=runs/compare_sweeps
mkdir -p "$out"
storage="sqlite:///$out/sweeps.db"
small=(--max-epochs "$max_epochs" --set data.subset=0.3 model.img_size=32 preprocess.resize=32
       model.num_conv_layers=3 "$@")

# The shipped space, with only method / early termination / run_cap changed.
sed -e "s/\"run_cap\": [0-9]*/\"run_cap\": $run_cap/" \
    -e "s/\"min_iter\": [0-9]*/\"min_iter\": $min_iter/" \
    configs/sweep_simple_cnn.json >"$out/bayes_hyperband.json"
sed -e 's/"method": "bayes"/"method": "random"/' -e '/"early_terminate"/d' \
    -e "s/\"run_cap\": [0-9]*/\"run_cap\": $run_cap/" \
    configs/sweep_simple_cnn.json >"$out/random.json"

for variant in bayes_hyperband random; do
  start=$(date +%s)
  "$garbage" sweep --config "$out/$variant.json" --name "cmp_$variant" --storage "$storage" \
    --workers 2 --out "$out/$variant" "${small[@]}"
  echo "$variant: $(($(date +%s) - start)) s" >>"$out/times.txt"
done
for variant in bayes_hyperband random; do
  "$garbage" sweep report --name "cmp_$variant" --storage "$storage" --json >"$out/$variant.report.json"
  "$garbage" sweep report --name "cmp_$variant" --storage "$storage" | tee "$out/$variant.report.txt"
done
cat "$out/times.txt"
