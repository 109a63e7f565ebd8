#!/usr/bin/env bash
# The fused training kernels (src/kernels) against the libtorch ops they replace, forward +
# backward, op by op on the shipped models' activation shapes, both layouts; one run, one machine.
# Usage: scripts/benchmarks/kernels.sh [THREADS] [ITERATIONS] [FILTER]  (default: all cores, 20;
#   FILTER: a substring of the op or shape names, e.g. add+relu or l1)
set -euo pipefail
cd "$(dirname "$0")/../.."
cmake --build build --target garbage_kernels_bench >/dev/null
build/garbage_kernels_bench "${1:-$(nproc)}" "${2:-20}" "${3:-}"
