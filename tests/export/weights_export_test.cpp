// Exported weights: safetensors metadata, loading both formats back through --model, atomic
// writes, and PyTorch + torchvision loading the .pth with identical logits.

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "../support/checkpoint_fixture.hpp"
#include "../support/python_oracle.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/export/weights_export.hpp"
#include "garbage/io/weights_file.hpp"
#include "garbage/loading/inference_model.hpp"
#include "garbage/models/classifier.hpp"

namespace garbage::exporting {
namespace {

using nlohmann::json;
using testing::TempDir;

/// A registry model at its random initialisation, BatchNorm statistics randomised so that a
/// running_mean / running_var mix-up changes the logits.
loading::InferenceModel random_registry_model(const std::string& name, int64_t classes) {
  loading::ModelSource source;
  source.model_name = name;
  source.num_classes = classes;
  torch::manual_seed(17);
  auto m = loading::load_inference_model(source);
  torch::NoGradGuard no_grad;
  for (const auto& b : m.model->named_buffers()) {
    if (b.key().find("running_mean") != std::string::npos) b.value().normal_(0, 0.1);
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 1.5);
    if (b.key().find("num_batches_tracked") != std::string::npos) b.value().fill_(123);
  }
  return m;
}

torch::Tensor logits(const loading::InferenceModel& m, const torch::Tensor& x) {
  c10::InferenceMode guard;
  return m.model->forward(x).clone();
}

json safetensors_header(const std::filesystem::path& path) {
  auto bytes = testing::read_u8(path);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(bytes.at(i)) << (8 * i);
  return json::parse(std::string(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(n)));
}

TEST(WeightsExport, SafetensorsMetadataDescribesACheckpoint) {
  TempDir dir("export-meta");
  testing::write_untrained_tiny_checkpoint(dir / "ck.pt", dir / "data",
                                           {"glass", "paper", "trash"});
  loading::ModelSource source;
  source.checkpoint = dir / "ck.pt";
  auto m = loading::load_inference_model(source);
  export_safetensors(m, dir / "out" / "model.safetensors");

  auto header = safetensors_header(dir / "out" / "model.safetensors");
  const auto& meta = header.at("__metadata__");
  for (const auto& [k, v] : meta.items()) EXPECT_TRUE(v.is_string()) << k;
  EXPECT_EQ(meta["format"], "garbage");
  EXPECT_EQ(json::parse(meta["model"].get<std::string>()), m.document["model"]);
  EXPECT_EQ(json::parse(meta["model"].get<std::string>())["name"], "simple_cnn");
  EXPECT_EQ(json::parse(meta["class_names"].get<std::string>()), json({"glass", "paper", "trash"}));
  auto pre = json::parse(meta["preprocessing"].get<std::string>());
  EXPECT_EQ(pre["input_size"], 64);
  EXPECT_EQ(pre["resize_mode"], m.document["preprocess"]["resize_mode"]);
  EXPECT_EQ(pre["mean"], json({0.485, 0.456, 0.406}));
  EXPECT_EQ(pre["std"], json({0.229, 0.224, 0.225}));

  // Every tensor of the model, and nothing else.
  EXPECT_EQ(header.size(),
            m.model->named_parameters().size() + m.model->named_buffers().size() + 1);
  auto file = io::read_weights_file(dir / "out" / "model.safetensors");
  EXPECT_EQ(file.tensors.size(), header.size() - 1);
}

/// Exports `m` with `write`, loads it back as `--model NAME --weights FILE` (strictly: every key
/// and shape must match; the head size is read from the file) and expects identical logits.
template <typename Write>
void expect_loads_back(const loading::InferenceModel& m, const std::filesystem::path& file,
                       Write write) {
  write(m, file);
  loading::ModelSource source;
  source.model_name = m.model_name();
  source.weights = file;
  auto back = loading::load_inference_model(source);
  EXPECT_EQ(back.num_classes(), m.num_classes());
  auto x = torch::randn({2, 3, 64, 64});
  EXPECT_TRUE(torch::equal(logits(back, x), logits(m, x))) << file;

  // Buffers too (a file without num_batches_tracked would leave it at 0).
  EXPECT_EQ(back.model->named_buffers()["features.0.1.num_batches_tracked"].item<int64_t>(), 123);
}

TEST(WeightsExport, BothFormatsLoadBackAsModelWeights) {
  TempDir dir("export-back");
  auto m = random_registry_model("mobilenet_v3_small", 3);
  expect_loads_back(m, dir / "m.safetensors", export_safetensors);
  expect_loads_back(m, dir / "m.pth", export_pth);
  EXPECT_EQ(io::read_weights_file(dir / "m.pth").format, io::WeightsFormat::torch_zip);
}

TEST(WeightsExport, WritesAtomically) {
  TempDir dir("export-atomic");
  auto m = random_registry_model("mobilenet_v3_small", 2);
  export_pth(m, dir / "m.pth");
  auto first = testing::read_u8(dir / "m.pth");
  export_pth(m, dir / "m.pth");  // replaces the file in place
  EXPECT_EQ(testing::read_u8(dir / "m.pth"), first);
  EXPECT_FALSE(std::filesystem::exists(dir / "m.pth.tmp"));

  // A folder in the way: the rename fails, nothing half-written is left behind.
  std::filesystem::create_directories(dir / "taken.safetensors" / "child");
  EXPECT_THROW(export_safetensors(m, dir / "taken.safetensors"), Error);
  EXPECT_FALSE(std::filesystem::exists(dir / "taken.safetensors.tmp"));
  EXPECT_TRUE(std::filesystem::is_directory(dir / "taken.safetensors"));
}

class ExportPython : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::have_torchvision()) GTEST_SKIP() << "/usr/bin/python3 with torchvision missing";
  }

  /// Exports NAME (6 classes), has PyTorch load it strictly into torchvision's model and returns
  /// the largest logit difference on the same input.
  static double torch_parity(const std::string& name) {
    constexpr int kSize = 64;
    TempDir dir("export-py");
    auto m = random_registry_model(name, 6);
    export_pth(m, dir / (name + ".pth"));
    auto x = torch::randn({2, 3, kSize, kSize});
    std::ofstream(dir / "input.bin", std::ios::binary)
        .write(static_cast<const char*>(x.data_ptr()), x.numel() * 4);
    bool ok = false;
    auto out = testing::run_python_script(
        "tests/export/check_exported_weights.py",
        "pth " + dir.str() + " " + name + " 6 " + std::to_string(kSize), ok);
    EXPECT_TRUE(ok) << out;
    if (!ok) return INFINITY;
    auto ref = testing::read_bytes(dir / (name + ".logits.bin"));
    auto expected = torch::empty({2, 6});
    EXPECT_EQ(ref.size(), 2u * 6 * 4);
    std::memcpy(expected.data_ptr(), ref.data(), std::min<size_t>(ref.size(), 2 * 6 * 4));
    auto ours = logits(m, x);
    EXPECT_GT(ours.abs().max().item<double>(), 1e-3);  // not a degenerate comparison
    double diff = (ours - expected).abs().max().item<double>();
    std::printf("exported %-20s torch.load parity max |diff| = %.3g\n", name.c_str(), diff);
    return diff;
  }
};

