#include "garbage/loading/checkpoint.hpp"

#include <torch/torch.h>

#include "garbage/core/errors.hpp"
#include "garbage/models/classifier.hpp"

namespace garbage::loading {
namespace {

constexpr const char* kMetaKey = "garbage_meta";

/// Tensors land on `device` whatever device wrote them, so a checkpoint from a GPU run loads on a
/// CPU-only machine.
torch::serialize::InputArchive open_archive(const std::filesystem::path& path,
                                            torch::Device device = torch::kCPU) {
  if (!std::filesystem::exists(path)) throw Error(path.string() + ": checkpoint not found");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path.string(), device);
  } catch (const c10::Error& e) {
    throw Error(path.string() + ": not a readable checkpoint (" + e.what_without_backtrace() + ")");
  }
  return archive;
}

template <typename Fn>
auto with_context(const std::filesystem::path& path, const char* what, Fn&& fn) {
  try {
    return fn();
  } catch (const c10::Error& e) {
    throw Error(path.string() + ": " + what + ": " + e.what_without_backtrace());
  }
}

}  // namespace

void save_checkpoint(const std::filesystem::path& path, const models::ClassifierImpl& model,
                     const torch::optim::Optimizer* optimizer, const CheckpointState& state) {
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model_archive;
  model.save(model_archive);
  archive.write("model", model_archive);
  if (state.ema) {
    torch::serialize::OutputArchive ema_archive;
    state.ema->save(ema_archive);
    archive.write("ema", ema_archive);
  }
  if (optimizer) {
    torch::serialize::OutputArchive optimizer_archive;
    optimizer->save(optimizer_archive);
    archive.write("optimizer", optimizer_archive);
  }
  nlohmann::json meta = state.meta;
  meta["format"] = kCheckpointFormat;
  archive.write(kMetaKey, c10::IValue(meta.dump()));
  if (state.rng_state.defined()) archive.write("rng_state", state.rng_state, /*is_buffer=*/true);

  auto tmp = path;
  tmp += ".tmp";
  with_context(path, "cannot write checkpoint", [&] {
    archive.save_to(tmp.string());
    return 0;
  });
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error(path.string() + ": cannot replace checkpoint: " + ec.message());
}

namespace {
nlohmann::json meta_from(torch::serialize::InputArchive& archive,
                         const std::filesystem::path& path) {
  c10::IValue value;
  if (!archive.try_read(kMetaKey, value) || !value.isString())
    throw Error(path.string() + ": not a garbage checkpoint (no metadata)");
  try {
    return nlohmann::json::parse(value.toStringRef());
  } catch (const nlohmann::json::exception& e) {
    throw Error(path.string() + ": corrupt checkpoint metadata: " + e.what());
  }
}
}  // namespace

nlohmann::json read_checkpoint_meta(const std::filesystem::path& path) {
  auto archive = open_archive(path);
  return meta_from(archive, path);
}

LoadedCheckpoint load_checkpoint(const std::filesystem::path& path) {
  auto archive = open_archive(path);
  LoadedCheckpoint loaded;
  loaded.state.meta = meta_from(archive, path);
  const auto& meta = loaded.state.meta;
  if (meta.value("format", 0) > kCheckpointFormat)
    throw Error(path.string() + ": checkpoint format " + std::to_string(meta.value("format", 0)) +
                " is newer than this build supports (" + std::to_string(kCheckpointFormat) + ")");
  if (!meta.contains("config") || !meta["config"].contains("model"))
    throw Error(path.string() + ": checkpoint has no model config");
  loaded.model = models::create_model(meta["config"]["model"]);
  with_context(path, "weights do not match the stored model config", [&] {
    torch::serialize::InputArchive model_archive;
    archive.read("model", model_archive);
    loaded.model->load(model_archive);
    return 0;
  });
  torch::Tensor rng;
  if (archive.try_read("rng_state", rng, /*is_buffer=*/true)) loaded.state.rng_state = rng;
  loaded.model->eval();
  torch::serialize::InputArchive ema_archive;
  if (archive.try_read("ema", ema_archive)) {
    loaded.state.ema = models::create_model(meta["config"]["model"]);
    with_context(path, "EMA weights do not match the stored model config", [&] {
      loaded.state.ema->load(ema_archive);
      return 0;
    });
    loaded.state.ema->eval();
  }
  return loaded;
}

void load_optimizer_state(const std::filesystem::path& path, torch::optim::Optimizer& optimizer,
                          torch::Device device) {
  auto archive = open_archive(path, device);
  with_context(path, "cannot restore optimizer state", [&] {
    torch::serialize::InputArchive optimizer_archive;
    archive.read("optimizer", optimizer_archive);
    optimizer.load(optimizer_archive);
    return 0;
  });
}

}  // namespace garbage::loading
