#include "garbage/train/trainer.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <numeric>
#include <thread>

#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "garbage/core/device.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/core/interrupt.hpp"
#include "garbage/core/json_io.hpp"
#include "garbage/core/progress.hpp"
#include "garbage/core/runtime.hpp"
#include "garbage/data/loader.hpp"
#include "garbage/data/pipeline.hpp"
#include "garbage/engine/runner.hpp"
#include "garbage/eval/evaluate.hpp"
#include "garbage/kernels/fused.hpp"
#include "garbage/loading/checkpoint.hpp"
#include "garbage/models/classifier.hpp"
#include "garbage/models/pretrained.hpp"
#include "garbage/report/plots.hpp"
#include "garbage/train/collective.hpp"
#include "garbage/train/ema.hpp"
#include "garbage/train/mixup.hpp"
#include "garbage/train/optimizer.hpp"
#include "garbage/train/profile.hpp"
#include "garbage/train/replicas.hpp"
#include "garbage/train/schedule.hpp"
#include "garbage/train/tensorboard_log.hpp"

namespace garbage::train {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

/// Everything the loop needs to continue exactly where it stopped.
struct LoopState {
  int64_t epoch = 0;  // 0-based epoch in progress
  int64_t step = 0;   // batches of `epoch` already trained
  double loss_sum = 0;
  int64_t correct = 0, seen = 0;
  double train_seconds = 0;
  std::vector<EpochMetrics> history;
  double best_metric = NAN;
  int64_t best_epoch = 0;
  int64_t bad_epochs = 0;
  bool finished = false;
  bool early_stopped = false;

  json to_json() const {
    json h = json::array();
    for (const auto& m : history) h.push_back(m.to_json());
    return {{"epoch", epoch},
            {"step_in_epoch", step},
            {"loss_sum", loss_sum},
            {"correct", correct},
            {"seen", seen},
            {"train_seconds", train_seconds},
            {"history", h},
            {"best_metric", std::isnan(best_metric) ? json(nullptr) : json(best_metric)},
            {"best_epoch", best_epoch},
            {"bad_epochs", bad_epochs},
            {"finished", finished},
            {"early_stopped", early_stopped}};
  }
  static LoopState from_json(const json& j) {
    LoopState s;
    s.epoch = j.at("epoch");
    s.step = j.at("step_in_epoch");
    s.loss_sum = j.at("loss_sum");
    s.correct = j.at("correct");
    s.seen = j.at("seen");
    s.train_seconds = j.at("train_seconds");
    for (const auto& m : j.at("history")) s.history.push_back(EpochMetrics::from_json(m));
    s.best_metric = j.at("best_metric").is_null() ? NAN : j.at("best_metric").get<double>();
    s.best_epoch = j.at("best_epoch");
    s.bad_epochs = j.at("bad_epochs");
    s.finished = j.at("finished");
    s.early_stopped = j.at("early_stopped");
    return s;
  }
};

/// Adds a log file in the run folder for the lifetime of the object.
class RunLog {
 public:
  explicit RunLog(const fs::path& file) {
    sink_ = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file.string());
    sink_->set_pattern("[%Y-%m-%d %H:%M:%S] %l %v");
    spdlog::default_logger()->sinks().push_back(sink_);
  }
  ~RunLog() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }

 private:
  spdlog::sink_ptr sink_;
};

fs::path choose_run_dir(const TrainRequest& req) {
  if (req.resume) {
    if (!fs::exists(req.out_dir / "last.pt"))
      throw ConfigError("--resume: " + (req.out_dir / "last.pt").string() + " does not exist");
    return req.out_dir;
  }
  if (!fs::exists(req.out_dir / "last.pt")) return req.out_dir;
  throw ConfigError(req.out_dir.string() +
                    " already holds a run: pass --resume to continue it or choose another --out");
}

/// Keys whose change does not alter the training trajectory.
bool resume_may_differ(const std::string& path) {
  return path == "/train/epochs" || path == "/data/root" || path == "/data/workers" ||
         path == "/data/prefetch" || path == "/train/test_at_end" ||
         path == "/train/eval_batch_size" || path == "/train/eval_engine";
}

/// The processes that wrote a checkpoint (1 before data-parallel training existed).
int saved_world_size(const json& meta) {
  return meta.value("world_size", 1);
}

/// A run may resume with another number of processes; train.batch_size (per process) may then
/// change with it, as long as the global batch stays the same.
bool same_global_batch(const json& stored, int stored_world, const json& requested, int world) {
  return stored.at("train").at("batch_size").get<int64_t>() * stored_world ==
         requested.at("train").at("batch_size").get<int64_t>() * world;
}

void check_resume_compatible(const json& meta, const json& requested, int world,
                             const fs::path& ckpt) {
  const auto stored = config::upgrade_document(meta.at("config"));
  for (const auto& op : json::diff(stored, requested)) {
    std::string path = op.at("path");
    if (path == "/train/batch_size" &&
        same_global_batch(stored, saved_world_size(meta), requested, world))
      continue;
    if (path == "/train/fused_kernels" || path == "/train/micro_batches") {
      spdlog::warn("resuming with train.{} changed: results may differ in the last bits",
                   path.substr(std::string("/train/").size()));
      continue;
    }
    if (path == "/threads") {
      spdlog::warn("resuming with a different thread count: results may differ in the last bits");
      continue;
    }
    if (!resume_may_differ(path))
      throw ConfigError(ckpt.string() + ": the config differs from the run being resumed at " +
                        path + " (only train.epochs and data locations may change)");
  }
}

