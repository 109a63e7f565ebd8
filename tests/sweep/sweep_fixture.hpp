#pragma once
// Sweep documents over the tiny train config, and trial functions that replay synthetic
// learning curves instead of training, so sweep tests take milliseconds.

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <thread>

#include <nlohmann/json.hpp>

#include "../support/train_fixture.hpp"
#include "garbage/sweep/runner.hpp"
#include "garbage/sweep/space.hpp"

namespace garbage::testing {

using nlohmann::json;

/// A sweep file whose base is the tiny train config (data root need not exist).
inline json sweep_document(const std::string& method, const json& parameters, int64_t run_cap) {
  json base = tiny_train_document("/nonexistent-data", 9);
  return {{"method", method},
          {"metric", {{"name", "val_accuracy"}, {"goal", "maximize"}}},
          {"parameters", parameters},
          {"run_cap", run_cap},
          {"base", base}};
}

inline sweep::SweepConfig parse_sweep(const json& doc) {
  return sweep::parse_sweep_config(doc, "test.json");
}

/// Replays `curve(params, epoch)` as val_accuracy for the base's epochs; sleeps `pause` per
/// epoch so concurrent workers overlap.
inline sweep::TrialFn curve_trial(std::function<double(const json&, int64_t)> curve,
                                  std::chrono::milliseconds pause = std::chrono::milliseconds(0)) {
  return [curve, pause](sweep::TrialContext& ctx) {
    int64_t epochs = ctx.train_doc["train"]["epochs"].get<int64_t>();
    for (int64_t e = 1; e <= epochs; ++e) {
      if (pause.count() > 0) std::this_thread::sleep_for(pause);
      sweep::EpochRecord r;
      r.epoch = e;
      r.val_accuracy = curve(ctx.trial.params, e);
      r.val_loss = 1.0 - r.val_accuracy;
      if (!ctx.on_epoch(r)) return;
    }
  };
}

/// Runs `body` in a child process; returns its pid. The child never returns into gtest.
template <typename F>
pid_t fork_child(F body) {
  pid_t pid = fork();
  if (pid == 0) {
    int code = 0;
    try {
      body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
      code = 1;
    }
    _exit(code);
  }
  return pid;
}

/// The child's exit code (-1 when it was killed).
inline int wait_child(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace garbage::testing
