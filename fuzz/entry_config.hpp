#pragma once
// Train and sweep config loading, shared by the libFuzzer harnesses and the regression test. The
// input is written to a file and loaded the way `garbage train --config` and `garbage sweep`
// load theirs.

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "garbage/config/train_config.hpp"
#include "garbage/core/json_io.hpp"
#include "garbage/sweep/sweep_file.hpp"

namespace garbage::fuzz {

/// A per-process scratch file holding `bytes`.
inline std::filesystem::path config_file(const std::vector<uint8_t>& bytes) {
  static const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("garbage-fuzz-" + std::to_string(::getpid()) + ".json");
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  return path;
}

inline void train_config(const std::vector<uint8_t>& bytes) {
  (void)config::load_train_config(config_file(bytes));
}

inline void sweep_config(const std::vector<uint8_t>& bytes) {
  auto doc = load_json_file(config_file(bytes));
  sweep::ParseOptions options;
  options.base_dir = std::filesystem::temp_directory_path();
  (void)sweep::parse_sweep_config(doc, "fuzz", options);
}

}  // namespace garbage::fuzz
