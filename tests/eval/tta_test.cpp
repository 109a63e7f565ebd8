// Test-time augmentation by flip: the mean of the image's and its mirror's probabilities, so an
// image and its mirror get the same prediction.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../support/model_fixture.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/eval/tta.hpp"
#include "garbage/models/classifier.hpp"

namespace garbage::eval {
namespace {

TEST(Tta, FlipAveragesTheMirrorsProbabilitiesAndIsMirrorInvariant) {
  torch::manual_seed(4);
  auto model = testing::tiny_simple_cnn();
  model->eval();
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({5, 3, 16, 16});
  const auto plain = torch::softmax(model->forward(x), 1);
  const auto mirrored = torch::softmax(model->forward(x.flip({3})), 1);
  EXPECT_TRUE(torch::allclose(tta_probabilities(*model, x, "none"), plain));
  const auto flip = tta_probabilities(*model, x, "flip");
  EXPECT_TRUE(torch::allclose(flip, (plain + mirrored) / 2));
  EXPECT_TRUE(torch::allclose(flip.sum(1), torch::ones({5})));
  // A random model is not mirror-symmetric; its flip-TTA prediction is.
  EXPECT_FALSE(torch::allclose(plain, mirrored, 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(tta_probabilities(*model, x.flip({3}), "flip"), flip, 1e-5, 1e-6));
  EXPECT_THROW(tta_probabilities(*model, x, "rotate"), ConfigError);
}

}  // namespace
}  // namespace garbage::eval