bool has_ema_metrics(const std::vector<EpochMetrics>& history) {
  return !history.empty() && !std::isnan(history.front().ema_val_accuracy);
}

void write_metrics_csv(const fs::path& path, const std::vector<EpochMetrics>& history) {
  const bool ema = has_ema_metrics(history);
  std::string text =
      "epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy,train_img_per_s,seconds";
  text += ema ? ",ema_val_loss,ema_val_accuracy\n" : "\n";
  for (const auto& m : history) {
    text += fmt::format("{},{:.6g},{:.6f},{:.6f},{:.6f},{:.6f},{:.2f},{:.2f}", m.epoch, m.lr,
                        m.train_loss, m.train_accuracy, m.val_loss, m.val_accuracy,
                        m.train_images_per_second, m.seconds);
    text += ema ? fmt::format(",{:.6f},{:.6f}\n", m.ema_val_loss, m.ema_val_accuracy) : "\n";
  }
  write_text_atomic(path, text);
}

// With train.ema the best epoch follows the EMA's validation metric, so the curves show it too.
void write_curves(const fs::path& dir, const std::vector<EpochMetrics>& history) {
  report::Series train_loss{"train", {}}, val_loss{"val", {}}, train_acc{"train", {}},
      val_acc{"val", {}}, ema_loss{"val EMA", {}}, ema_acc{"val EMA", {}};
  for (const auto& m : history) {
    train_loss.values.push_back(m.train_loss);
    val_loss.values.push_back(m.val_loss);
    train_acc.values.push_back(m.train_accuracy);
    val_acc.values.push_back(m.val_accuracy);
    ema_loss.values.push_back(m.ema_val_loss);
    ema_acc.values.push_back(m.ema_val_accuracy);
  }
  std::vector<report::Series> losses{train_loss, val_loss}, accuracies{train_acc, val_acc};
  if (has_ema_metrics(history)) {
    losses.push_back(ema_loss);
    accuracies.push_back(ema_acc);
  }
  report::write_line_chart_png(dir / "loss.png", losses, "loss", "cross-entropy");
  report::write_line_chart_png(dir / "accuracy.png", accuracies, "accuracy", "accuracy");
}

bool improved(const config::EarlyStoppingConfig& es, double value, double best) {
  if (std::isnan(best)) return true;
  return es.metric == "val_loss" ? value < best - es.min_delta : value > best + es.min_delta;
}

void set_torch_rng(const torch::Tensor& state) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

torch::Tensor torch_rng_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

class Trainer {
 public:
  explicit Trainer(const TrainRequest& req) : req_(req), cfg_(req.config) {
    collective_ = req.collective ? req.collective : std::make_shared<LocalCollective>();
  }

  TrainResult run() {
    const bool main = collective_->is_main();
    run_dir_ = choose_run_dir(req_);
    if (main) fs::create_directories(run_dir_);
    std::optional<RunLog> log;
    if (req_.log_file && main) log.emplace(run_dir_ / "train.log");
    threads_ = configure_threads(thread_count());
    cfg_.dataset.root = config::resolve_data_root(req_.data_root, cfg_.dataset.root);
    spdlog::info("run folder {}; {} threads; data {}", run_dir_.string(), threads_,
                 cfg_.dataset.root);
    if (collective_->world_size() > 1)
      spdlog::info("data-parallel: {} processes x batch {} = global batch {}",
                   collective_->world_size(), cfg_.batch_size,
                   collective_->world_size() * cfg_.batch_size);

    if (req_.resume) resume_from_ = resume_checkpoint();
    // A missing weight file should stop the run before minutes of image decoding.
    if (resume_from_.empty()) models::configured_weights_file(cfg_.model);
    load_data();
    build_model();
    if (!resume_from_.empty()) restore(resume_from_);
    synchronise_weights();
    if (main) write_json_atomic(run_dir_ / "config.json", cfg_.resolved);
    open_tensorboard();

    train_loop();
    return finish();
  }

 private:
  void load_data() {
    train_ = data::load_split(cfg_.dataset, data::Split::train, cfg_.transform.resize, threads_);
    val_ = data::load_split(cfg_.dataset, data::Split::val, cfg_.eval_resize, threads_);
    class_names_ = train_.cache->class_names;
    if (val_.cache->class_names != class_names_)
      throw DataError(cfg_.dataset.root + ": train and val splits have different classes");

    data::LoaderOptions train_opts;
    train_opts.batch_size = cfg_.batch_size;
    train_opts.train = true;
    train_opts.workers = cfg_.loader.workers;
    train_opts.prefetch = cfg_.loader.prefetch;
    train_opts.seed = cfg_.seed;
    train_opts.channels_last = cfg_.loader.channels_last;
    auto sampler = std::make_shared<data::ShuffleSampler>(
        train_.cache->size(), cfg_.seed, collective_->rank(), collective_->world_size());
    train_loader_ =
        std::make_unique<data::BatchLoader>(train_.cache, cfg_.transform, sampler, train_opts);
    data::LoaderOptions eval_options = train_opts;
    eval_options.train = false;
    eval_options.batch_size = cfg_.eval_batch_size;
    auto eval_transform = cfg_.transform;  // at the test resolution (FixRes) when one is set
    eval_transform.resize = cfg_.eval_resize;
    val_loader_ = std::make_unique<data::BatchLoader>(
        val_.cache, eval_transform,
        std::make_shared<data::SequentialSampler>(val_.cache->size(), collective_->rank(),
                                                  collective_->world_size()),
        eval_options);
  }

