#pragma once
// The native CPU inference engine: runs a registry model's eval-mode forward pass from its
// emit() graph, compiled once per input shape (see graph.hpp, backend.hpp, docs/engine.md).

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "garbage/core/errors.hpp"
#include "garbage/engine/backend.hpp"
#include "garbage/engine/graph.hpp"

namespace at {
class Tensor;
}

namespace garbage::models {
class ClassifierImpl;
}

namespace garbage::engine {

/// `--engine` / `eval.engine`: auto runs native when it supports every op, else libtorch.
enum class EngineChoice { automatic, native, torch };

/// "auto" | "native" | "torch"; throws ConfigError naming `what` otherwise.
EngineChoice parse_engine_choice(const std::string& text, const std::string& what = "--engine");
std::string to_string(EngineChoice choice);

/// The model uses something the native engine cannot run; `op()` names it.
class UnsupportedOpError : public Error {
 public:
  UnsupportedOpError(const std::string& model, const std::string& op)
      : Error(model + ": the native engine does not support " + op +
              " (use --engine torch or auto)"),
        op_(op) {}
  const std::string& op() const { return op_; }

 private:
  std::string op_;
};

/// Reads `model`'s emit() into a Graph (weights copied, BatchNorm folded in double). Throws
/// UnsupportedOpError naming the first layer or option that has no native op.
Graph capture_graph(models::ClassifierImpl& model, const std::string& model_name);

struct NativeOptions {
  int threads = 0;       ///< 0: libtorch's current intra-op thread count at each run
  size_t max_plans = 4;  ///< compiled shapes kept; the least recently used goes first
  /// Winograd 3x3 convolutions where oneDNN has them (OneDnnOptions::winograd). The environment
  /// variable GARBAGE_WINOGRAD=0 turns them off for every model.
  bool winograd = true;
};

/// A model compiled for the native engine. forward() compiles a plan the first time it sees an
/// input shape and thread count, and reuses it afterwards. Not for concurrent forward() calls.
class NativeModel {
 public:
  /// Captures the graph now (throws UnsupportedOpError); weights are copied, so later changes
  /// to `model` are not seen.
  NativeModel(models::ClassifierImpl& model, const std::string& model_name,
              NativeOptions options = {});
  ~NativeModel();
  NativeModel(const NativeModel&) = delete;
  NativeModel& operator=(const NativeModel&) = delete;

  /// [N,3,H,W] float32 CPU (any memory format) -> logits [N, classes].
  at::Tensor forward(const at::Tensor& images);

  const std::string& backend_name() const { return backend_name_; }
  int64_t plans_compiled() const { return plans_compiled_; }  ///< compilations so far
  size_t plans_cached() const { return plans_.size(); }
  int64_t plan_memory_bytes() const;  ///< of every cached plan

 private:
  using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int>;  // N, C, H, W, threads
  Plan& plan_for(const Key& key);

  Graph graph_;
  std::unique_ptr<Backend> backend_;
  std::string backend_name_;
  NativeOptions options_;
  std::map<Key, std::unique_ptr<Plan>> plans_;
  std::map<Key, int64_t> last_used_;
  int64_t clock_ = 0;
  int64_t plans_compiled_ = 0;
};

}  // namespace garbage::engine
