// ONNX export: every model family runs in onnxruntime with libtorch's logits, fp16 keeps the
// top-1 class on real images, the graph carries its metadata, and what cannot be exported is
// refused by name.

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <torch/torch.h>

#include "../support/model_fixture.hpp"
#include "../support/onnxruntime.hpp"
#include "../support/run_cli.hpp"
#include "../support/synthetic_data.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/data/dataset.hpp"
#include "garbage/export/export.hpp"
#include "garbage/export/onnx_export.hpp"
#include "garbage/loading/inference_model.hpp"
#include "garbage/models/classifier.hpp"
#include "garbage/models/registry.hpp"

namespace garbage::exporting {
namespace {

using nlohmann::json;
using testing::calibrate_head;
using testing::randomize_batchnorm;
using testing::TempDir;

loading::InferenceModel make_model(const json& user, int side) {
  torch::manual_seed(7);
  loading::InferenceModel m;
  auto resolved = models::resolve_model_config(user, "test");
  m.model = models::create_model(resolved);
  randomize_batchnorm(*m.model, 11);
  m.model->eval();
  m.document = {{"model", resolved}};
  for (int64_t i = 0; i < resolved.value("num_classes", int64_t{6}); ++i)
    m.class_names.push_back("c" + std::to_string(i));
  m.transform.resize.size = side;
  m.source = "test";
  return m;
}

struct Case {
  std::string label;
  json model;
  int side;
};

std::vector<Case> every_family() {
  auto cnn = [](const std::string& act, bool bn, const std::string& strategy) {
    return json{{"name", "simple_cnn"},    {"base_features", 8},   {"num_conv_layers", 3},
                {"filter_size", 3},        {"strategy", strategy}, {"conv_activation", act},
                {"dense_activation", act}, {"num_dense", 16},      {"batchnorm", bn},
                {"img_size", 32},          {"num_classes", 6}};
  };
  auto resnet = [](int depth, const std::string& attention, const std::string& fusion) {
    return json{{"name", "resnet" + std::to_string(depth)},
                {"attention", attention},
                {"recyclenet_fusion", fusion}};
  };
  return {{"simple_cnn relu", cnn("relu", true, "same"), 32},
          {"simple_cnn gelu", cnn("gelu", true, "doubling"), 32},
          {"simple_cnn silu", cnn("silu", false, "halving"), 32},
          {"simple_cnn mish", cnn("mish", true, "same"), 32},
          {"mobilenet_v3_small", {{"name", "mobilenet_v3_small"}}, 64},
          {"mobilenet_v3_large", {{"name", "mobilenet_v3_large"}}, 64},
          {"resnet18", resnet(18, "none", "sum"), 64},
          {"resnet18 se", resnet(18, "se", "sum"), 64},
          {"resnet18 cbam", resnet(18, "cbam", "sum"), 64},
          {"resnet18 recyclenet sum", resnet(18, "recyclenet", "sum"), 64},
          {"resnet18 recyclenet max", resnet(18, "recyclenet", "max"), 64},
          {"resnet18 recyclenet channel", resnet(18, "recyclenet", "channel"), 64},
          {"resnet50 recyclenet mul", resnet(50, "recyclenet", "mul"), 64}};
}

TEST(OnnxExport, EveryFamilyGivesLibtorchLogitsInOnnxruntime) {
  if (!testing::have_onnxruntime()) GTEST_SKIP() << "node + onnxruntime-node not installed";
  TempDir dir;
  std::vector<testing::OrtJob> jobs;
  std::vector<torch::Tensor> expected;
  const auto cases = every_family();
  for (size_t i = 0; i < cases.size(); ++i) {
    auto m = make_model(cases[i].model, cases[i].side);
    auto x =
        torch::randn({3, 3, cases[i].side, cases[i].side}, at::detail::createCPUGenerator(100 + i));
    calibrate_head(*m.model, x);
    auto path = dir.path() / ("m" + std::to_string(i) + ".onnx");
    EXPECT_GT(export_onnx(m, path).nodes, 0) << cases[i].label;
    torch::NoGradGuard no_grad;
    expected.push_back(m.model->forward(x));
    jobs.push_back({path, x, m.num_classes(), {}});
  }
  std::string log;
  ASSERT_TRUE(testing::run_onnxruntime(jobs, dir.path(), log)) << log;
  for (size_t i = 0; i < cases.size(); ++i) {
    const double diff = (jobs[i].output - expected[i]).abs().max().item<double>();
    EXPECT_LE(diff, 1e-4) << cases[i].label << " logits scale "
                          << expected[i].abs().max().item<double>();
  }
}

TEST(OnnxExport, Fp16KeepsTheTop1ClassOnRealImages) {
  if (!testing::have_onnxruntime()) GTEST_SKIP() << "node + onnxruntime-node not installed";
  const std::filesystem::path root = GARBAGE_SOURCE_DIR "/data/trashnet";
  if (!std::filesystem::exists(root)) GTEST_SKIP() << "no TrashNet at " << root;
  data::DatasetOptions opts;
  opts.root = root.string();
  auto index = data::index_split(opts, data::Split::test);
  auto m = make_model({{"name", "mobilenet_v3_small"}}, 96);
  std::vector<torch::Tensor> images;
  for (size_t i = 0; i < index.samples.size() && images.size() < 24; i += 17)
    images.push_back(loading::load_image_tensor(index.samples[i].path, m.transform));
  auto x = torch::stack(images);

  TempDir dir;
  OnnxOptions half;
  half.fp16 = true;
  export_onnx(m, dir.path() / "fp16.onnx", half);
  export_onnx(m, dir.path() / "fp32.onnx");
  std::vector<testing::OrtJob> jobs = {{dir.path() / "fp16.onnx", x, m.num_classes(), {}},
                                       {dir.path() / "fp32.onnx", x, m.num_classes(), {}}};
  std::string log;
  ASSERT_TRUE(testing::run_onnxruntime(jobs, dir.path(), log)) << log;
  torch::NoGradGuard no_grad;
  auto reference = m.model->forward(x);
  auto top1 = reference.argmax(1);
  EXPECT_TRUE(jobs[0].output.argmax(1).equal(top1))
      << "fp16 " << jobs[0].output.argmax(1) << " vs " << top1;
  EXPECT_TRUE(jobs[1].output.argmax(1).equal(top1));
  // Half precision really is in use: the fp16 logits differ from fp32 in the low bits.
  EXPECT_GT((jobs[0].output - reference).abs().max().item<double>(), 1e-6);
  EXPECT_LT((jobs[0].output - reference).abs().max().item<double>(), 0.05);
  EXPECT_LT(std::filesystem::file_size(dir.path() / "fp16.onnx"),
            std::filesystem::file_size(dir.path() / "fp32.onnx") * 6 / 10);
}

onnx::ModelProto read_model(const std::filesystem::path& path) {
  onnx::ModelProto proto;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(proto.ParseFromIstream(&in)) << path;
  return proto;
}

int count_ops(const onnx::ModelProto& proto, const std::string& type) {
  int n = 0;
  for (const auto& node : proto.graph().node()) n += node.op_type() == type;
  return n;
}

TEST(OnnxExport, GraphHasOpset17DynamicBatchMetadataAndFoldedBatchNorm) {
  TempDir dir;
  auto m = make_model({{"name", "resnet18"}}, 64);
  auto summary = export_onnx(m, dir.path() / "r.onnx");
  EXPECT_EQ(summary.folded_batchnorms, 20);  // stem + 2 per block x 8 + 3 downsamples
  auto proto = read_model(dir.path() / "r.onnx");
  ASSERT_EQ(proto.opset_import_size(), 1);
  EXPECT_EQ(proto.opset_import(0).version(), 17);
  const auto& input = proto.graph().input(0);
  EXPECT_EQ(input.name(), kOnnxInputName);
  EXPECT_EQ(input.type().tensor_type().shape().dim(0).dim_param(), "batch");
  EXPECT_EQ(input.type().tensor_type().shape().dim(3).dim_value(), 64);
  EXPECT_EQ(proto.graph().output(0).name(), kOnnxOutputName);
  EXPECT_EQ(count_ops(proto, "BatchNormalization"), 0);
  EXPECT_EQ(count_ops(proto, "Conv"), 20);
  std::map<std::string, std::string> meta;
  for (const auto& p : proto.metadata_props()) meta[p.key()] = p.value();
  EXPECT_EQ(json::parse(meta.at("class_names")), json(m.class_names));
  EXPECT_EQ(json::parse(meta.at("model")).at("name"), "resnet18");
  EXPECT_EQ(json::parse(meta.at("preprocessing")).at("input_size"), 64);

  OnnxOptions unfolded;
  unfolded.fold_bn = false;
  export_onnx(m, dir.path() / "u.onnx", unfolded);
  EXPECT_EQ(count_ops(read_model(dir.path() / "u.onnx"), "BatchNormalization"), 20);

  // SimpleCNN's BatchNorm follows the activation, not the conv: it must stay a BatchNorm.
  auto cnn = make_model(every_family()[0].model, 32);
  EXPECT_EQ(export_onnx(cnn, dir.path() / "c.onnx").folded_batchnorms, 0);
  EXPECT_EQ(count_ops(read_model(dir.path() / "c.onnx"), "BatchNormalization"), 3);
}

class Opaque : public models::ClassifierImpl {
 public:
  torch::Tensor run(torch::Tensor x, const models::Pass& /*pass*/) override { return x.flatten(1); }
};

TEST(OnnxExport, ModelWithoutAGraphIsRefusedByName) {
  TempDir dir;
  loading::InferenceModel m = make_model({{"name", "resnet18"}}, 64);
  m.model = std::make_shared<Opaque>();
  try {
    export_onnx(m, dir.path() / "x.onnx");
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot be exported"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "x.onnx"));
}

TEST(OnnxExport, CliWritesAFileAndRejectsAnUnknownFormat) {
  TempDir dir;
  auto out = dir.path() / "m.onnx";
  auto ok = testing::run_garbage(
      "export --model mobilenet_v3_small --num-classes 6 --format onnx "
      "--json --output " +
      out.string());
  ASSERT_EQ(ok.code, 0) << ok.output;
  EXPECT_TRUE(std::filesystem::exists(out));
  EXPECT_NE(ok.output.find("\"folded_batchnorms\""), std::string::npos) << ok.output;
  // The weight formats chain: safetensors -> --weights -> .pth.
  auto st = dir.path() / "m.safetensors";
  auto to_st = testing::run_garbage(
      "export --model mobilenet_v3_small --num-classes 6 --format "
      "safetensors --output " +
      st.string());
  ASSERT_EQ(to_st.code, 0) << to_st.output;
  auto pth = dir.path() / "m.pth";
  auto to_pth = testing::run_garbage("export --model mobilenet_v3_small --weights " + st.string() +
                                     " --format pth --json --output " + pth.string());
  ASSERT_EQ(to_pth.code, 0) << to_pth.output;
  EXPECT_NE(to_pth.output.find("\"format\": \"pth\""), std::string::npos) << to_pth.output;
  EXPECT_GT(std::filesystem::file_size(pth), 6'000'000u);

  auto bad = testing::run_garbage("export --model resnet18 --format tflite --output x.tflite");
  EXPECT_EQ(bad.code, 2) << bad.output;
  auto none = testing::run_garbage("export --format onnx --output x.onnx");
  EXPECT_EQ(none.code, 2) << none.output;
}

}  // namespace
}  // namespace garbage::exporting
