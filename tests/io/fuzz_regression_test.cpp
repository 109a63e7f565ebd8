// Replays fuzz/regressions/<harness>/*: inputs that once crashed, hung or exhausted memory in a
// libFuzzer harness (or were built by hand against an attack), fed to the same entry points the
// harnesses use. Each must now be accepted or refused with garbage::Error, nothing else.

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../../fuzz/entry_config.hpp"
#include "../../fuzz/entry_image.hpp"
#include "../../fuzz/entry_io.hpp"
#include "../support/python_oracle.hpp"
#include "garbage/core/errors.hpp"

namespace garbage::fuzz {
namespace {

namespace fs = std::filesystem;
using Entry = std::function<void(const std::vector<uint8_t>&)>;

const std::map<std::string, Entry>& entries() {
  static const std::map<std::string, Entry> map = {
      {"torch_zip", torch_zip},         {"torch_legacy", torch_legacy},
      {"safetensors", safetensors},     {"pickle", pickle},
      {"zip_directory", zip_directory}, {"train_config", train_config},
      {"sweep_config", sweep_config},   {"image", image}};
  return map;
}

TEST(FuzzRegressions, EveryCommittedInputIsRejectedCleanly) {
  const fs::path root = fs::path(GARBAGE_SOURCE_DIR) / "fuzz" / "regressions";
  ASSERT_TRUE(fs::is_directory(root)) << root;
  size_t replayed = 0;
  for (const auto& dir : fs::directory_iterator(root)) {
    if (!dir.is_directory()) continue;
    const std::string harness = dir.path().filename().string();
    auto entry = entries().find(harness);
    ASSERT_NE(entry, entries().end()) << "no harness named " << harness;
    for (const auto& file : fs::directory_iterator(dir.path())) {
      SCOPED_TRACE(file.path().string());
      EXPECT_LT(fs::file_size(file.path()), 64u * 1024) << "regression inputs stay small";
      const auto bytes = testing::read_u8(file.path());
      try {
        entry->second(bytes);
      } catch (const Error&) {
        // a clean refusal
      } catch (const std::exception& e) {
        ADD_FAILURE() << "escaped as " << typeid(e).name() << ": " << e.what();
      }
      ++replayed;
    }
  }
  EXPECT_GT(replayed, 0u);
}

}  // namespace
}  // namespace garbage::fuzz
