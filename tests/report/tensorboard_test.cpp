// TensorBoard event files: our own reader (TFRecord framing, CRC-32C, protobuf) finds what the
// writer wrote; a corrupted byte is caught; a training run logs every tag at the right steps and a
// resumed run writes no step twice.

#include <fstream>
#include <set>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "../support/train_fixture.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/core/interrupt.hpp"
#include "garbage/report/tensorboard.hpp"
#include "garbage/train/trainer.hpp"

namespace garbage::report {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

TEST(TensorBoard, Crc32cMatchesTheCastagnoliCheckValue) {
  const std::string check = "123456789";
  EXPECT_EQ(crc32c(check.data(), check.size()), 0xE3069283u);
}

TEST(TensorBoard, WhatIsWrittenReadsBackAndCorruptionIsCaught) {
  TempDir dir("tb");
  fs::path file;
  {
    EventWriter w(dir / "tb");
    file = w.path();
    w.scalar("train/loss", 0.25, 7);
    w.text("model/parameters", "1,234 parameters", 0);
    w.image("test/grid", std::string("\x89PNG fake", 9), 4, 5, 2);
    w.hparams_session_start({{"lr", 0.01}, {"optimizer", "sgd"}, {"bn", true}}, "trial-3");
    w.hparams_session_end(SessionStatus::success);
  }
  EXPECT_EQ(file.filename().string().rfind("events.out.tfevents.", 0), 0u);
  auto records = read_event_file(file);
  ASSERT_EQ(records.size(), 6u);
  EXPECT_EQ(records[0].kind, "file_version");
  EXPECT_EQ(records[1].tag, "train/loss");
  EXPECT_EQ(records[1].step, 7);
  EXPECT_FLOAT_EQ(records[1].value, 0.25f);
  EXPECT_EQ(records[2].kind, "text");
  EXPECT_EQ(records[2].data, "1,234 parameters");
  EXPECT_EQ(records[3].kind, "image");
  EXPECT_EQ(records[3].height, 4);
  EXPECT_EQ(records[3].width, 5);
  auto start = hparams_to_json(records[4]);
  EXPECT_EQ(records[4].tag, "_hparams_/session_start_info");
  EXPECT_EQ(start["sessionStartInfo"]["hparams"]["optimizer"], "sgd");
  EXPECT_EQ(start["sessionStartInfo"]["hparams"]["lr"], 0.01);
  EXPECT_EQ(start["sessionStartInfo"]["groupName"], "trial-3");
  EXPECT_EQ(hparams_to_json(records[5])["sessionEndInfo"]["status"], 1);
  EXPECT_EQ(last_steps(dir / "tb").at("train/loss"), 7);

  {  // flip one byte of the scalar's payload
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(file) / 4));
    f.put('\x7f');
  }
  try {
    read_event_file(file);
    FAIL() << "corruption not detected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CRC"), std::string::npos) << e.what();
  }
}

TEST(TensorBoard, ExperimentSummaryHoldsDomainsAndMetric) {
  TempDir dir("tb");
  EventWriter w(dir.path());
  HParamDomain lr{"lr", std::make_pair(1e-4, 1e-1), {}};
  HParamDomain opt{"optimizer", std::nullopt, {"adam", "sgd"}};
  w.hparams_experiment({lr, opt}, {"epoch/val_accuracy"});
  w.flush();
  auto records = read_event_file(w.path());
  ASSERT_EQ(records.size(), 2u);
  auto exp = hparams_to_json(records[1])["experiment"];
  EXPECT_EQ(exp["hparamInfos"][0]["name"], "lr");
  EXPECT_EQ(exp["hparamInfos"][0]["domainInterval"]["maxValue"], 0.1);
  EXPECT_EQ(exp["hparamInfos"][1]["domainDiscrete"][1], "sgd");
  EXPECT_EQ(exp["metricInfos"][0]["name"]["tag"], "epoch/val_accuracy");
}

TEST(TensorBoard, TrainingLogsEveryTagAndAResumedRunNoStepTwice) {
  clear_stop_request();
  TempDir dir("tb-train");
  testing::write_synthetic_dataset(dir / "data", 3, 24, 64);
  auto doc = testing::tiny_train_document(dir / "data", 2);
  doc["train"]["test_at_end"] = true;
  train::TrainRequest request;
  request.config = config::make_train_config(doc);
  request.out_dir = dir / "run";
  auto interrupted = request;
  interrupted.hooks.on_step = [](int64_t epoch, int64_t step, double) {
    if (epoch == 1 && step == 1) request_stop();
  };
  EXPECT_THROW(train::run_training(interrupted), Interrupted);
  clear_stop_request();
  request.resume = true;
  auto result = train::run_training(request);

  auto files = event_files(dir / "run" / "tb");
  ASSERT_EQ(files.size(), 2u);  // one per process start
  std::set<std::pair<std::string, int64_t>> seen;
  std::map<std::string, std::set<int64_t>> steps;
  int64_t pngs = 0;
  for (const auto& file : files) {
    for (const auto& r : read_event_file(file)) {
      if (r.kind == "file_version") continue;
      EXPECT_TRUE(seen.emplace(r.tag, r.step).second) << r.tag << " step " << r.step << " twice";
      steps[r.tag].insert(r.step);
      if (r.kind == "image")
        pngs += !cv::imdecode(std::vector<uchar>(r.data.begin(), r.data.end()), cv::IMREAD_COLOR)
                     .empty();
    }
  }
  const int64_t per_epoch = static_cast<int64_t>(steps["train/loss"].size()) / 2;
  ASSERT_GT(per_epoch, 0);
  EXPECT_EQ(*steps["train/loss"].begin(), 1);
  EXPECT_EQ(*steps["train/loss"].rbegin(), 2 * per_epoch);
  EXPECT_EQ(steps["train/lr"], steps["train/loss"]);
  for (const char* tag : {"epoch/train_loss", "epoch/train_accuracy", "epoch/val_loss",
                          "epoch/val_accuracy", "epoch/images_per_second"})
    EXPECT_EQ(steps[tag], (std::set<int64_t>{1, 2})) << tag;
  EXPECT_EQ(steps["model/parameters"], (std::set<int64_t>{0}));
  EXPECT_EQ(steps["test/confusion"].size(), 1u);
  EXPECT_EQ(steps["test/grid"].size(), 1u);
  EXPECT_EQ(pngs, 2);
  ASSERT_TRUE(result.test_accuracy.has_value());
}

}  // namespace
}  // namespace garbage::report
