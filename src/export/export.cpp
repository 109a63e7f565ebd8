#include "garbage/export/export.hpp"

#include <spdlog/spdlog.h>

#include "garbage/core/errors.hpp"
#include "garbage/core/json_io.hpp"
#include "garbage/export/onnx_export.hpp"
#include "garbage/export/weights_export.hpp"
#include "garbage/models/classifier.hpp"

namespace garbage::exporting {

const std::vector<std::string>& format_names() {
  static const std::vector<std::string> names = {"onnx", "onnx-fp16", "safetensors", "pth"};
  return names;
}

Format parse_format(const std::string& name) {
  const auto& names = format_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<Format>(i);
  std::string hint = nearest_key(name, names);
  throw ConfigError("unknown export format \"" + name + "\"" +
                    (hint.empty() ? "" : " (did you mean \"" + hint + "\"?)") +
                    "; choose one of onnx, onnx-fp16, safetensors, pth");
}

std::string to_string(Format format) {
  return format_names().at(static_cast<size_t>(format));
}

nlohmann::json ExportResult::to_json() const {
  nlohmann::json out = {{"format", to_string(format)},
                        {"output", output.string()},
                        {"source", source},
                        {"model", model},
                        {"class_names", class_names},
                        {"input_size", input_size},
                        {"bytes", bytes}};
  if (format == Format::onnx || format == Format::onnx_fp16) {
    out["opset"] = opset;
    out["nodes"] = nodes;
    out["initializers"] = initializers;
    out["folded_batchnorms"] = folded_batchnorms;
  } else {
    out["tensors"] = tensors;
  }
  return out;
}

ExportResult export_model(const ExportRequest& request) {
  if (request.output.empty()) throw ConfigError("export: --output is required");
  auto model = loading::load_inference_model(request.model);
  ExportResult out;
  out.format = request.format;
  out.output = request.output;
  out.source = model.source;
  out.model = model.model_name();
  out.class_names = model.class_names;
  out.input_size = model.input_size();
  switch (request.format) {
    case Format::onnx:
    case Format::onnx_fp16: {
      OnnxOptions options;
      options.fp16 = request.format == Format::onnx_fp16;
      options.fold_bn = request.fold_bn;
      auto summary = export_onnx(model, request.output, options);
      out.opset = options.opset;
      out.nodes = summary.nodes;
      out.initializers = summary.initializers;
      out.folded_batchnorms = summary.folded_batchnorms;
      out.bytes = summary.bytes;
      break;
    }
    case Format::safetensors:
    case Format::pth:
      if (request.format == Format::safetensors)
        export_safetensors(model, request.output);
      else
        export_pth(model, request.output);
      out.tensors = static_cast<int64_t>(model.model->named_parameters().size() +
                                         model.model->named_buffers().size());
      out.bytes = static_cast<int64_t>(std::filesystem::file_size(request.output));
      break;
  }
  return out;
}

}  // namespace garbage::exporting
