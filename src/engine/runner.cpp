#include "garbage/engine/runner.hpp"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "garbage/models/classifier.hpp"

namespace garbage::engine {

InferenceRunner::InferenceRunner(models::ClassifierImpl& model, const std::string& model_name,
                                 EngineChoice choice, int threads)
    : model_(&model), engine_("torch") {
  if (choice == EngineChoice::torch) return;
  if (const auto device = models::device_of(model); !device.is_cpu()) {
    if (choice == EngineChoice::native)
      throw ConfigError("--engine native runs on the CPU only, not on " + device.str());
    return;
  }
  try {
    native_ = std::make_unique<NativeModel>(model, model_name, NativeOptions{threads, 4});
    engine_ = "native";
  } catch (const UnsupportedOpError& e) {
    if (choice == EngineChoice::native) throw;
    spdlog::warn("{}: the native engine does not support {}; running on libtorch", model_name,
                 e.op());
  }
}

InferenceRunner::~InferenceRunner() = default;
InferenceRunner::InferenceRunner(InferenceRunner&&) noexcept = default;

torch::Tensor InferenceRunner::forward(const torch::Tensor& images) {
  if (native_) return native_->forward(images);
  c10::InferenceMode guard;
  return model_->forward(images);
}

}  // namespace garbage::engine
