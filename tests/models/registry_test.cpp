// The registry is the one place a model's metadata lives: scripts/get_weights.sh and the
// standalone loader's preprocessing must agree with it.

#include <fstream>
#include <map>
#include <regex>

#include <gtest/gtest.h>

#include "garbage/models/catalog.hpp"
#include "garbage/models/registry.hpp"

namespace garbage::models {
namespace {

/// The `[model]=file` lines of get_weights.sh's table.
std::map<std::string, std::string> get_weights_table() {
  std::ifstream in(std::string(GARBAGE_SOURCE_DIR) + "/scripts/get_weights.sh");
  std::map<std::string, std::string> table;
  const std::regex entry(R"(^\s*\[([a-z0-9_]+)\]=([A-Za-z0-9_.-]+)\s*$)");
  std::smatch m;
  for (std::string line; std::getline(in, line);)
    if (std::regex_match(line, m, entry)) table[m[1]] = m[2];
  return table;
}

TEST(Registry, GetWeightsScriptListsTheRegistrysFirstFileOfEveryModel) {
  const auto table = get_weights_table();
  ASSERT_FALSE(table.empty()) << "could not read scripts/get_weights.sh";
  size_t with_files = 0;
  for (const auto& spec : all_models()) {
    if (spec.pretrained.empty()) {
      EXPECT_EQ(table.count(spec.name), 0u) << spec.name << " has no official file";
      continue;
    }
    ++with_files;
    ASSERT_EQ(table.count(spec.name), 1u) << spec.name << " is missing from get_weights.sh";
    EXPECT_EQ(table.at(spec.name), spec.pretrained.front().file) << spec.name;
  }
  EXPECT_EQ(table.size(), with_files) << "get_weights.sh lists a model the registry does not";
}

TEST(Registry, PretrainedFilesCarryTheirHashPrefix) {
  for (const auto& spec : all_models()) {
    for (const auto& f : spec.pretrained) {
      EXPECT_EQ(f.sha256_prefix.size(), 8u) << f.file;
      EXPECT_NE(f.file.find("-" + f.sha256_prefix + ".pth"), std::string::npos) << f.file;
      EXPECT_EQ(f.url.substr(f.url.size() - f.file.size()), f.file);
    }
  }
}

TEST(Registry, ModelsListingHasEveryModelWithItsSize) {
  auto listed = models_to_json(list_models());
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& m : listed) by_name[m["name"]] = m;
  EXPECT_EQ(by_name.size(), all_models().size());
  // torchvision's counts with a 6-class head; SimpleCNN's seed configuration.
  EXPECT_EQ(by_name.at("resnet18")["params"], 11179590);
  EXPECT_EQ(by_name.at("mobilenet_v3_small")["params"], 1524006);
  EXPECT_EQ(by_name.at("simple_cnn")["params"], 547334);
  EXPECT_EQ(by_name.at("simple_cnn")["input_size"], 128);
  EXPECT_EQ(by_name.at("resnet50")["pretrained"][0]["file"], "resnet50-0676ba61.pth");
  EXPECT_EQ(by_name.at("resnet50")["preprocessing"]["crop"], 224);
  EXPECT_TRUE(by_name.at("simple_cnn")["pretrained"].empty());
}

}  // namespace
}  // namespace garbage::models