  void build_model() {
    auto& model_cfg = cfg_.resolved["model"];
    if (model_cfg.contains("num_classes") &&
        model_cfg["num_classes"].get<size_t>() != class_names_.size()) {
      spdlog::info("model.num_classes set to {} to match the data set's classes",
                   class_names_.size());
      model_cfg["num_classes"] = class_names_.size();
    }
    cfg_.model = model_cfg;
    torch::manual_seed(cfg_.seed);
    model_ = models::create_model(model_cfg);
    // A resumed run restores every weight from its checkpoint; the pretrained file is not needed.
    if (resume_from_.empty()) models::apply_weights_config(*model_, model_cfg);
    if (cfg_.loader.channels_last) models::convert_to_channels_last(*model_);
    device_ = resolve_device(cfg_.device, "train.device");
    if (!device_.is_cpu() && collective_->world_size() > 1)
      throw ConfigError("train.device: \"" + cfg_.device +
                            "\": data-parallel training runs on the CPU (Gloo); NCCL for GPUs "
                            "is not supported yet",
                        "train.device");
    model_->to(device_);
    if (!device_.is_cpu()) spdlog::info("training on {}", device_.str());
    std::vector<ParamGroup> groups;
    for (auto& g : model_->parameter_groups()) {
      if (g.params.empty()) continue;
      int64_t n = 0;
      for (const auto& p : g.params) n += p.numel();
      spdlog::info("parameter group {}: {} parameters at {} x lr", g.name, n, g.lr_factor);
      groups.push_back({std::move(g.params), g.lr_factor});
    }
    optimizer_ = make_optimizer(cfg_.optimizer, std::move(groups));
    if (cfg_.ema.decay > 0) {
      ema_ = models::create_model(model_cfg);
      if (cfg_.loader.channels_last) models::convert_to_channels_last(*ema_);
      ema_->to(device_);
      copy_weights(*ema_, *model_);
    }
    if (cfg_.class_weights == "balanced")
      class_weights_ = torch::tensor(
          balanced_class_weights(train_.cache->labels, static_cast<int64_t>(class_names_.size())),
          torch::TensorOptions(torch::kFloat).device(device_));
    spdlog::info("model {}: {} trainable of {} parameters", model_cfg["name"].get<std::string>(),
                 models::count_parameters(*model_, true), models::count_parameters(*model_, false));
    if (const int parts = micro_batch_count(); parts > 1) {
      replicas_ = std::make_unique<ReplicaPool>(parts);
      spdlog::info(
          "training step: {} micro-batches of ~{} images at once, one thread each "
          "(train.micro_batches)",
          parts, cfg_.batch_size / parts);
    }
  }

  /// train.micro_batches resolved: 0 is the thread count where the step can be split exactly
  /// (one CPU process, fused kernels for the synchronised BatchNorm), with at least 4 images per
  /// part; an explicit count > 1 that cannot run is a ConfigError. The default is 1: once freed
  /// memory is kept (retain_freed_memory), one batch on all threads measured faster for every
  /// shipped model (ResNet18 71 vs 60 img/s, SimpleCNN 31 vs 17, MobileNetV3-Small 82 vs 77).
  int micro_batch_count() const {
    const int asked = cfg_.micro_batches;
    if (asked == 1) return 1;
    const bool possible = device_.is_cpu() && collective_->world_size() == 1 && cfg_.fused_kernels;
    if (asked == 0) {
      if (!possible) return 1;
      const auto parts = std::min<int64_t>(threads_, cfg_.batch_size / 4);
      return parts >= 2 ? static_cast<int>(parts) : 1;
    }
    if (!possible)
      throw ConfigError(fmt::format("train.micro_batches: {} needs a single-process CPU run with "
                                    "train.fused_kernels on (use 1 or 0 for auto)",
                                    asked),
                        "train.micro_batches");
    if (asked > cfg_.batch_size)
      throw ConfigError(fmt::format("train.micro_batches: {} is more than train.batch_size {}",
                                    asked, cfg_.batch_size),
                        "train.micro_batches");
    return asked;
  }

  void open_tensorboard() {
    if (!cfg_.tensorboard || !collective_->is_main()) return;
    tb_ = std::make_unique<TensorBoardLog>(run_dir_ / "tb");
    tb_->text("model/parameters",
              fmt::format("{}: {} parameters, {} trainable", cfg_.model["name"].get<std::string>(),
                          models::count_parameters(*model_, false),
                          models::count_parameters(*model_, true)));
    tb_->flush();
  }

