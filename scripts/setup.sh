#!/usr/bin/env bash
# Idempotent set-up: Debian packages (when root), a Release build in build/, and the data set.
# Usage: scripts/setup.sh [--no-build] [--no-data]
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
data=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    --no-data) data=0 ;;
    -h|--help) sed -n '2,3p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake ccache pkg-config
  libtorch-dev libopenblas0          # libtorch; OpenBLAS so Linear layers avoid reference BLAS
  libopencv-dev libcli11-dev nlohmann-json3-dev libspdlog-dev libgtest-dev
  libsqlite3-dev                     # sweep storage
  libpq-dev postgresql               # PostgreSQL sweep storage; the server for its tests
  libonnx-dev libprotobuf-dev        # ONNX export
  protobuf-compiler                  # TensorBoard event files (proto/tensorboard.proto)
  libyaml-cpp-dev                    # YAML sweep files and train configs
  libgloo-dev                        # c10d's Gloo process group: data-parallel training
  libdnnl-dev                        # oneDNN headers: the native inference engine (src/engine)
  python3-torch python3-torchvision  # reference oracle for tests only, never used at run time
  curl unzip ca-certificates         # scripts/get_trashnet.sh, scripts/get_weights.sh
  jq                                 # scripts/results.sh tabulates run reports
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js runs onnxruntime-node, which checks and benchmarks ONNX exports. A machine may already
# have it from another source (NodeSource's nodejs bundles npm and conflicts with Debian's npm).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then missing+=(nodejs npm); fi
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages (run as root or install them): ${missing[*]}" >&2
    exit 1
  fi
fi

if ((data)) && [[ ! -e data/trashnet ]]; then
  if [[ -d ../shared/data/trashnet/dataset-resized ]]; then
    ln -s "$(cd ../shared/data/trashnet && pwd)" data/trashnet
    echo "setup: data/trashnet -> ../shared/data/trashnet"
  else
    scripts/get_trashnet.sh data/trashnet
  fi
fi

# onnxruntime-node from npm (its CPU library ships in the package; the install script only fetches
# GPU extras, hence --ignore-scripts): the reference runtime for ONNX export checks and benchmarks.
if [[ ! -d tools/onnxruntime/node_modules/onnxruntime-node ]]; then
  (cd tools/onnxruntime && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) ||
    echo "setup: warning: npm could not install onnxruntime-node; ONNX runtime checks will be skipped" >&2
fi

if ((build)); then
  jobs=$(nproc)
  # ccache keys on paths relative to the checkout, so fresh clones reuse earlier compiles.
  export CCACHE_BASEDIR="$PWD" CCACHE_SLOPPINESS="pch_defines,time_macros,include_file_mtime,include_file_ctime"
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j "$jobs"
fi
