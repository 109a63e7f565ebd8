#pragma once
// The forward pass that eval, predict, bench and training-time validation run: the native
// engine when chosen (or, with auto, when it supports every op of the model), else libtorch.

#include <memory>
#include <string>

#include "garbage/engine/engine.hpp"

namespace garbage::engine {

class InferenceRunner {
 public:
  /// A model on a GPU always runs libtorch. With EngineChoice::native an unsupported op (or a
  /// GPU model) throws; with automatic it logs one warning naming the op and runs libtorch.
  /// `threads` as NativeOptions::threads. The model must outlive the runner; the native engine
  /// copies its weights now, so later weight changes need a new runner.
  InferenceRunner(models::ClassifierImpl& model, const std::string& model_name, EngineChoice choice,
                  int threads = 0);
  ~InferenceRunner();
  InferenceRunner(InferenceRunner&&) noexcept;

  /// Logits of an [N,3,H,W] batch, without autograd.
  at::Tensor forward(const at::Tensor& images);

  /// "native" or "torch": what forward() runs.
  const std::string& engine() const { return engine_; }
  NativeModel* native() { return native_.get(); }

 private:
  models::ClassifierImpl* model_;
  std::unique_ptr<NativeModel> native_;
  std::string engine_;
};

}  // namespace garbage::engine
