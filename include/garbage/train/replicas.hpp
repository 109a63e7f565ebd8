#pragma once
// Data parallelism inside one process (train.micro_batches): a batch is cut into parts that run
// forward and backward at the same time on threads of one compute thread each. One process
// gains only ~1.2x from a second intra-op thread on a small CNN (fork/join per op, serial
// glue), while two single-threaded workers gain ~2x; this gets the second figure without a
// second process. BatchNorm statistics are summed across the parts (sum()), so the step is the
// full batch's step up to float rounding.

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace garbage::train {

class ReplicaPool {
 public:
  /// `count` replicas: the calling thread runs replica 0, count - 1 helper threads the rest.
  explicit ReplicaPool(int count);
  ~ReplicaPool();
  ReplicaPool(const ReplicaPool&) = delete;
  ReplicaPool& operator=(const ReplicaPool&) = delete;

  int size() const { return count_; }

  /// Runs task(i) for replicas i in [0, active) at once (active <= size(); all by default), each
  /// thread with one OpenMP thread and the caller's autograd/profiler thread-local state; returns
  /// when all have finished. The first exception thrown by any replica is rethrown here (the
  /// others are stopped at their next sum()).
  void run(const std::function<void(int)>& task, int active = 0);

  /// Called by every active replica of a run(), in the same order: each one's `values` becomes
  /// the element-wise sum over replicas, added in replica order (deterministic).
  void sum(std::vector<double>& values);

 private:
  void helper_loop(int index);
  void fail(std::exception_ptr error);

  const int count_;
  std::vector<std::thread> helpers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_, summed_;
  const std::function<void(int)>* task_ = nullptr;
  const void* tls_ = nullptr;  // the caller's at::ThreadLocalState during run()
  long long round_ = 0;        // run() calls so far
  int active_ = 0;             // replicas taking part in this round
  int running_ = 0;            // helpers still in this round's task
  bool stopping_ = false;
  std::exception_ptr error_;
  // sum(): the parts of the current exchange, by replica, and its generation
  std::vector<std::vector<double>*> parts_;
  int arrived_ = 0;
  long long exchange_ = 0;
};

}  // namespace garbage::train
