#include "garbage/engine/engine.hpp"

#include <cstdlib>
#include <string>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "garbage/models/classifier.hpp"

namespace garbage::engine {
namespace {

/// Sets libtorch's (OpenMP's) thread count for a scope when it differs, and restores it.
class ThreadScope {
 public:
  explicit ThreadScope(int threads) : previous_(at::get_num_threads()) {
    if (threads != previous_) at::set_num_threads(threads);
  }
  ~ThreadScope() {
    if (at::get_num_threads() != previous_) at::set_num_threads(previous_);
  }
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int previous_;
};

bool winograd_disabled_by_environment() {
  const char* value = std::getenv("GARBAGE_WINOGRAD");
  return value != nullptr && std::string(value) == "0";
}

}  // namespace

EngineChoice parse_engine_choice(const std::string& text, const std::string& what) {
  if (text == "auto") return EngineChoice::automatic;
  if (text == "native") return EngineChoice::native;
  if (text == "torch") return EngineChoice::torch;
  throw ConfigError(what + ": must be auto, native or torch, got \"" + text + "\"");
}

std::string to_string(EngineChoice choice) {
  switch (choice) {
    case EngineChoice::automatic:
      return "auto";
    case EngineChoice::native:
      return "native";
    case EngineChoice::torch:
      return "torch";
  }
  return "?";
}

NativeModel::NativeModel(models::ClassifierImpl& model, const std::string& model_name,
                         NativeOptions options)
    : graph_(capture_graph(model, model_name)),
      backend_(make_onednn_backend({options.winograd && !winograd_disabled_by_environment()})),
      backend_name_(backend_->name()),
      options_(options) {
  if (options_.max_plans == 0) options_.max_plans = 1;
}

NativeModel::~NativeModel() = default;

int64_t NativeModel::plan_memory_bytes() const {
  int64_t total = 0;
  for (const auto& [key, plan] : plans_) total += plan->memory_bytes();
  return total;
}

Plan& NativeModel::plan_for(const Key& key) {
  last_used_[key] = ++clock_;
  if (auto it = plans_.find(key); it != plans_.end()) return *it->second;
  if (plans_.size() >= options_.max_plans) {
    auto oldest = std::min_element(last_used_.begin(), last_used_.end(),
                                   [](auto& a, auto& b) { return a.second < b.second; });
    plans_.erase(oldest->first);
    last_used_.erase(oldest);
  }
  auto plan = backend_->compile(
      graph_, {std::get<0>(key), std::get<1>(key), std::get<2>(key), std::get<3>(key)},
      std::get<4>(key));
  ++plans_compiled_;
  return *(plans_[key] = std::move(plan));
}

torch::Tensor NativeModel::forward(const torch::Tensor& images) {
  if (images.dim() != 4 || images.device().type() != torch::kCPU)
    throw Error(graph_.model + ": native engine: expects a CPU [N,3,H,W] batch, got " +
                std::to_string(images.dim()) + "-D on " + images.device().str());
  const int threads = options_.threads > 0 ? options_.threads : at::get_num_threads();
  ThreadScope scope(threads);
  auto x = images.to(torch::kFloat32).contiguous();
  Plan& plan = plan_for({x.size(0), x.size(1), x.size(2), x.size(3), threads});
  const Dims& out = plan.output_dims();
  auto y = torch::empty({out.at(0), out.at(1)}, torch::kFloat32);
  plan.run(x.data_ptr<float>(), y.data_ptr<float>());
  return y;
}

}  // namespace garbage::engine
