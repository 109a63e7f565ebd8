#pragma once
// The libFuzzer side of a harness: one input in, garbage::Error is a clean rejection; any other
// exception escapes and libFuzzer reports it (with crashes, sanitizer reports, -rss_limit_mb and
// -timeout overruns) as a finding.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "garbage/core/errors.hpp"

namespace garbage::fuzz {

template <typename Entry>
int run_one(Entry entry, const uint8_t* data, size_t size) {
  try {
    entry(std::vector<uint8_t>(data, data + size));
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace garbage::fuzz

#define GARBAGE_FUZZ_HARNESS(entry)                                         \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { \
    return garbage::fuzz::run_one(garbage::fuzz::entry, data, size);        \
  }