TEST_F(ExportPython, TorchLoadsResNet18StrictlyWithTheSameLogits) {
  EXPECT_LE(torch_parity("resnet18"), 1e-4);
}

TEST_F(ExportPython, TorchLoadsMobileNetV3SmallStrictlyWithTheSameLogits) {
  EXPECT_LE(torch_parity("mobilenet_v3_small"), 1e-4);
}

TEST_F(ExportPython, SafetensorsPackageReadsTheExport) {
  std::string probe = std::string(testing::kSystemPython) + " -c 'import safetensors' 2>/dev/null";
  if (std::system(probe.c_str()) != 0) GTEST_SKIP() << "python safetensors package missing";
  TempDir dir("export-st");
  auto m = random_registry_model("mobilenet_v3_small", 6);
  export_safetensors(m, dir / "m.safetensors");
  bool ok = false;
  auto out = testing::run_python_script("tests/export/check_exported_weights.py",
                                        "safetensors " + (dir / "m.safetensors").string(), ok);
  ASSERT_TRUE(ok) << out;
  EXPECT_NE(out.find("classifier.3.weight float32 [6, 1024]"), std::string::npos) << out;
  EXPECT_NE(out.find("features.0.1.num_batches_tracked int64 []"), std::string::npos) << out;
}

}  // namespace
}  // namespace garbage::exporting