  /// Threads per process: train.threads, or the cores shared among this host's processes.
  int thread_count() const {
    if (cfg_.threads > 0 || collective_->local_world_size() == 1) return cfg_.threads;
    const int cores = static_cast<int>(std::thread::hardware_concurrency());
    return std::max(1, cores / collective_->local_world_size());
  }

  /// The checkpoint --resume continues from: last.pt, unless it stopped mid-epoch with another
  /// number of processes (each rank's share of the epoch would differ): then the last finished
  /// epoch (last_epoch.pt), or the start when none finished.
  fs::path resume_checkpoint() const {
    auto last = run_dir_ / "last.pt";
    const auto meta = loading::read_checkpoint_meta(last);
    const int saved_world = saved_world_size(meta);
    if (saved_world == collective_->world_size() ||
        meta.at("loop").at("step_in_epoch").get<int64_t>() == 0)
      return last;
    auto epoch_end = run_dir_ / "last_epoch.pt";
    if (fs::exists(epoch_end)) {
      spdlog::warn(
          "{} stopped mid-epoch with {} processes and this run has {}: resuming from the last "
          "finished epoch ({}); the partial epoch is trained again",
          last.string(), saved_world, collective_->world_size(), epoch_end.string());
      return epoch_end;
    }
    spdlog::warn(
        "{} stopped in the first epoch with {} processes and this run has {}: no epoch finished, "
        "so training starts again from the beginning",
        last.string(), saved_world, collective_->world_size());
    return {};
  }

  /// The model's (and the EMA copy's) parameters and/or buffers.
  std::vector<torch::Tensor> model_tensors(bool parameters, bool buffers) const {
    std::vector<torch::Tensor> tensors;
    for (auto* model : {model_.get(), ema_.get()}) {
      if (!model) continue;
      if (parameters)
        for (auto& p : model->parameters()) tensors.push_back(p);
      if (buffers)
        for (auto& b : model->buffers()) tensors.push_back(b);
    }
    return tensors;
  }

  /// Rank 0's weights everywhere: identical starting points, whatever each rank initialised.
  void synchronise_weights() {
    if (collective_->world_size() > 1) collective_->broadcast(model_tensors(true, true));
  }

  /// Running statistics differ per rank (each normalises its own batches); validation and
  /// checkpoints use rank 0's, as DistributedDataParallel's buffer broadcast does. Needed after
  /// training steps only: before validation and before a mid-epoch checkpoint.
  void synchronise_buffers() {
    if (collective_->world_size() > 1) collective_->broadcast(model_tensors(false, true));
  }

  void restore(const fs::path& ckpt) {
    auto loaded = loading::load_checkpoint(ckpt);
    check_resume_compatible(loaded.state.meta, cfg_.resolved, collective_->world_size(), ckpt);
    torch::NoGradGuard no_grad;
    auto src = loaded.model->named_parameters();
    for (auto& p : model_->named_parameters()) p.value().copy_(src[p.key()]);
    auto src_buffers = loaded.model->named_buffers();
    for (auto& b : model_->named_buffers()) b.value().copy_(src_buffers[b.key()]);
    loading::load_optimizer_state(ckpt, *optimizer_->optimizer, device_);
    if (ema_) copy_weights(*ema_, loaded.state.ema ? *loaded.state.ema : *loaded.model);
    state_ = LoopState::from_json(loaded.state.meta.at("loop"));
    // The partial sums of an interrupted epoch are global: rank 0 carries them on.
    if (!collective_->is_main()) {
      state_.loss_sum = 0;
      state_.correct = state_.seen = 0;
    }
    resume_rng_ = loaded.state.rng_state;
    if (resume_rng_.defined() && resume_rng_.dim() == 2)  // one row per rank
      resume_rng_ = resume_rng_[collective_->rank()].clone();
    if (state_.finished && state_.epoch < cfg_.epochs && !state_.early_stopped)
      state_.finished = false;  // more epochs were asked for
    spdlog::info("resuming {} at epoch {} step {}", ckpt.string(), state_.epoch + 1, state_.step);
  }

  json checkpoint_meta() const {
    return {{"config", cfg_.resolved},
            {"class_names", class_names_},
            {"preprocess", cfg_.resolved["preprocess"]},
            {"epoch", state_.history.empty() ? 0 : state_.history.back().epoch},
            {"loop", state_.to_json()},
            {"world_size", collective_->world_size()},
            {"metrics", state_.history.empty() ? json(nullptr) : state_.history.back().to_json()}};
  }

  /// Every rank's random state, one row per rank when there are several.
  torch::Tensor rng_states() {
    auto mine = torch_rng_state();
    if (collective_->world_size() == 1) return mine;
    return torch::stack(collective_->all_gather(mine));
  }

  /// Collective (every rank calls it at the same point); rank 0 writes. The buffers must be
  /// synchronised since the last training step (end_epoch and save_interrupted do it).
  void save(const std::string& name) {
    auto rng = rng_states();
    if (!collective_->is_main()) return;
    loading::save_checkpoint(run_dir_ / name, *model_, optimizer_->optimizer.get(),
                             {checkpoint_meta(), rng, ema_});
  }

