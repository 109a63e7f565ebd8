#pragma once
// `garbage export`: one entry point over every output format.

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "garbage/loading/inference_model.hpp"

namespace garbage::exporting {

enum class Format { onnx, onnx_fp16, safetensors, pth };

/// "onnx" | "onnx-fp16" | "safetensors" | "pth"; anything else throws ConfigError listing the
/// choices.
Format parse_format(const std::string& name);
std::string to_string(Format format);
const std::vector<std::string>& format_names();

struct ExportRequest {
  loading::ModelSource model;
  Format format = Format::onnx;
  std::filesystem::path output;
  bool fold_bn = true;  ///< onnx: fold BatchNorm into the conv before it
};

/// What export_model wrote.
struct ExportResult {
  Format format = Format::onnx;
  std::filesystem::path output;
  std::string source;  ///< the checkpoint or weight file (or model name) it came from
  std::string model;   ///< registry name
  std::vector<std::string> class_names;
  int input_size = 0;
  int64_t bytes = 0;
  int64_t tensors = 0;  ///< safetensors, pth: parameters and buffers written
  // onnx only
  int64_t opset = 0, nodes = 0, initializers = 0, folded_batchnorms = 0;

  /// {"format", "output", "source", "model", "class_names", "input_size", "bytes", and "tensors"
  /// or "opset", "nodes", "initializers", "folded_batchnorms"}.
  nlohmann::json to_json() const;
};

/// Loads the model and writes it in the requested format.
ExportResult export_model(const ExportRequest& request);

}  // namespace garbage::exporting
