// The issue-14 training features together in real (tiny) runs: EMA, mixup/CutMix, one-cycle per
// step, class weights, no decay on norms and biases, bn_momentum. A run interrupted mid-epoch and
// resumed must end bit-identical to an uninterrupted one, and eval must pick the EMA weights.

#include <algorithm>
#include <fstream>

#include <gtest/gtest.h>
#include <spdlog/fmt/fmt.h>
#include <torch/torch.h>

#include "../support/train_fixture.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/core/interrupt.hpp"
#include "garbage/eval/evaluate.hpp"
#include "garbage/loading/checkpoint.hpp"
#include "garbage/loading/inference_model.hpp"
#include "garbage/models/classifier.hpp"
#include "garbage/train/trainer.hpp"

namespace garbage::train {
namespace {

namespace fs = std::filesystem;

class RecipeTrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clear_stop_request();
    testing::write_synthetic_dataset(dir_ / "data", 3, 24, 64);
  }
  TrainRequest request(const std::string& run) {
    auto doc = testing::tiny_train_document(dir_ / "data", 2);
    doc["model"]["bn_momentum"] = 0.2;
    doc["train"]["ema"] = {{"decay", 0.9}, {"warmup", true}};
    doc["train"]["mixup"]["mixup_alpha"] = 0.4;
    doc["train"]["mixup"]["cutmix_alpha"] = 1.0;
    doc["train"]["label_smoothing"] = 0.1;
    doc["train"]["class_weights"] = "balanced";
    doc["train"]["scheduler"]["name"] = "onecycle";
    doc["train"]["optimizer"]["name"] = "adamw";
    doc["train"]["optimizer"]["weight_decay"] = 0.05;
    doc["train"]["optimizer"]["no_decay_norm_bias"] = true;
    TrainRequest r;
    r.config = config::make_train_config(doc);
    r.out_dir = dir_ / run;
    return r;
  }
  testing::TempDir dir_{"recipe"};
};

torch::Tensor flat(const models::ClassifierImpl& model) {
  std::vector<torch::Tensor> parts;
  for (const auto& p : model.parameters()) parts.push_back(p.detach().flatten());
  for (const auto& b : model.buffers()) parts.push_back(b.detach().flatten().to(torch::kDouble));
  return torch::cat(parts);
}

TEST_F(RecipeTrainerTest, ResumeWithEmaAndMixupIsBitIdenticalAndEvalUsesTheEma) {
  auto straight = run_training(request("straight"));

  auto interrupted = request("resumed");
  interrupted.hooks.on_step = [](int64_t epoch, int64_t step, double) {
    if (epoch == 0 && step == 2) request_stop();
  };
  EXPECT_THROW(run_training(interrupted), Interrupted);
  clear_stop_request();
  auto resume = request("resumed");
  resume.resume = true;
  auto resumed = run_training(resume);

  ASSERT_EQ(resumed.history.size(), 2u);
  for (size_t i = 0; i < straight.history.size(); ++i) {
    const auto &a = straight.history[i], &b = resumed.history[i];
    EXPECT_DOUBLE_EQ(a.train_loss, b.train_loss) << i;
    EXPECT_DOUBLE_EQ(a.val_loss, b.val_loss) << i;
    EXPECT_DOUBLE_EQ(a.lr, b.lr) << i;
    ASSERT_FALSE(std::isnan(a.ema_val_loss)) << i;
    EXPECT_DOUBLE_EQ(a.ema_val_loss, b.ema_val_loss) << i;
    EXPECT_DOUBLE_EQ(a.ema_val_accuracy, b.ema_val_accuracy) << i;
  }
  auto s = loading::load_checkpoint(dir_ / "straight" / "last.pt");
  auto r = loading::load_checkpoint(dir_ / "resumed" / "last.pt");
  ASSERT_TRUE(s.state.ema && r.state.ema);
  EXPECT_TRUE(torch::equal(flat(*s.model), flat(*r.model)));
  EXPECT_TRUE(torch::equal(flat(*s.state.ema), flat(*r.state.ema)));
  EXPECT_FALSE(torch::equal(flat(*s.model), flat(*s.state.ema)));  // an average, not a copy

  // metrics.csv carries the EMA's validation scores (the metric the best epoch follows).
  std::ifstream csv(dir_ / "straight" / "metrics.csv");
  std::string header, first;
  std::getline(csv, header);
  std::getline(csv, first);
  EXPECT_NE(header.find(",ema_val_loss,ema_val_accuracy"), std::string::npos) << header;
  EXPECT_EQ(std::count(first.begin(), first.end(), ','), 9) << first;
  EXPECT_NE(first.find(fmt::format("{:.6f}", straight.history[0].ema_val_accuracy)),
            std::string::npos)
      << first;

  // The one-cycle schedule ends near lr / (25 * 1e4).
  EXPECT_LT(straight.history.back().lr, 3e-3 / 25 / 1e3);
  // bn_momentum reached the trained model.
  for (const auto& m : s.model->modules()) {
    if (auto* bn = dynamic_cast<torch::nn::BatchNorm2dImpl*>(m.get())) {
      EXPECT_DOUBLE_EQ(*bn->options.momentum(), 0.2);
    }
  }

  loading::ModelSource source;
  source.checkpoint = dir_ / "straight" / "best.pt";
  auto inference = loading::load_inference_model(source);
  EXPECT_TRUE(inference.ema);
  eval::EvalRequest eval_request;
  eval_request.model = source;
  eval_request.split = data::Split::val;
  eval_request.data_root = (dir_ / "data").string();
  eval_request.threads = 2;
  eval_request.tta = "flip";
  auto report = eval::evaluate_checkpoint(eval_request);
  EXPECT_EQ(report.json["weights_used"], "ema");
  ASSERT_TRUE(report.tta.has_value());  // reported beside the plain scores
  EXPECT_EQ(report.json["tta"]["mode"], "flip");
  EXPECT_EQ(report.tta->targets, report.evaluation.targets);
  const auto best = straight.best_epoch;
  EXPECT_NEAR(report.evaluation.metrics.accuracy,
              straight.history.at(static_cast<size_t>(best - 1)).ema_val_accuracy, 1e-12);
  // summary.json's best_val_accuracy is that of the weights in best.pt, the EMA's.
  EXPECT_NEAR(straight.best_val_accuracy, report.evaluation.metrics.accuracy, 1e-12);
  EXPECT_NEAR(straight.summary["best_val_accuracy"].get<double>(),
              report.evaluation.metrics.accuracy, 1e-12);
}

}  // namespace
}  // namespace garbage::train
