#include "garbage/eval/tta.hpp"

#include <torch/torch.h>

#include "garbage/core/errors.hpp"
#include "garbage/models/classifier.hpp"

namespace garbage::eval {

void check_tta_mode(const std::string& mode) {
  if (mode != "none" && mode != "flip")
    throw ConfigError("--tta: unknown mode \"" + mode + "\" (none | flip)");
}

torch::Tensor tta_probabilities(const Forward& forward, const torch::Tensor& images,
                                const std::string& mode) {
  check_tta_mode(mode);
  auto probs = torch::softmax(forward(images), 1);
  if (mode == "flip") probs = (probs + torch::softmax(forward(images.flip({3})), 1)) / 2;
  return probs;
}

torch::Tensor tta_probabilities(models::ClassifierImpl& model, const torch::Tensor& images,
                                const std::string& mode) {
  return tta_probabilities([&](const torch::Tensor& x) { return model.forward(x); }, images, mode);
}

}  // namespace garbage::eval
