#!/usr/bin/env bash
# Training throughput of garbage vs its PyTorch peer (scripts/peer/simple_cnn_peer.py) on the same
# machine, same thread count, in one run. For each model: garbage's img/s, the peer's NCHW and
# channels-last img/s, and the ratio to the peer's better layout.
# Both sides are timed warm and cold alike: garbage trains two epochs of BATCHES batches and the
# warm figure is the second epoch's, the peer's is the BATCHES batches after BATCHES untimed ones;
# the cold figures (the first BATCHES batches, loader start-up and first allocations included) are
# printed beside them.
#   simple_cnn          the seed's best config, 128 px, batch 32
#   resnet18            torchvision ResNet18 from scratch, 112 px, batch 16
#   mobilenet_v3_small  from scratch, 224 px, batch 32
# Usage: scripts/compare_python.sh [BATCHES] [THREADS] [MODEL...]
#   (default 20 batches, all cores, simple_cnn). GARBAGE_BIN picks the binary (default
#   build/garbage); GARBAGE_SET adds --set options to every garbage run, e.g.
#   GARBAGE_SET="train.fused_kernels=false". GARBAGE_BASELINE=BINARY also times that binary (a
#   build before a change, without GARBAGE_SET) in the same run. With THREADS > 1 garbage is also
#   timed data-parallel: THREADS single-threaded workers (--nproc-per-node), each on batch/THREADS
#   images, so the global batch and the cores are the same (GARBAGE_DP=0 skips that row).
#   GARBAGE_PEER_MALLOC=retain runs the peer with the malloc settings garbage sets for itself
#   (keep freed memory: no mmap per block, no trimming; see README "Memory").
set -euo pipefail
cd "$(dirname "$0")/.."
batches=${1:-20}
threads=${2:-$(nproc)}
shift $(($# < 2 ? $# : 2))
models=("${@:-simple_cnn}")
data=${GARBAGE_DATA:-data/trashnet}
bin=${GARBAGE_BIN:-build/garbage}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

extra=()
for kv in ${GARBAGE_SET:-}; do extra+=(--set "$kv"); done

# garbage's train/run args per model: config, image size, batch
model_args() {
  case "$1" in
    # The peer trains the seed's recipe (Adam, the seed's augmentations): the same work here.
    simple_cnn) echo "configs/simple_cnn.json 128 32 --set train.optimizer.name=adam \
      --set train.optimizer.lr=1e-4 --set train.optimizer.weight_decay=0 \
      --set train.scheduler.name=none --set train.label_smoothing=0 --set train.ema.decay=0 \
      --set augment.trivial_augment=false --set augment.random_erasing_p=0 \
      --set augment.rotate_p=0.5 --set augment.affine_p=0.5 --set augment.color_p=0.3" ;;
    resnet18) echo "configs/resnet18_attention.json 112 16 --set model.attention=none \
      --set model.pretrained=false --set preprocess.resize=128 --set preprocess.crop=112" ;;
    mobilenet_v3_small) echo "configs/mobilenet_v3_small.json 224 32 --set model.pretrained=false" ;;
    *) echo "unknown model $1" >&2; exit 2 ;;
  esac
}

peer() {  # MODEL IMG BATCH [--channels-last] -> "cold warm" img/s
  local report
  local env=()
  if [[ ${GARBAGE_PEER_MALLOC:-} == retain ]]; then
    env=(MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=1073741824)
  fi
  report=$(env "${env[@]}" /usr/bin/python3 scripts/peer/simple_cnn_peer.py "$data" --model "$1" --img "$2" \
    --batch "$3" --batches "$batches" --warmup "$batches" --threads "$threads" "${@:4}")
  echo "$report" >&2  # (not tee /dev/stderr: that truncates a log file stderr points to)
  awk '/^COLD_IMG_PER_S/ { cold = $2 } /^IMG_PER_S/ { warm = $2 } END { print cold, warm }' <<<"$report"
}

garbage_run() {  # BINARY RUN_NAME MODEL WORKERS [--set ...] -> "cold warm" img/s
  local binary=$1 run=$2 model=$3 workers=$4
  shift 4
  read -r config img batch rest <<<"$(model_args "$model")"
  # a subset so that one epoch is about BATCHES batches
  subset=$(awk -v b="$batches" -v n="$batch" 'BEGIN { s = b * n / 1768; if (s > 1) s = 1; printf "%.4f", s }')
  local parallel=(--set threads="$threads" --set train.batch_size="$batch")
  if ((workers > 1)); then
    parallel=(--nproc-per-node "$workers" --set threads=1
      --set train.batch_size=$((batch / workers)))
  fi
  # shellcheck disable=SC2086
  "$binary" -q train --config "$config" --data "$data" --out "$out/$run" \
    --set train.epochs=2 --set train.test_at_end=false --set data.subset="$subset" \
    "${parallel[@]}" $rest "$@" >&2
  /usr/bin/python3 -c "import json,sys; h = json.load(open(sys.argv[1]))['history']
print('%.1f %.1f' % (h[0]['train_images_per_second'], h[-1]['train_images_per_second']))" "$out/$run/summary.json"
}

ratio() { awk -v g="$1" -v a="$2" -v b="$3" 'BEGIN { p = a > b ? a : b; printf "%.2f", g / p }'; }
# LABEL "cold warm" "peer NCHW cold warm" "peer channels-last cold warm" -> one summary line
line() {
  local gc gw nc nw cc cw
  read -r gc gw <<<"$2"
  read -r nc nw <<<"$3"
  read -r cc cw <<<"$4"
  echo "$1 $gw img/s warm ($gc cold), peer NCHW $nw / channels-last $cw img/s warm" \
    "($nc / $cc cold): $(ratio "$gw" "$nw" "$cw")x warm, $(ratio "$gc" "$nc" "$cc")x cold"
}

summary=()
for model in "${models[@]}"; do
  read -r config img batch rest <<<"$(model_args "$model")"
  native=$(garbage_run "$bin" "$model" "$model" 1 "${extra[@]}")
  echo "garbage $model: $native img/s cold, warm (batch $batch, $img px, $threads threads)"
  dp=""
  if ((threads > 1)) && [[ ${GARBAGE_DP:-1} != 0 ]]; then
    dp=$(garbage_run "$bin" "$model-dp" "$model" "$threads" "${extra[@]}")
    echo "garbage $model data-parallel: $dp img/s cold, warm ($threads workers x 1 thread)"
  fi
  if [[ -n ${GARBAGE_BASELINE:-} ]]; then
    baseline=$(garbage_run "$GARBAGE_BASELINE" "$model-baseline" "$model" 1)
    echo "baseline $model: $baseline img/s cold, warm"
  fi
  nchw=$(peer "$model" "$img" "$batch")
  cl=$(peer "$model" "$img" "$batch" --channels-last)
  summary+=("$(line "$model: garbage" "$native" "$nchw" "$cl")")
  if [[ -n $dp ]]; then
    summary+=("$(line "$model: garbage data-parallel ($threads workers x 1 thread)" "$dp" "$nchw" "$cl")")
  fi
  if [[ -n ${GARBAGE_BASELINE:-} ]]; then
    summary+=("$(line "$model: baseline" "$baseline" "$nchw" "$cl")")
  fi
done
printf '%s\n' "${summary[@]}"
