#pragma once
// ONNX export through the ONNX protobuf library: opset 17, dynamic batch axis, BatchNorm folded
// into the conv before it, input/output names and class labels in the metadata, checked with
// onnx::checker before it is written.

#include <filesystem>
#include <string>

namespace garbage::loading {
struct InferenceModel;
}

namespace garbage::exporting {

struct OnnxOptions {
  bool fp16 = false;    ///< weights and activations in half, float32 input/output (casts)
  bool fold_bn = true;  ///< fold BatchNorm into the preceding conv where there is one
  int opset = 17;
};

struct OnnxSummary {
  int64_t nodes = 0;
  int64_t initializers = 0;
  int64_t folded_batchnorms = 0;
  int64_t bytes = 0;
};

/// Writes `model` as ONNX to `path` (atomically). Throws Error naming the model or layer when it
/// cannot be exported.
OnnxSummary export_onnx(const loading::InferenceModel& model, const std::filesystem::path& path,
                        const OnnxOptions& options = {});

inline constexpr const char* kOnnxInputName = "input";
inline constexpr const char* kOnnxOutputName = "logits";

}  // namespace garbage::exporting
