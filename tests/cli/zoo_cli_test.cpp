// `--model NAME --weights FILE` for eval and summary: any weight file runs without a checkpoint.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../support/checkpoint_fixture.hpp"
#include "../support/run_cli.hpp"
#include "../support/synthetic_data.hpp"
#include "garbage/io/to_torch.hpp"
#include "garbage/io/weights_file.hpp"
#include "garbage/models/classifier.hpp"
#include "garbage/models/registry.hpp"

namespace garbage {
using garbage::testing::run_garbage;

namespace {

TEST(ZooCli, SummaryOfARegistryModel) {
  auto r = run_garbage("summary --model resnet18 --num-classes 6");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("total params: 11,179,590"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("layer4.1.bn2"), std::string::npos);
  auto bad = run_garbage("summary --model resnet18 --config x.json");
  EXPECT_EQ(bad.code, 2) << bad.output;
  auto none = run_garbage("summary");
  EXPECT_EQ(none.code, 2) << none.output;
}

TEST(ZooCli, ModelsListsTheRegistry) {
  auto r = run_garbage("models --json");
  ASSERT_EQ(r.code, 0) << r.output;
  auto listed = nlohmann::json::parse(r.output.substr(r.output.find('[')));
  ASSERT_TRUE(listed.is_array());
  // The binary lists the built-in families (this test binary also registers test-only ones).
  size_t built_in = 0;
  for (const auto& spec : models::all_models()) built_in += spec.name.rfind("test_", 0) != 0;
  EXPECT_EQ(listed.size(), built_in);
  bool resnet18 = false;
  for (const auto& m : listed) {
    EXPECT_TRUE(m.contains("description") && m.contains("input_size") && m.contains("params"));
    if (m["name"] == "resnet18")
      resnet18 = m["pretrained"][0]["file"] == "resnet18-f37072fd.pth" &&
                 m["pretrained"][0]["sha256_prefix"] == "f37072fd" && m["input_size"] == 224;
  }
  EXPECT_TRUE(resnet18) << r.output;
  auto table = run_garbage("models");
  EXPECT_EQ(table.code, 0);
  EXPECT_NE(table.output.find("mobilenet_v3_large"), std::string::npos) << table.output;
}

TEST(ZooCli, SummaryOfACheckpointUsesItsModelAndInputSize) {
  testing::TempDir dir("zoo-cli");
  testing::write_untrained_tiny_checkpoint(dir / "ck.pt", dir / "data", {"a", "b", "c"});
  auto r = run_garbage("summary --checkpoint " + (dir / "ck.pt").string());
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("model simple_cnn"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[1, 3]"), std::string::npos) << r.output;  // the 3-class head
}

TEST(ZooCli, EvalRunsAWeightFileWithTheDataSetsClasses) {
  testing::TempDir dir("zoo-cli");
  testing::write_synthetic_dataset(dir / "data", 3, 8, 48);
  auto model = models::create_model(
      models::resolve_model_config({{"name", "mobilenet_v3_small"}, {"num_classes", 3}}, "test"));
  auto weights = dir / "mnv3.safetensors";
  io::write_safetensors(weights, io::module_state_dict(*model));

  auto r = run_garbage("eval --model mobilenet_v3_small --weights " + weights.string() +
                       " --data " + (dir / "data").string() + " --split test --report " +
                       (dir / "report.json").string());
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir / "report.json")) << r.output;

  // A head for another number of classes cannot label this data set.
  auto wrong = run_garbage("eval --model mobilenet_v3_small --weights " + weights.string() +
                           " --num-classes 5 --data " + (dir / "data").string());
  EXPECT_NE(wrong.code, 0) << wrong.output;
  auto both = run_garbage("eval --checkpoint " + weights.string() + " --model resnet18 --weights " +
                          weights.string());
  EXPECT_EQ(both.code, 2) << both.output;
}

}  // namespace
}  // namespace garbage
