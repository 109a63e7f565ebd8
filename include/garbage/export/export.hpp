#pragma once
// `garbage export`: one entry point over every output format.

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "garbage/eval/inference.hpp"

namespace garbage::exporting {

enum class Format { onnx, onnx_fp16, safetensors, pth };

/// "onnx" | "onnx-fp16" | "safetensors" | "pth"; anything else throws ConfigError listing the choices.
Format parse_format(const std::string& name);
std::string to_string(Format format);
const std::vector<std::string>& format_names();

struct ExportRequest {
  eval::ModelSource model;
  Format format = Format::onnx;
  std::filesystem::path output;
  bool fold_bn = true;  ///< onnx: fold BatchNorm into the conv before it
};

/// Loads the model, writes it, and returns a description of what was written (format, path,
/// bytes, model, classes, and format-specific counts).
nlohmann::json export_model(const ExportRequest& request);

}  // namespace garbage::exporting
