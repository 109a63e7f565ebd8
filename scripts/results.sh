#!/usr/bin/env bash
# Reproduces the figures of docs/results.md: trains each recipe (once per seed) data-parallel on
# this host, scores the test split with and without flip TTA, and prints one Markdown table row
# per run, then the mean and spread per recipe. With --report-only it only tabulates runs that
# are already in --out (e.g. to rebuild the tables after an interrupted batch).
# Usage: scripts/results.sh [--recipes simple_cnn,resnet18_scratch,mobilenet_v3_small_scratch]
#          [--seeds 42] [--nproc 2] [--out runs/results] [--report-only]
set -euo pipefail
cd "$(dirname "$0")/.."

recipes=simple_cnn,resnet18_scratch,mobilenet_v3_small_scratch
seeds=42
nproc=2
out=runs/results
train=1
while (($#)); do
  case "$1" in
    --recipes) recipes=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --nproc) nproc=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --report-only) train=0; shift ;;
    -h | --help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "results.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
garbage=build/garbage
[[ -x $garbage ]] || { echo "results.sh: build first (scripts/setup.sh)" >&2; exit 1; }
command -v jq >/dev/null || { echo "results.sh: needs jq (scripts/setup.sh installs it)" >&2; exit 1; }
IFS=, read -ra recipe_list <<<"$recipes"
IFS=, read -ra seed_list <<<"$seeds"

train_one() { # recipe seed dir
  local config=configs/$1.json
  [[ -f $config ]] || { echo "results.sh: no recipe $config" >&2; exit 2; }
  if [[ -f $3/test_tta.json ]]; then
    echo "results.sh: $3 is done, skipped" >&2
    return
  fi
  # A finished training run (its test report written) only needs the TTA scoring below.
  if [[ ! -f $3/test_report.json ]]; then
    local resume=()
    [[ -f $3/last.pt ]] && resume=(--resume)
    local start
    start=$(date +%s)
    "$garbage" train --config "$config" --out "$3" --set "seed=$2" --nproc-per-node "$nproc" \
      "${resume[@]}"
    # Wall time of this invocation (a resumed run adds its earlier part to the file).
    echo $(($(date +%s) - start)) >>"$3/wall_seconds"
  fi
  "$garbage" eval --checkpoint "$3/best.pt" --split test --tta flip --report "$3/test_tta.json"
}

row() { # recipe seed dir
  local report=$3/test_tta.json
  [[ -f $report ]] || { echo "| $1 | $2 | (not finished) |"; return; }
  local wall
  wall=$(awk '{s += $1} END {printf "%.0f", s / 60}' "$3/wall_seconds" 2>/dev/null || echo "?")
  jq -r --arg recipe "$1" --arg seed "$2" --arg wall "$wall" '
    def pct: . * 1000 | round / 10 | tostring | if test("\\.") then . else . + ".0" end;
    .metrics as $m
    | [$recipe, $seed, ($m.accuracy | pct), (.tta.metrics.accuracy | pct), ($m.macro_f1 | pct)]
      + ($m.class_names | map($m.per_class[.].f1 | pct)) + [.epoch, $wall]
    | "| " + (map(tostring) | join(" | ")) + " |"' "$report"
}

summary() { # recipe dirs...: mean and sample standard deviation of the test accuracy
  local recipe=$1
  shift
  local files=()
  for d in "$@"; do [[ -f $d/test_tta.json ]] && files+=("$d/test_tta.json"); done
  ((${#files[@]})) || return 0
  jq -rs --arg recipe "$recipe" '
    map(.metrics.accuracy * 100) as $a | ($a | add / length) as $mean
    | (if ($a | length) > 1
       then ($a | map((. - $mean) * (. - $mean)) | add / (length - 1) | sqrt * 100 | round / 100)
       else "n/a" end) as $sd
    | "\($recipe): \($a | length) run(s), test accuracy mean \($mean * 100 | round / 100) %, " +
      "sd \($sd), min \($a | min * 100 | round / 100), max \($a | max * 100 | round / 100)"
  ' "${files[@]}"
}

if ((train)); then
  for recipe in "${recipe_list[@]}"; do
    for seed in "${seed_list[@]}"; do train_one "$recipe" "$seed" "$out/${recipe}_s$seed"; done
  done
fi

first_dir=$out/${recipe_list[0]}_s${seed_list[0]}
classes=$(jq -r '.metrics.class_names | join(" F1 | ") + " F1"' "$first_dir/test_tta.json" \
  2>/dev/null || echo "per-class F1")
header="| recipe | seed | test acc % | flip TTA % | macro F1 % | $classes | best epoch | wall (min) |"
echo "$header"
# One separator cell per column of the header (as many class columns as the data set has).
echo "|$(tr -cd '|' <<<"$header" | tail -c +2 | sed 's/|/---|/g')"
for recipe in "${recipe_list[@]}"; do
  for seed in "${seed_list[@]}"; do row "$recipe" "$seed" "$out/${recipe}_s$seed"; done
done
echo
for recipe in "${recipe_list[@]}"; do
  dirs=()
  for seed in "${seed_list[@]}"; do dirs+=("$out/${recipe}_s$seed"); done
  summary "$recipe" "${dirs[@]}"
done
