#include "garbage/eval/predict.hpp"

#include <algorithm>
#include <optional>
#include <set>

#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "garbage/core/errors.hpp"
#include "garbage/core/progress.hpp"
#include "garbage/data/dataset.hpp"
#include "garbage/data/image.hpp"
#include "garbage/engine/runner.hpp"
#include "garbage/eval/tta.hpp"
#include "garbage/loading/inference_model.hpp"
#include "garbage/models/classifier.hpp"

namespace garbage::eval {
namespace fs = std::filesystem;

namespace {

bool is_hidden(const fs::path& path) {
  const std::string name = path.filename().string();
  return !name.empty() && name[0] == '.';
}

std::vector<fs::path> images_under(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
  if (ec) throw DataError(dir.string() + ": cannot list folder: " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) throw DataError(dir.string() + ": cannot list folder: " + ec.message());
    if (is_hidden(it->path())) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() && data::is_image_file(it->path())) out.push_back(it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// The decoded, preprocessed images of files[begin, end); a file that fails leaves its tensor
/// undefined and its error in `errors`.
std::vector<torch::Tensor> load_batch(const std::vector<fs::path>& files, size_t begin, size_t end,
                                      const data::TransformSpec& spec,
                                      std::vector<std::string>& errors) {
  std::vector<torch::Tensor> images(end - begin);
  data::use_single_threaded_opencv();  // the decode threads use every core
  at::parallel_for(0, static_cast<int64_t>(images.size()), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      try {
        images[i] = loading::load_image_tensor(files[begin + i], spec);
      } catch (const std::exception& e) {
        errors[begin + i] = e.what();
      }
    }
  });
  return images;
}

std::vector<LabelProbability> top_labels(const torch::Tensor& probs, int64_t k,
                                         const std::vector<std::string>& class_names) {
  auto [values, indices] = probs.topk(k);
  std::vector<LabelProbability> top;
  for (int64_t j = 0; j < k; ++j) {
    auto c = indices[j].item<int64_t>();
    top.push_back({class_names.at(static_cast<size_t>(c)), values[j].item<double>()});
  }
  return top;
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::vector<fs::path> collect_image_files(const std::vector<fs::path>& inputs) {
  std::vector<fs::path> files;
  std::set<fs::path> seen;
  auto add = [&](const fs::path& file) {
    if (seen.insert(fs::weakly_canonical(file)).second) files.push_back(file);
  };
  for (const auto& input : inputs) {
    std::error_code ec;
    auto status = fs::status(input, ec);
    if (!fs::exists(status)) throw ConfigError(input.string() + ": no such file or folder");
    if (!fs::is_directory(status)) {
      add(input);  // named explicitly: tried whatever its extension
      continue;
    }
    auto found = images_under(input);
    if (found.empty()) spdlog::warn("{}: no image files in this folder", input.string());
    for (const auto& f : found) add(f);
  }
  if (files.empty()) throw ConfigError("no image files to classify");
  return files;
}

std::vector<FilePrediction> predict_files(const loading::InferenceModel& model,
                                          const std::vector<fs::path>& files,
                                          const PredictOptions& options) {
  const auto batch = static_cast<size_t>(std::max<int64_t>(1, options.batch_size));
  const int64_t k = std::clamp<int64_t>(options.top_k, 1, model.num_classes());
  std::vector<FilePrediction> out(files.size());
  std::vector<std::string> errors(files.size());
  std::optional<ProgressBar> bar;
  if (options.progress && files.size() > batch)
    bar.emplace(static_cast<int64_t>(files.size()), "predict", "img");

  engine::InferenceRunner runner(*model.model, model.model_name(),
                                 engine::parse_engine_choice(options.engine));
  spdlog::info("predict: {} engine", runner.engine());
  c10::InferenceMode guard;
  for (size_t begin = 0; begin < files.size(); begin += batch) {
    size_t end = std::min(files.size(), begin + batch);
    auto images = load_batch(files, begin, end, model.transform, errors);
    std::vector<torch::Tensor> ok;
    std::vector<size_t> rows;
    for (size_t i = 0; i < images.size(); ++i) {
      if (!images[i].defined()) continue;
      ok.push_back(images[i]);
      rows.push_back(begin + i);
    }
    if (!ok.empty()) {
      auto input = torch::stack(ok).to(models::device_of(*model.model));
      const Forward forward = [&](const torch::Tensor& x) { return runner.forward(x); };
      auto probs = tta_probabilities(forward, input, options.tta).to(torch::kCPU, torch::kFloat64);
      for (size_t r = 0; r < rows.size(); ++r)
        out[rows[r]].top = top_labels(probs[static_cast<int64_t>(r)], k, model.class_names);
    }
    if (bar) bar->update(static_cast<int64_t>(end));
  }
  if (bar) bar->finish();
  for (size_t i = 0; i < files.size(); ++i) {
    out[i].path = files[i].string();
    out[i].error = errors[i];
    if (!out[i].ok()) spdlog::warn("{}", errors[i]);
  }
  return out;
}

size_t count_failed(const std::vector<FilePrediction>& predictions) {
  return static_cast<size_t>(std::count_if(predictions.begin(), predictions.end(),
                                           [](const FilePrediction& p) { return !p.ok(); }));
}

nlohmann::json predictions_to_json(const std::vector<FilePrediction>& predictions) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : predictions) {
    nlohmann::json top = nlohmann::json::array();
    for (const auto& t : p.top) top.push_back({{"label", t.label}, {"probability", t.probability}});
    nlohmann::json row = {{"path", p.path}, {"top", top}};
    if (!p.ok()) row["error"] = p.error;
    out.push_back(std::move(row));
  }
  return out;
}

std::string format_predictions_csv(const std::vector<FilePrediction>& predictions) {
  std::string out = "path,rank,label,probability,error\n";
  for (const auto& p : predictions) {
    if (!p.ok()) {
      out += csv_field(p.path) + ",,,," + csv_field(p.error) + "\n";
      continue;
    }
    for (size_t r = 0; r < p.top.size(); ++r)
      out += fmt::format("{},{},{},{:.6f},\n", csv_field(p.path), r + 1, csv_field(p.top[r].label),
                         p.top[r].probability);
  }
  return out;
}

std::string format_predictions_table(const std::vector<FilePrediction>& predictions) {
  size_t width = 4;
  for (const auto& p : predictions) width = std::max(width, p.path.size());
  width = std::min<size_t>(width, 60);  // longer paths push their row out instead
  std::string out = fmt::format("{:<{}}  top predictions\n", "file", width);
  for (const auto& p : predictions) {
    out += fmt::format("{:<{}}", p.path, width);
    if (!p.ok()) out += "  error: " + p.error;
    for (const auto& t : p.top) out += fmt::format("  {} {:.1f}%", t.label, 100 * t.probability);
    out += "\n";
  }
  return out;
}

}  // namespace garbage::eval
