#pragma once
// Exporting a loaded model's weights for use outside garbage: safetensors with the model config,
// class names and preprocessing in its metadata, and a torch.save state_dict that PyTorch loads
// into the matching torchvision model. (`export` is a keyword, hence the namespace name.)

#include <filesystem>

#include <nlohmann/json.hpp>

#include "garbage/io/weights_file.hpp"

namespace garbage::data {
struct TransformSpec;
}
namespace garbage::loading {
struct InferenceModel;
}

namespace garbage::exporting {

/// What a consumer needs to feed the model: {"resize_mode", "resize", "crop", "input_size",
/// "mean", "std", "color": "RGB", "scale": 1/255}. Pixels are x * scale, then (x - mean) / std.
nlohmann::json preprocessing_json(const data::TransformSpec& spec);

/// The safetensors "__metadata__": "format" ("garbage"), and JSON texts under "model" (the
/// resolved model section), "class_names" and "preprocessing" (all values are strings, as the
/// format requires).
io::SafetensorsMetadata export_metadata(const loading::InferenceModel& m);

/// Writes every parameter and buffer of `m` (NCHW float32, num_batches_tracked int64) with
/// export_metadata(). Atomic: a temporary file beside `out` is renamed into place.
void export_safetensors(const loading::InferenceModel& m, const std::filesystem::path& out);

/// Writes the state_dict as torch.save would (zip format); for torchvision architectures the keys
/// are torchvision's, so `model.load_state_dict(torch.load(out))` works. Atomic.
void export_pth(const loading::InferenceModel& m, const std::filesystem::path& out);

}  // namespace garbage::exporting
