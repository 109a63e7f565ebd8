#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/, clang, -fsanitize=fuzzer,address,undefined) in
# build-fuzz/ and runs each for SECONDS (default 600), then prints executions and findings per
# harness. Seeds are generated first (torch.save via /usr/bin/python3, shipped configs, a few
# TrashNet images); corpora grow in build-fuzz/corpus/, findings land in build-fuzz/findings/.
# A memory bomb (-rss_limit_mb, -malloc_limit_mb) or a slow input (-timeout) counts as a finding.
# Every finding, once fixed, goes into fuzz/regressions/<harness>/ (< 64 KiB), which ctest
# replays (FuzzRegressions.*).
# Usage: scripts/fuzz.sh [SECONDS] [HARNESS...]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-600}
shift || true
all=(torch_zip torch_legacy safetensors pickle zip_directory train_config sweep_config image)
harnesses=("${@:-${all[@]}}")
rss_mb=${FUZZ_RSS_MB:-2048}
timeout_s=${FUZZ_TIMEOUT_S:-10}
jobs=${FUZZ_BUILD_JOBS:-2}

if ! command -v clang++ >/dev/null; then
  if [[ $(id -u) -eq 0 ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null
  else
    echo "fuzz.sh: clang++ missing (apt-get install clang)" >&2
    exit 1
  fi
fi

# The config harnesses take the model registry from an ordinary build's library.
if [[ " ${harnesses[*]} " == *_config* ]]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j"$jobs" --target garbage_core >/dev/null
fi
cmake -S . -B build-fuzz -DGARBAGE_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGARBAGE_FUZZ_CORE_ARCHIVE="$PWD/build/libgarbage_core.a" \
  >/dev/null
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
cmake --build build-fuzz -j"$jobs" --target "${targets[@]}"

data_root=${GARBAGE_DATA:-data/trashnet}
rm -rf build-fuzz/seeds
/usr/bin/python3 fuzz/make_seeds.py build-fuzz/seeds "$PWD" "$data_root"

# OpenCV reads this once at start-up: the image harness refuses pictures above 64 Mpx anyway.
export OPENCV_IO_MAX_IMAGE_PIXELS=$((1 << 26))
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

printf '%-14s %12s %8s %9s %s\n' harness executions seconds findings corpus >build-fuzz/summary.txt
for h in "${harnesses[@]}"; do
  corpus=build-fuzz/corpus/$h findings=build-fuzz/findings/$h
  mkdir -p "$corpus" "$findings"
  seeds=build-fuzz/seeds/$h
  [[ -d $seeds ]] || seeds=
  log=build-fuzz/fuzz_$h.log
  start=$(date +%s)
  build-fuzz/fuzz/fuzz_$h -max_total_time="$seconds" -rss_limit_mb="$rss_mb" \
    -malloc_limit_mb="$rss_mb" -timeout="$timeout_s" -max_len=262144 -print_final_stats=1 \
    -artifact_prefix="$findings/" -close_fd_mask=3 "$corpus" $seeds >"$log" 2>&1 || true
  elapsed=$(($(date +%s) - start))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  found=$(find "$findings" -type f | wc -l)
  printf '%-14s %12s %8s %9s %s\n' "$h" "$execs" "$elapsed" "$found" \
    "$(find "$corpus" -type f | wc -l)" >>build-fuzz/summary.txt
  if ((found)); then
    echo "fuzz.sh: $h: findings in $findings (log: $log)" >&2
    grep -m3 -E 'ERROR|SUMMARY|==[0-9]+==' "$log" >&2 || true
  fi
done
cat build-fuzz/summary.txt
