#pragma once
// Image decoding entry point, shared by the libFuzzer harness and the regression test.

#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>

#include "garbage/data/image.hpp"

namespace garbage::fuzz {

inline void image(const std::vector<uint8_t>& bytes) {
  if (bytes.empty()) return;
  cv::Mat rgb = data::decode_rgb8_bytes(bytes, "fuzz");
  data::ResizeSpec spec;
  spec.size = 32;
  (void)data::resize_for_cache(rgb, spec);
}

}  // namespace garbage::fuzz
