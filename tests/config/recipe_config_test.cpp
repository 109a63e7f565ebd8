// The issue-14 keys: defaults that change nothing, old documents that still load, and the
// FixRes test resolution with its SimpleCNN guard.

#include <gtest/gtest.h>

#include "garbage/config/train_config.hpp"
#include "garbage/core/errors.hpp"

namespace garbage::config {
namespace {

TEST(RecipeConfig, DocumentsWrittenBeforeTheNewKeysLoadWithThemOff) {
  // A checkpoint's document from before issue 14: no mixup, ema, class weights, schedule or
  // augmentation extras, and a model section without bn_momentum.
  json old = resolve_train_document({{"model", {{"name", "mobilenet_v3_small"}}}}, "old");
  for (const char* key : {"mixup", "ema", "class_weights"}) old["train"].erase(key);
  for (const char* key :
       {"per_step", "warmup_steps", "pct_start", "div_factor", "final_div_factor"})
    old["train"]["scheduler"].erase(key);
  old["train"]["optimizer"].erase("no_decay_norm_bias");
  old["augment"].erase("trivial_augment");
  old["augment"].erase("random_erasing_p");
  old["preprocess"].erase("test_resize");
  old["preprocess"].erase("test_crop");
  old["model"].erase("bn_momentum");
  old["model"].erase("bn_eps");
  const auto c = make_train_config(old);
  EXPECT_EQ(c.mixup.mixup_alpha, 0.0);
  EXPECT_EQ(c.mixup.cutmix_alpha, 0.0);
  EXPECT_EQ(c.ema.decay, 0.0);
  EXPECT_EQ(c.class_weights, "none");
  EXPECT_FALSE(c.scheduler.per_step);
  EXPECT_FALSE(c.optimizer.no_decay_norm_bias);
  EXPECT_FALSE(c.transform.augment.trivial_augment);
  EXPECT_EQ(c.eval_resize.size, c.transform.resize.size);
  EXPECT_DOUBLE_EQ(c.model["bn_momentum"].get<double>(), 0.01);  // the family's default
  // A resumed run compares documents after upgrading: nothing differs.
  EXPECT_EQ(upgrade_document(old),
            resolve_train_document({{"model", {{"name", "mobilenet_v3_small"}}}}, "new"));
}

TEST(RecipeConfig, NewKeysAreValidated) {
  auto error_of = [](const json& user) {
    try {
      resolve_train_document(user, "cfg");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error_of({{"train", {{"scheduler", {{"name", "onecycle"}, {"pct_start", 1.5}}}}}}), "");
  EXPECT_NE(error_of({{"train", {{"mixup", {{"prob", 2}}}}}}), "");
  EXPECT_NE(error_of({{"train", {{"class_weights", "inverse"}}}}), "");
  EXPECT_NE(error_of({{"train", {{"ema", {{"decay", 1.0}}}}}}), "");
  EXPECT_EQ(error_of({{"train", {{"ema", {{"decay", 0.999}}}, {"mixup", {{"cutmix_alpha", 1}}}}}}),
            "");
}

TEST(RecipeConfig, FixResEvaluatesAtTheTestResolution) {
  const auto doc = resolve_train_document(
      {{"model", {{"name", "resnet18"}}},
       {"preprocess", {{"resize", 160}, {"test_resize", 256}, {"test_crop", 224}}}},
      "fixres");
  const auto c = make_train_config(doc);
  EXPECT_EQ(c.transform.resize.output_size(), 160);  // training
  EXPECT_EQ(c.eval_resize.size, 256);
  EXPECT_EQ(c.eval_resize.output_size(), 224);
  EXPECT_EQ(transform_from_document(doc).resize.output_size(), 224);  // eval, predict, export
  // SimpleCNN's flatten layer fixes its input size.
  EXPECT_THROW(
      resolve_train_document(
          {{"model", {{"name", "simple_cnn"}}}, {"preprocess", {{"test_resize", 160}}}}, "fixres"),
      ConfigError);
  EXPECT_THROW(resolve_train_document({{"model", {{"name", "resnet18"}}},
                                       {"preprocess", {{"test_resize", 200}, {"test_crop", 224}}}},
                                      "fixres"),
               ConfigError);
}

}  // namespace
}  // namespace garbage::config