  /// Ctrl-C: the epoch's partial sums summed over ranks, and the end of the last finished epoch
  /// kept as last_epoch.pt, so that a resume with another number of processes can start there.
  void save_interrupted() {
    std::vector<double> sums = {state_.loss_sum, static_cast<double>(state_.correct),
                                static_cast<double>(state_.seen)};
    collective_->sum(sums);
    state_.loss_sum = sums[0];
    state_.correct = static_cast<int64_t>(sums[1]);
    state_.seen = static_cast<int64_t>(sums[2]);
    const auto last = run_dir_ / "last.pt";
    if (collective_->is_main() && fs::exists(last) &&
        loading::read_checkpoint_meta(last).at("loop").at("step_in_epoch").get<int64_t>() == 0)
      fs::rename(last, run_dir_ / "last_epoch.pt");
    synchronise_buffers();
    save("last.pt");
  }

  void train_loop() {
    while (!state_.finished && state_.epoch < cfg_.epochs) {
      train_epoch();
      end_epoch();
    }
    state_.finished = true;
    save("last.pt");
  }

  void train_epoch() {
    double lr = scheduled_lr(cfg_.optimizer, cfg_.scheduler, state_.epoch, cfg_.epochs);
    optimizer_->set_lr(lr);
    if (state_.step == 0) {
      auto seed = mix_seed(cfg_.seed, static_cast<unsigned long long>(state_.epoch));
      // Dropout masks differ between ranks as between the samples of one large batch.
      if (collective_->rank() > 0) seed = mix_seed(seed, collective_->rank());
      torch::manual_seed(seed);
    } else if (resume_rng_.defined()) {
      set_torch_rng(resume_rng_);
    }
    resume_rng_ = torch::Tensor();
    model_->train();
    train_loader_->start_epoch(state_.epoch, state_.step);
    ProgressBar bar(train_loader_->batches_per_epoch(),
                    fmt::format("epoch {}/{}", state_.epoch + 1, cfg_.epochs), "batch",
                    state_.step);
    std::vector<torch::Tensor> params;  // frozen parameters never get gradients
    for (const auto& p : model_->parameters())
      if (p.requires_grad()) params.push_back(p);
    if (collective_->world_size() > 1) collective_->watch_gradients(params);
    // Models run their BatchNorm + activation pairs and activations as fused kernels.
    kernels::FusedScope fused(cfg_.fused_kernels);
    std::optional<kernels::SyncBatchNormScope> sync_bn;
    if (cfg_.sync_bn && collective_->world_size() > 1)
      sync_bn.emplace([this](std::vector<double>& sums) { collective_->sum(sums); });
    // --profile: phase times of every step but the first (warm-up), and in the first epoch
    // libtorch's operator profile of a few steps after it.
    using Phase = StepProfiler::Phase;
    StepProfiler profiler(req_.profile, state_.history.empty());
    auto started = Clock::now();
    while (auto batch = train_loader_->next()) {
      profiler.mark(Phase::data);
      optimizer_->set_lr(scheduled_lr_at(cfg_.optimizer, cfg_.scheduler, state_.epoch, state_.step,
                                         train_loader_->batches_per_epoch(), cfg_.epochs));
      for (auto& p : params) p.mutable_grad() = torch::Tensor();  // cheaper than zero-filling
      auto images = batch->images.to(device_), labels = batch->labels.to(device_);
      const auto mixed =
          mix_batch(images, labels, static_cast<int64_t>(class_names_.size()), cfg_.mixup,
                    cfg_.label_smoothing, mix_step_seed(cfg_.seed, state_.epoch, state_.step));
      torch::Tensor logits;
      double batch_loss = 0;
      if (replicas_) {
        std::tie(logits, batch_loss) = replicated_step(labels, mixed, params, profiler);
      } else {
        logits = model_->forward(mixed.images);
        auto loss = training_loss(logits, labels, mixed, cfg_.label_smoothing, class_weights_);
        profiler.mark(Phase::forward);
        loss.backward();
        profiler.mark(Phase::backward);
        batch_loss = loss.item<double>();
      }
      collective_->average_gradients(params);
      profiler.mark(Phase::sync);
      optimizer_->optimizer->step();
      if (ema_)
        ema_update(*ema_, *model_,
                   ema_decay_at(cfg_.ema.decay, cfg_.ema.warmup,
                                state_.epoch * train_loader_->batches_per_epoch() + state_.step));
      profiler.mark(Phase::optimizer);

      if (!std::isfinite(batch_loss))
        throw Error(fmt::format("training diverged: loss is {} at epoch {} step {}", batch_loss,
                                state_.epoch + 1, state_.step + 1));
      int64_t n = batch->labels.size(0);
      state_.loss_sum += batch_loss * n;
      state_.correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
      state_.seen += n;
      ++state_.step;
      const int64_t global_step = state_.epoch * train_loader_->batches_per_epoch() + state_.step;
      collective_->mark_progress(global_step);
      if (tb_) tb_->step(global_step, batch_loss, optimizer_->lr());
      if (req_.hooks.on_step) req_.hooks.on_step(state_.epoch, state_.step - 1, batch_loss);
      bar.update(state_.step, fmt::format("loss {:.4f} acc {:.3f}", state_.loss_sum / state_.seen,
                                          static_cast<double>(state_.correct) / state_.seen));
      profiler.mark(Phase::other);
      if (collective_->any(stop_requested())) {
        state_.train_seconds += seconds_since(started);
        save_interrupted();
        throw Interrupted("interrupted: state saved to " + (run_dir_ / "last.pt").string() +
                          "; continue with --resume --out " + run_dir_.string());
      }
    }
    state_.train_seconds += seconds_since(started);
    bar.finish(fmt::format("loss {:.4f}", state_.seen ? state_.loss_sum / state_.seen : 0.0));
    if (req_.profile) {
      spdlog::info("epoch {} (fused kernels {}, {} loops, {} micro-batch(es) at once): {}",
                   state_.epoch + 1, cfg_.fused_kernels ? "on" : "off", kernels::isa(),
                   replicas_ ? replicas_->size() : 1, profiler.report());
    }
  }

