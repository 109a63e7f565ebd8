#pragma once
// Why a model predicts what it does for one image: the first layer's feature maps, Grad-CAM
// (Selvaraju et al. 2017), guided backpropagation (Springenberg et al. 2015) and, for attention
// ResNets, the spatial attention map, written as PNGs over the original image.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/types.h>
#include <nlohmann/json.hpp>

#include "garbage/loading/inference_model.hpp"

namespace garbage::eval {

/// The maps for one preprocessed image, before any drawing.
struct Explanation {
  torch::Tensor probabilities;  ///< [classes], softmax of the logits
  int64_t predicted = 0;
  int64_t target = 0;         ///< the class Grad-CAM and the saliency explain
  torch::Tensor first_layer;  ///< [C, h, w] first conv block output
  torch::Tensor grad_cam;     ///< [h, w] at the last feature map's resolution; >= 0, max 1 (or 0)
  torch::Tensor guided;       ///< [3, S, S] guided-backprop gradient of the target logit
  torch::Tensor gradient;     ///< [3, S, S] plain gradient of the target logit (for comparison)
  torch::Tensor
      attention;  ///< [h, w] spatial attention in [0, 1]; undefined when the model has none
};

/// Runs `model` (put in eval mode) on `image` ([3, S, S], preprocessed) with autograd on.
/// `target` < 0 explains the predicted class; otherwise it must be a class index.
Explanation explain_tensor(models::ClassifierImpl& model, const torch::Tensor& image,
                           int64_t target = -1);

/// A class given as a label ("glass") or an index ("1"); throws ConfigError listing the labels.
int64_t resolve_class(const std::string& label_or_index, const std::vector<std::string>& names);

struct ExplainOptions {
  std::filesystem::path image;
  std::filesystem::path out_dir;
  std::string target_class;  ///< label or index; empty: the predicted class
};

struct ExplainResult {
  Explanation explanation;
  std::vector<std::filesystem::path> files;  ///< the PNGs written, then explain.json
  nlohmann::json json;                       ///< the content of explain.json
};

/// Writes into out_dir, each PNG at the original image's size except the feature-map grid
/// (one tile per channel at the map's resolution):
///   feature_maps.png     first conv block, each channel min-max normalised (viridis);
///   grad_cam.png         Grad-CAM (JET) blended over the image;
///   guided_backprop.png  guided-backprop saliency (grey is zero gradient);
///   attention.png        spatial attention (JET) over the image, for cbam and recyclenet;
///   explain.json         files, predicted and explained class with probabilities.
/// The model only sees the preprocessing's crop of the image: the maps cover that region and the
/// rest of the image is dimmed.
ExplainResult explain_image(loading::InferenceModel& model, const ExplainOptions& options);

}  // namespace garbage::eval
