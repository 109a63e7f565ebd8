// predict: which files are collected, per-file errors, probabilities and top-k order, and the
// three output formats.

#include <algorithm>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../support/checkpoint_fixture.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/eval/predict.hpp"
#include "garbage/loading/inference_model.hpp"

namespace garbage::eval {
namespace {

namespace fs = std::filesystem;
using loading::InferenceModel;
using loading::load_inference_model;
using loading::ModelSource;
using testing::TempDir;

/// data/class_<c>/img_<i>.png (3 x 4 images of 40 px), plus a corrupt PNG, a text file and a
/// hidden folder that must be skipped.
void write_inputs(const fs::path& root) {
  testing::write_synthetic_dataset(root, 3, 4, 40);
  std::ofstream(root / "class_1" / "broken.png") << "not a png at all";
  std::ofstream(root / "notes.txt") << "ignored: not an image extension";
  fs::create_directories(root / ".cache");
  fs::copy_file(root / "class_0" / "img_0.png", root / ".cache" / "hidden.png");
}

TEST(CollectImageFiles, RecursiveSortedDeduplicatedAndExplicitFilesKept) {
  TempDir dir("predict-collect");
  write_inputs(dir / "data");
  auto files = collect_image_files({dir / "data"});
  ASSERT_EQ(files.size(), 13u);  // 12 images + broken.png; no .txt, nothing hidden
  EXPECT_TRUE(std::is_sorted(files.begin(), files.end()));
  EXPECT_EQ(files.front(), dir / "data" / "class_0" / "img_0.png");
  EXPECT_EQ(std::count(files.begin(), files.end(), dir / "data" / "class_1" / "broken.png"), 1);

  // Inputs keep their order; a file reached twice is listed once; a file named explicitly is
  // taken whatever its extension.
  auto mixed = collect_image_files({dir / "data" / "notes.txt", dir / "data" / "class_2",
                                    dir / "data" / "class_2" / "img_1.png"});
  ASSERT_EQ(mixed.size(), 5u);
  EXPECT_EQ(mixed[0], dir / "data" / "notes.txt");
  EXPECT_EQ(mixed[1], dir / "data" / "class_2" / "img_0.png");

  EXPECT_THROW(collect_image_files({dir / "missing"}), ConfigError);
  fs::create_directories(dir / "empty");
  EXPECT_THROW(collect_image_files({dir / "empty"}), ConfigError);
}

class Predict : public ::testing::Test {
 protected:
  void SetUp() override {
    write_inputs(dir_ / "data");
    testing::write_untrained_tiny_checkpoint(dir_ / "ck.pt", dir_ / "data",
                                             {"glass", "paper", "trash"});
    ModelSource source;
    source.checkpoint = dir_ / "ck.pt";
    model_ = load_inference_model(source);
  }
  TempDir dir_{"predict"};
  InferenceModel model_;
};

TEST_F(Predict, ClassifiesEveryReadableFileAndReportsTheBrokenOne) {
  auto files = collect_image_files({dir_ / "data"});
  PredictOptions options;
  options.top_k = 2;
  options.batch_size = 5;  // batches of mixed good and bad files
  auto predictions = predict_files(model_, files, options);
  ASSERT_EQ(predictions.size(), files.size());
  EXPECT_EQ(count_failed(predictions), 1u);
  for (size_t i = 0; i < files.size(); ++i) {
    const auto& p = predictions[i];
    SCOPED_TRACE(p.path);
    EXPECT_EQ(p.path, files[i].string());
    if (files[i].filename() == "broken.png") {
      EXPECT_FALSE(p.ok());
      EXPECT_NE(p.error.find("broken.png"), std::string::npos) << p.error;
      EXPECT_TRUE(p.top.empty());
      continue;
    }
    ASSERT_TRUE(p.ok()) << p.error;
    ASSERT_EQ(p.top.size(), 2u);
    EXPECT_GE(p.top[0].probability, p.top[1].probability);
    EXPECT_NE(p.top[0].label, p.top[1].label);
    for (const auto& t : p.top) {
      EXPECT_TRUE(t.label == "glass" || t.label == "paper" || t.label == "trash") << t.label;
      EXPECT_GT(t.probability, 0.0);
      EXPECT_LT(t.probability, 1.0);
    }
  }
}

TEST_F(Predict, ProbabilitiesSumToOneAndMatchOneImageAtATime) {
  std::vector<fs::path> files = {dir_ / "data" / "class_0" / "img_1.png",
                                 dir_ / "data" / "class_2" / "img_3.png"};
  PredictOptions all;
  all.top_k = 10;  // capped at the 3 classes
  all.batch_size = 2;
  auto batched = predict_files(model_, files, all);
  all.batch_size = 1;
  auto single = predict_files(model_, files, all);
  for (size_t i = 0; i < files.size(); ++i) {
    ASSERT_EQ(batched[i].top.size(), 3u);
    double sum = 0;
    for (const auto& t : batched[i].top) sum += t.probability;
    EXPECT_NEAR(sum, 1.0, 1e-5);
    for (size_t r = 0; r < 3; ++r) {
      EXPECT_EQ(batched[i].top[r].label, single[i].top[r].label);
      EXPECT_NEAR(batched[i].top[r].probability, single[i].top[r].probability, 1e-5);
    }
  }
}

TEST(PredictFormats, JsonCsvAndTable) {
  std::vector<FilePrediction> p(2);
  p[0].path = "a, \"b\".png";
  p[0].top = {{"paper", 0.75}, {"glass", 0.25}};
  p[1].path = "bad.jpg";
  p[1].error = "bad.jpg: cannot decode image";

  auto j = predictions_to_json(p);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["path"], "a, \"b\".png");
  EXPECT_EQ(j[0]["top"][0]["label"], "paper");
  EXPECT_DOUBLE_EQ(j[0]["top"][1]["probability"].get<double>(), 0.25);
  EXPECT_FALSE(j[0].contains("error"));
  EXPECT_EQ(j[1]["error"], "bad.jpg: cannot decode image");
  EXPECT_TRUE(j[1]["top"].empty());

  auto csv = format_predictions_csv(p);
  EXPECT_EQ(csv,
            "path,rank,label,probability,error\n"
            "\"a, \"\"b\"\".png\",1,paper,0.750000,\n"
            "\"a, \"\"b\"\".png\",2,glass,0.250000,\n"
            "bad.jpg,,,,bad.jpg: cannot decode image\n");

  auto table = format_predictions_table(p);
  EXPECT_NE(table.find("paper 75.0%  glass 25.0%"), std::string::npos) << table;
  EXPECT_NE(table.find("error: bad.jpg: cannot decode image"), std::string::npos) << table;
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 3);
}

}  // namespace
}  // namespace garbage::eval
