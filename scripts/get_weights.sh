#!/usr/bin/env bash
# Downloads the official torchvision ImageNet weights for the model zoo and checks them.
# Usage: scripts/get_weights.sh [--dir DIR] [MODEL ...]
#   MODEL: mobilenet_v3_small mobilenet_v3_large resnet18 resnet34 resnet50 resnet101 resnet152
#          (default: mobilenet_v3_small resnet18 resnet34 resnet50, the configs' models)
#   DIR:   target folder (default: $GARBAGE_WEIGHTS, else weights/)
# Each file name carries the first 8 hex digits of its SHA-256 (torchvision's convention); the
# download is kept only when its hash starts with them, exactly as torch.hub checks it.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A files=(
  [mobilenet_v3_small]=mobilenet_v3_small-047dcff4.pth
  [mobilenet_v3_large]=mobilenet_v3_large-8738ca79.pth
  [resnet18]=resnet18-f37072fd.pth
  [resnet34]=resnet34-b627a593.pth
  [resnet50]=resnet50-0676ba61.pth
  [resnet101]=resnet101-63fe2227.pth
  [resnet152]=resnet152-394f9c45.pth
)
base_url=https://download.pytorch.org/models

dir=${GARBAGE_WEIGHTS:-weights}
models=()
while (($#)); do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) models+=("$1"); shift ;;
  esac
done
((${#models[@]})) || models=(mobilenet_v3_small resnet18 resnet34 resnet50)
mkdir -p "$dir"

for model in "${models[@]}"; do
  file=${files[$model]:-}
  if [[ -z $file ]]; then
    echo "get_weights: unknown model $model (known: ${!files[*]})" >&2
    exit 2
  fi
  prefix=${file##*-}
  prefix=${prefix%.pth}
  target=$dir/$file
  if [[ -f $target ]] && sha256sum "$target" | grep -q "^$prefix"; then
    echo "get_weights: $target ok"
    continue
  fi
  for shared in ../shared/weights; do
    if [[ -f $shared/$file ]]; then
      cp "$shared/$file" "$target.part"
      break
    fi
  done
  [[ -f $target.part ]] || curl -fL --retry 3 -o "$target.part" "$base_url/$file"
  if ! sha256sum "$target.part" | grep -q "^$prefix"; then
    echo "get_weights: $file: SHA-256 does not start with $prefix; download removed" >&2
    rm -f "$target.part"
    exit 1
  fi
  mv "$target.part" "$target"
  echo "get_weights: $target ($(du -h "$target" | cut -f1)) sha256 $prefix... ok"
done
