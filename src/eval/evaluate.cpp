#include "garbage/eval/evaluate.hpp"

#include <fstream>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "garbage/config/train_config.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/core/json_io.hpp"
#include "garbage/core/progress.hpp"
#include "garbage/core/runtime.hpp"
#include "garbage/data/loader.hpp"
#include "garbage/data/pipeline.hpp"
#include "garbage/engine/runner.hpp"
#include "garbage/eval/tta.hpp"
#include "garbage/loading/inference_model.hpp"
#include "garbage/models/classifier.hpp"
#include "garbage/report/plots.hpp"

namespace garbage::eval {

Evaluation evaluate(models::ClassifierImpl& model, data::BatchLoader& loader, int64_t num_classes,
                    const std::string& progress_label, const BatchObserver& observer,
                    engine::InferenceRunner* runner, const std::string& tta) {
  c10::InferenceMode guard;
  bool was_training = model.is_training();
  model.eval();
  Evaluation out;
  double loss_sum = 0;
  std::optional<ProgressBar> bar;
  if (!progress_label.empty()) bar.emplace(loader.batches_per_epoch(), progress_label, "batch");
  loader.start_epoch(0);
  const auto device = models::device_of(model);
  const Forward forward = [&](const torch::Tensor& x) {
    return runner ? runner->forward(x) : model.forward(x);
  };
  int64_t done = 0;
  while (auto batch = loader.next()) {
    auto images = batch->images.to(device);
    // As logits, the log of the averaged probabilities: the loss is their negative log-likelihood.
    auto logits =
        tta == "none" ? forward(images) : torch::log(tta_probabilities(forward, images, tta));
    if (observer) observer(images, logits);
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, batch->labels.to(device),
                    torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    auto pred = logits.argmax(1).cpu().contiguous();
    auto labels = batch->labels.contiguous();
    out.predictions.insert(out.predictions.end(), pred.data_ptr<int64_t>(),
                           pred.data_ptr<int64_t>() + pred.numel());
    out.targets.insert(out.targets.end(), labels.data_ptr<int64_t>(),
                       labels.data_ptr<int64_t>() + labels.numel());
    out.indices.insert(out.indices.end(), batch->indices.begin(), batch->indices.end());
    if (bar) bar->update(++done);
  }
  if (bar) bar->finish();
  model.train(was_training);
  out.metrics = compute_metrics(out.targets, out.predictions, num_classes, loss_sum);
  return out;
}

namespace {

/// Streams eval inputs and logits to raw float32 files plus a JSON description.
class TensorSaver {
 public:
  explicit TensorSaver(std::filesystem::path dir) : dir_(std::move(dir)) {}
  BatchObserver observer() {
    std::filesystem::create_directories(dir_);
    inputs_.open(dir_ / "inputs.bin", std::ios::binary | std::ios::trunc);
    logits_.open(dir_ / "logits.bin", std::ios::binary | std::ios::trunc);
    if (!inputs_ || !logits_) throw Error(dir_.string() + ": cannot write tensors there");
    return [this](const torch::Tensor& images, const torch::Tensor& logits) {
      append(inputs_, images);
      append(logits_, logits);
      input_shape_ = images.sizes().vec();
      count_ += images.size(0);
    };
  }
  void finish(const std::vector<int64_t>& targets, const std::vector<std::string>& classes) {
    inputs_.close();
    logits_.close();
    if (!inputs_ || !logits_) throw Error(dir_.string() + ": writing tensors failed");
    input_shape_[0] = count_;
    write_json_atomic(dir_ / "tensors.json",
                      {{"inputs", "inputs.bin"},
                       {"input_shape", input_shape_},
                       {"logits", "logits.bin"},
                       {"logits_shape", {count_, static_cast<int64_t>(classes.size())}},
                       {"dtype", "float32, little-endian, NCHW"},
                       {"labels", targets},
                       {"class_names", classes}});
  }