  /// Loss weight of a part of the batch: its share of the normaliser training_loss divides by
  /// (the sample count, or the samples' class weights), so the parts' losses add up to the
  /// whole batch's.
  double loss_normaliser(const torch::Tensor& labels, const torch::Tensor& targets) const {
    if (!class_weights_.defined()) return static_cast<double>(labels.size(0));
    if (targets.defined())
      return targets.to(class_weights_.dtype()).matmul(class_weights_).sum().item<double>();
    return class_weights_.index_select(0, labels).sum().item<double>();
  }

  /// One training step on train.micro_batches replicas (ReplicaPool): each runs forward and
  /// backward on its rows of the batch, BatchNorm synchronised across them; the gradients are
  /// added in replica order into the parameters' .grad. Returns the whole batch's logits and
  /// loss.
  std::pair<torch::Tensor, double> replicated_step(const torch::Tensor& labels,
                                                   const MixedBatch& mixed,
                                                   const std::vector<torch::Tensor>& params,
                                                   StepProfiler& profiler) {
    const int64_t n = labels.size(0);
    const int parts = static_cast<int>(std::min<int64_t>(replicas_->size(), n));
    std::vector<int64_t> begin(parts + 1);
    for (int r = 0; r <= parts; ++r) begin[r] = n * r / parts;
    auto rows = [&](const torch::Tensor& t, int r) {
      return t.defined() ? t.slice(0, begin[r], begin[r + 1]) : t;
    };
    std::vector<double> weight(parts);
    for (int r = 0; r < parts; ++r)
      weight[r] = loss_normaliser(rows(labels, r), rows(mixed.targets, r));
    const double total = std::accumulate(weight.begin(), weight.end(), 0.0);
    std::vector<std::vector<torch::Tensor>> grads(parts);
    std::vector<torch::Tensor> logits(parts);
    std::vector<double> losses(parts);
    const uint64_t seed = mix_seed(mix_step_seed(cfg_.seed, state_.epoch, state_.step), 0x5eed);
    kernels::SyncBatchNormScope sync([this](std::vector<double>& v) { replicas_->sum(v); });
    replicas_->run(
        [&](int r) {
          kernels::FusedScope fused(cfg_.fused_kernels);
          kernels::ReplicaScope replica(
              r, at::make_generator<at::CPUGeneratorImpl>(mix_seed(seed, r)));
          MixedBatch part = mixed;
          part.images = rows(mixed.images, r);
          part.targets = rows(mixed.targets, r);
          const auto out = model_->forward(part.images);
          const auto loss =
              training_loss(out, rows(labels, r), part, cfg_.label_smoothing, class_weights_) *
              (weight[r] / total);
          if (r == 0) profiler.mark(StepProfiler::Phase::forward);
          grads[r] = torch::autograd::grad({loss}, params, {}, /*retain_graph=*/false,
                                           /*create_graph=*/false, /*allow_unused=*/true);
          logits[r] = out.detach();
          losses[r] = loss.item<double>();
        },
        parts);
    profiler.mark(StepProfiler::Phase::backward);
    for (size_t k = 0; k < params.size(); ++k) {
      torch::Tensor g;
      for (int r = 0; r < parts; ++r) {
        const auto& part = grads[r][k];
        if (!part.defined()) continue;
        g = g.defined() ? g.add_(part) : part;
      }
      params[k].mutable_grad() = g;
    }
    return {torch::cat(logits), std::accumulate(losses.begin(), losses.end(), 0.0)};
  }

