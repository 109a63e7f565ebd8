#include <spdlog/spdlog.h>

#include "entry_config.hpp"
#include "harness.hpp"

// Config loading may warn (unknown keys, ...); a million warnings would only slow the fuzzer.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

GARBAGE_FUZZ_HARNESS(sweep_config)
