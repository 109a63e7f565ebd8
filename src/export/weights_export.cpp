#include "garbage/export/weights_export.hpp"

#include <array>
#include <functional>
#include <string>

#include <spdlog/spdlog.h>

#include "garbage/core/errors.hpp"
#include "garbage/io/to_torch.hpp"
#include "garbage/loading/inference_model.hpp"
#include "garbage/models/classifier.hpp"

namespace garbage::exporting {
namespace {

/// Runs `write(temp)` and renames the temporary file to `out`, so that `out` is never seen half
/// written; the temporary file is removed when writing fails.
void write_atomically(const std::filesystem::path& out,
                      const std::function<void(const std::filesystem::path&)>& write) {
  if (out.has_parent_path()) std::filesystem::create_directories(out.parent_path());
  auto tmp = out;
  tmp += ".tmp";
  try {
    write(tmp);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, out, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw Error(out.string() + ": cannot move the exported file into place: " + ec.message());
  }
}

io::StateDict model_tensors(const loading::InferenceModel& m) {
  if (!m.model) throw Error(m.source + ": no model to export");
  return io::module_state_dict(*m.model);
}

/// 0.485f as 0.485 rather than 0.48500001430511475: floats widened to double print their
/// binary expansion in JSON.
nlohmann::json decimal_floats(const std::array<float, 3>& values) {
  nlohmann::json out = nlohmann::json::array();
  for (float v : values) out.push_back(std::stod(fmt::format("{}", v)));
  return out;
}

void log_export(const io::StateDict& tensors, const std::filesystem::path& out) {
  spdlog::debug("exported {} tensors to {} ({} bytes)", tensors.size(), out.string(),
                std::filesystem::file_size(out));
}

}  // namespace

nlohmann::json preprocessing_json(const data::TransformSpec& spec) {
  const auto& r = spec.resize;
  return {{"resize_mode", r.mode == data::ResizeSpec::Mode::shorter ? "shorter" : "square"},
          {"resize", r.size},
          {"crop", r.crop},
          {"input_size", r.output_size()},
          {"mean", decimal_floats(spec.normalize.mean)},
          {"std", decimal_floats(spec.normalize.std)},
          {"color", "RGB"},
          {"scale", 1.0 / 255.0}};
}

io::SafetensorsMetadata export_metadata(const loading::InferenceModel& m) {
  return {{"format", "garbage"},
          {"model", m.document.at("model").dump()},
          {"class_names", nlohmann::json(m.class_names).dump()},
          {"preprocessing", preprocessing_json(m.transform).dump()}};
}

void export_safetensors(const loading::InferenceModel& m, const std::filesystem::path& out) {
  auto tensors = model_tensors(m);
  auto metadata = export_metadata(m);
  write_atomically(out, [&](const std::filesystem::path& tmp) {
    io::write_safetensors(tmp, tensors, metadata);
  });
  log_export(tensors, out);
}

void export_pth(const loading::InferenceModel& m, const std::filesystem::path& out) {
  auto tensors = model_tensors(m);
  write_atomically(out, [&](const std::filesystem::path& tmp) { io::write_pth(tmp, tensors); });
  log_export(tensors, out);
}

}  // namespace garbage::exporting