 private:
  static void append(std::ofstream& out, const torch::Tensor& t) {
    // Channels-last batches are written in NCHW order, the layout ONNX models take.
    auto c = t.to(torch::kCPU, torch::kFloat32).contiguous(torch::MemoryFormat::Contiguous);
    out.write(static_cast<const char*>(c.data_ptr()), c.numel() * sizeof(float));
  }
  std::filesystem::path dir_;
  std::ofstream inputs_, logits_;
  std::vector<int64_t> input_shape_;
  int64_t count_ = 0;
};

}  // namespace

EvalReport evaluate_checkpoint(const EvalRequest& request) {
  check_tta_mode(request.tta);
  int threads = configure_threads(request.threads);
  auto loaded = loading::load_inference_model(request.model);
  const bool standalone = loaded.standalone();
  auto& model = loaded.model;
  auto cfg = config::make_train_config(loaded.document);
  cfg.transform.resize = cfg.eval_resize;  // the test resolution (FixRes) when one is set
  cfg.dataset.root = config::resolve_data_root(request.data_root, cfg.dataset.root);
  cfg.dataset.subset = 1.0;  // a gate must see the whole split

  auto split = data::load_split(cfg.dataset, request.split, cfg.transform.resize, threads);
  // A bare weight file names no classes: the data set's, in its order, are the labels.
  if (standalone) {
    if (loaded.num_classes() != static_cast<int64_t>(split.cache->class_names.size()))
      throw DataError(loaded.source + ": the model has " + std::to_string(loaded.num_classes()) +
                      " classes but the data set " + cfg.dataset.root + " has " +
                      std::to_string(split.cache->class_names.size()));
    loaded.class_names = split.cache->class_names;
  }
  const auto& class_names = loaded.class_names;
  if (split.cache->class_names != class_names)
    throw DataError(cfg.dataset.root + ": the data set's classes do not match the checkpoint's (" +
                    std::to_string(split.cache->class_names.size()) + " vs " +
                    std::to_string(class_names.size()) + " classes)");

  engine::InferenceRunner runner(*model, loaded.model_name(),
                                 engine::parse_engine_choice(request.engine), threads);
  const bool native = runner.engine() == "native";  // it takes NCHW batches
  data::LoaderOptions lo;
  lo.batch_size = request.batch_size > 0 ? request.batch_size : cfg.eval_batch_size;
  lo.workers = cfg.loader.workers;
  lo.prefetch = cfg.loader.prefetch;
  lo.channels_last = cfg.loader.channels_last && !native;
  data::BatchLoader loader(split.cache, cfg.transform,
                           std::make_shared<data::SequentialSampler>(split.cache->size()), lo);
  if (lo.channels_last) models::convert_to_channels_last(*model);

  EvalReport report;
  report.class_names = class_names;
  TensorSaver saver(request.save_tensors);
  report.evaluation =
      evaluate(*model, loader, static_cast<int64_t>(class_names.size()),
               "eval " + data::to_string(request.split),
               request.save_tensors.empty() ? BatchObserver() : saver.observer(), &runner);
  if (!request.save_tensors.empty()) saver.finish(report.evaluation.targets, class_names);
  if (request.tta != "none")
    report.tta = evaluate(*model, loader, static_cast<int64_t>(class_names.size()),
                          "eval " + data::to_string(request.split) + " tta " + request.tta, {},
                          &runner, request.tta);
  report.paths = split.cache->paths;
  report.json = {{standalone ? "weights" : "checkpoint", loaded.source},
                 {"split", data::to_string(request.split)},
                 {"data_root", cfg.dataset.root},
                 {"model", loaded.document.at("model")},
                 {"epoch", standalone ? -1 : loaded.meta.value("epoch", -1)},
                 {"engine", runner.engine()},
                 {"weights_used", loaded.ema ? "ema" : "model"},
                 {"skipped_files", split.cache->bad_files + split.index.missing_files},
                 {"metrics", metrics_to_json(report.evaluation.metrics, class_names)}};
  if (report.tta)
    report.json["tta"] = {{"mode", request.tta},
                          {"metrics", metrics_to_json(report.tta->metrics, class_names)}};
  return report;
}

std::filesystem::path write_eval_report(const EvalReport& report,
                                        const std::filesystem::path& json_path) {
  if (json_path.has_parent_path()) std::filesystem::create_directories(json_path.parent_path());
  write_json_atomic(json_path, report.json);
  auto png = json_path;
  png.replace_extension(".confusion.png");
  report::write_confusion_png(png, report.evaluation.metrics.confusion, report.class_names,
                              report.json.value("split", std::string()) + " split");
  return png;
}

size_t write_eval_grid(const EvalReport& report, const std::filesystem::path& png_path,
                       uint64_t seed) {
  const auto& ev = report.evaluation;
  report::PredictionGridLayout layout;
  std::vector<report::PredictionSample> samples;
  for (size_t row : report::pick_grid_samples(ev.targets, layout.cells(), seed))
    samples.push_back({report.paths.at(ev.indices.at(row)), ev.targets[row], ev.predictions[row]});
  if (png_path.has_parent_path()) std::filesystem::create_directories(png_path.parent_path());
  return report::write_prediction_grid(png_path, samples, report.class_names, layout);
}

void enforce_min_accuracy(const Metrics& metrics, double min_accuracy) {
  if (metrics.accuracy < min_accuracy)
    throw Error(fmt::format("accuracy {:.4f} is below --min-accuracy {:.4f}", metrics.accuracy,
                            min_accuracy),
                ExitCode::gate_failed);
}

}  // namespace garbage::eval