  void end_epoch() {
    auto started = Clock::now();
    // The native engine copies this epoch's weights: one runner per validation.
    engine::InferenceRunner runner(*model_, cfg_.model.value("name", cfg_.name),
                                   engine::parse_engine_choice(cfg_.eval_engine), threads_);
    if (state_.epoch == 0) spdlog::info("validation runs on the {} engine", runner.engine());
    synchronise_buffers();
    const auto val = validate(*model_, &runner);
    std::vector<double> sums = {state_.loss_sum, static_cast<double>(state_.correct),
                                static_cast<double>(state_.seen)};
    collective_->sum(sums);

    EpochMetrics m;
    m.epoch = state_.epoch + 1;
    m.lr = optimizer_->lr();
    m.train_loss = sums[2] > 0 ? sums[0] / sums[2] : 0.0;
    m.train_accuracy = sums[2] > 0 ? sums[1] / sums[2] : 0.0;
    m.val_loss = val.loss;
    m.val_accuracy = val.accuracy;
    if (ema_) {  // the averaged weights are what eval uses, so they pick the best epoch
      const auto ema_val = validate(*ema_, nullptr);
      m.ema_val_loss = ema_val.loss;
      m.ema_val_accuracy = ema_val.accuracy;
    }
    m.train_images_per_second = state_.train_seconds > 0 ? sums[2] / state_.train_seconds : 0.0;
    m.seconds = state_.train_seconds + seconds_since(started);
    state_.history.push_back(m);
    if (tb_) tb_->epoch(m);

    const auto [val_loss, val_accuracy] = checkpoint_validation(m);
    double metric = cfg_.early_stopping.metric == "val_loss" ? val_loss : val_accuracy;
    bool better = improved(cfg_.early_stopping, metric, state_.best_metric);
    if (better) {
      state_.best_metric = metric;
      state_.best_epoch = m.epoch;
      state_.bad_epochs = 0;
    } else {
      ++state_.bad_epochs;
    }
    spdlog::info(
        "epoch {}/{}: train loss {:.4f} acc {:.4f} | val loss {:.4f} acc {:.4f} | {:.1f} img/s, "
        "{:.0f} s, lr {:.3g}{}",
        m.epoch, cfg_.epochs, m.train_loss, m.train_accuracy, m.val_loss, m.val_accuracy,
        m.train_images_per_second, m.seconds, m.lr, better ? " (best)" : "");
    if (ema_)
      spdlog::info("epoch {}/{}: EMA val loss {:.4f} acc {:.4f}", m.epoch, cfg_.epochs,
                   m.ema_val_loss, m.ema_val_accuracy);

    ++state_.epoch;
    state_.step = 0;
    state_.loss_sum = 0;
    state_.correct = state_.seen = 0;
    state_.train_seconds = 0;
    int64_t patience = cfg_.early_stopping.patience;
    if (patience > 0 && state_.bad_epochs >= patience) {
      spdlog::info("early stopping: {} did not improve for {} epochs (best {:.4f} at epoch {})",
                   cfg_.early_stopping.metric, patience, state_.best_metric, state_.best_epoch);
      state_.early_stopped = state_.finished = true;
    }
    if (better) save("best.pt");
    save("last.pt");
    if (collective_->is_main()) {
      fs::remove(run_dir_ / "last_epoch.pt");  // last.pt is an epoch's end again
      write_metrics_csv(run_dir_ / "metrics.csv", state_.history);
      write_curves(run_dir_, state_.history);
    }
    if (req_.hooks.on_epoch && !req_.hooks.on_epoch(m)) {
      spdlog::info("stopped after epoch {} by the caller", m.epoch);
      stopped_by_hook_ = state_.finished = true;  // train_loop saves last.pt on its way out
    }
  }

  /// Validation metrics over the whole split: each rank scores its share, the confusion matrices
  /// and loss sums are added up (not a mean of the ranks' means).
  eval::Metrics validate(models::ClassifierImpl& model, engine::InferenceRunner* runner) {
    const auto classes = static_cast<int64_t>(class_names_.size());
    auto local = eval::evaluate(model, *val_loader_, classes, "", {}, runner).metrics;
    if (collective_->world_size() == 1) return local;
    std::vector<double> sums = {local.loss * static_cast<double>(local.count)};
    for (const auto& row : local.confusion)
      for (auto n : row) sums.push_back(static_cast<double>(n));
    collective_->sum(sums);
    std::vector<std::vector<int64_t>> confusion(classes, std::vector<int64_t>(classes));
    for (int64_t t = 0; t < classes; ++t)
      for (int64_t p = 0; p < classes; ++p)
        confusion[t][p] = static_cast<int64_t>(sums[1 + t * classes + p]);
    return eval::metrics_from_confusion(confusion, sums[0]);
  }

  std::optional<double> evaluate_test() {
    eval::EvalRequest request;
    request.model.checkpoint = run_dir_ / "best.pt";
    request.split = data::Split::test;
    request.data_root = cfg_.dataset.root;
    request.threads = threads_;
    request.engine = cfg_.eval_engine;
    auto report = eval::evaluate_checkpoint(request);
    write_json_atomic(run_dir_ / "test_report.json", report.json);
    report::write_confusion_png(run_dir_ / "confusion_test.png",
                                report.evaluation.metrics.confusion, report.class_names,
                                "test split, best epoch");
    eval::write_eval_grid(report, run_dir_ / "grid_test.png");
    if (tb_) {
      const auto step = static_cast<int64_t>(state_.history.size());
      tb_->image_file("test/confusion", run_dir_ / "confusion_test.png", step);
      tb_->image_file("test/grid", run_dir_ / "grid_test.png", step);
      tb_->flush();
    }
    spdlog::info("test split (best epoch {}):\n{}", state_.best_epoch,
                 eval::format_metrics_table(report.evaluation.metrics, report.class_names));
    return report.evaluation.metrics.accuracy;
  }

