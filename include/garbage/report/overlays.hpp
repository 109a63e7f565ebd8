#pragma once
// Drawing for explain: maps over the original image, saliency, feature-map grids. Pure drawing:
// tensors and images in, images out.

#include <torch/types.h>
#include <opencv2/core.hpp>

#include "garbage/data/transform.hpp"

namespace garbage::report {

/// The part of the original image the model sees: the eval preprocessing resizes, then
/// center-crops; this maps the crop back to original pixel coordinates.
cv::Rect model_view_region(const cv::Mat& original, const data::TransformSpec& spec);

/// A 2-D float tensor as a CV_32F matrix (copied).
cv::Mat to_mat(const torch::Tensor& map);

/// Scaled to [0, 1]; all zeros when the map is constant.
cv::Mat min_max_normalised(const cv::Mat& m);

/// `map01` (values in [0, 1], any size) in the JET colormap, blended over `region` of the image;
/// the rest of the image is dimmed.
cv::Mat heat_overlay(const cv::Mat& bgr, const cv::Rect& region, const cv::Mat& map01);

/// Guided-backprop gradient as an image, the usual way: standardised, scaled to +-5 std around
/// mid-grey, so grey means no gradient.
cv::Mat saliency_image(const torch::Tensor& grad, const cv::Size& size, const cv::Rect& region);

/// One tile per channel of [C, h, w] maps, each min-max normalised, viridis, white gaps.
cv::Mat feature_grid(const torch::Tensor& maps);

}  // namespace garbage::report