  // Validation loss and accuracy of the weights a checkpoint holds: the EMA's with train.ema,
  // since those are what eval uses and what pick the best epoch.
  std::pair<double, double> checkpoint_validation(const EpochMetrics& m) const {
    return ema_ ? std::pair{m.ema_val_loss, m.ema_val_accuracy}
                : std::pair{m.val_loss, m.val_accuracy};
  }

  TrainResult finish() {
    TrainResult result;
    result.run_dir = run_dir_;
    result.history = state_.history;
    result.best_epoch = state_.best_epoch;
    result.early_stopped = state_.early_stopped;
    result.stopped_by_hook = stopped_by_hook_;
    for (const auto& m : state_.history)
      if (m.epoch == state_.best_epoch) result.best_val_accuracy = checkpoint_validation(m).second;
    if (cfg_.test_at_end && collective_->is_main() && fs::exists(run_dir_ / "best.pt"))
      result.test_accuracy = evaluate_test();
    double total_seconds = 0, images = 0, train_seconds = 0;
    for (const auto& m : state_.history) {
      total_seconds += m.seconds;
      if (m.train_images_per_second > 0) {
        double n = static_cast<double>(train_.cache->size());
        images += n;
        train_seconds += n / m.train_images_per_second;
      }
    }
    json history = json::array();
    for (const auto& m : state_.history) history.push_back(m.to_json());
    const auto skipped = data::skipped_files({&train_, &val_});
    result.summary = {
        {"name", cfg_.name},
        {"model", cfg_.resolved["model"]},
        {"class_names", class_names_},
        {"epochs_run", state_.history.size()},
        {"best_epoch", state_.best_epoch},
        {"best_val_accuracy", result.best_val_accuracy},
        {"early_stopped", state_.early_stopped},
        {"train_images_per_second", train_seconds > 0 ? images / train_seconds : 0.0},
        {"total_seconds", total_seconds},
        {"threads", threads_},
        {"test_accuracy", result.test_accuracy ? json(*result.test_accuracy) : json(nullptr)},
        {"skipped_files",
         {{"undecodable", skipped.undecodable},
          {"corrupt", skipped.corrupt},
          {"missing", skipped.missing}}},
        {"history", history}};
    if (collective_->is_main()) write_json_atomic(run_dir_ / "summary.json", result.summary);
    return result;
  }

  TrainRequest req_;
  config::TrainConfig cfg_;
  std::shared_ptr<Collective> collective_;
  fs::path run_dir_;
  int threads_ = 1;
  data::SplitData train_, val_;
  std::vector<std::string> class_names_;
  std::unique_ptr<data::BatchLoader> train_loader_, val_loader_;
  models::ModelPtr model_;
  torch::Device device_{torch::kCPU};  ///< train.device, resolved
  std::unique_ptr<OptimizerWithGroups> optimizer_;
  models::ModelPtr ema_;         ///< train.ema: the moving average of model_'s weights
  torch::Tensor class_weights_;  ///< train.class_weights: "balanced" loss weights
  LoopState state_;
  torch::Tensor resume_rng_;
  fs::path resume_from_;  ///< the checkpoint restored by --resume (empty: a fresh start)
  bool stopped_by_hook_ = false;
  std::unique_ptr<TensorBoardLog> tb_;
  std::unique_ptr<ReplicaPool> replicas_;  ///< train.micro_batches > 1
};

}  // namespace

json EpochMetrics::to_json() const {
  json j = {{"epoch", epoch},
            {"lr", lr},
            {"train_loss", train_loss},
            {"train_accuracy", train_accuracy},
            {"val_loss", val_loss},
            {"val_accuracy", val_accuracy},
            {"train_images_per_second", train_images_per_second},
            {"seconds", seconds}};
  if (!std::isnan(ema_val_accuracy)) {
    j["ema_val_loss"] = ema_val_loss;
    j["ema_val_accuracy"] = ema_val_accuracy;
  }
  return j;
}

EpochMetrics EpochMetrics::from_json(const json& j) {
  EpochMetrics m;
  m.epoch = j.at("epoch");
  m.lr = j.at("lr");
  m.train_loss = j.at("train_loss");
  m.train_accuracy = j.at("train_accuracy");
  m.val_loss = j.at("val_loss");
  m.val_accuracy = j.at("val_accuracy");
  m.train_images_per_second = j.at("train_images_per_second");
  m.seconds = j.at("seconds");
  m.ema_val_loss = j.value("ema_val_loss", NAN);
  m.ema_val_accuracy = j.value("ema_val_accuracy", NAN);
  return m;
}

TrainResult run_training(const TrainRequest& request) {
  return Trainer(request).run();
}

fs::path next_free_run_dir(const fs::path& base) {
  if (!fs::exists(base / "last.pt")) return base;
  for (int i = 2;; ++i) {
    fs::path candidate = base.string() + "-" + std::to_string(i);
    if (!fs::exists(candidate / "last.pt")) return candidate;
  }
}

}  // namespace garbage::train
