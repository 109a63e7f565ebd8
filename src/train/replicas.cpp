#include "garbage/train/replicas.hpp"

#include <omp.h>

#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>

#include "garbage/core/errors.hpp"

namespace garbage::train {
namespace {

thread_local int replica_of_thread = -1;  // set while a thread runs a ReplicaPool task

/// One OpenMP thread for the scope (the replicas are the parallelism), restored after. ATen
/// sets a thread's OpenMP count from the process-wide one on the thread's first parallel op, so
/// that happens first here, not after (where it would undo this).
class SingleThreaded {
 public:
  SingleThreaded() : previous_((at::internal::lazy_init_num_threads(), omp_get_max_threads())) {
    omp_set_num_threads(1);
  }
  ~SingleThreaded() { omp_set_num_threads(previous_); }
  SingleThreaded(const SingleThreaded&) = delete;
  SingleThreaded& operator=(const SingleThreaded&) = delete;

 private:
  int previous_;
};

class ReplicaIndex {
 public:
  explicit ReplicaIndex(int index) { replica_of_thread = index; }
  ~ReplicaIndex() { replica_of_thread = -1; }
  ReplicaIndex(const ReplicaIndex&) = delete;
  ReplicaIndex& operator=(const ReplicaIndex&) = delete;
};

}  // namespace

ReplicaPool::ReplicaPool(int count) : count_(count), parts_(static_cast<size_t>(count)) {
  if (count < 1) throw Error("ReplicaPool: " + std::to_string(count) + " replicas");
  for (int i = 1; i < count; ++i) helpers_.emplace_back([this, i] { helper_loop(i); });
}

ReplicaPool::~ReplicaPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : helpers_) t.join();
}

void ReplicaPool::fail(std::exception_ptr error) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error_) error_ = std::move(error);
  }
  summed_.notify_all();  // replicas waiting in sum() stop too
}

void ReplicaPool::run(const std::function<void(int)>& task, int active) {
  if (active <= 0) active = count_;
  if (active > count_)
    throw Error("ReplicaPool: " + std::to_string(active) + " of " + std::to_string(count_) +
                " replicas");
  const at::ThreadLocalState tls;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    active_ = active;
    task_ = &task;
    tls_ = &tls;
    error_ = nullptr;
    arrived_ = 0;
    running_ = count_ - 1;
    ++round_;
  }
  wake_.notify_all();
  try {
    SingleThreaded one;
    ReplicaIndex index(0);
    task(0);
  } catch (...) {
    fail(std::current_exception());
  }
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [this] { return running_ == 0; });
  task_ = nullptr;
  tls_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

void ReplicaPool::helper_loop(int index) {
  SingleThreaded one;
  long long seen = 0;
  for (;;) {
    const std::function<void(int)>* task = nullptr;
    const at::ThreadLocalState* tls = nullptr;
    int active = 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || round_ != seen; });
      if (stopping_) return;
      seen = round_;
      task = task_;
      tls = static_cast<const at::ThreadLocalState*>(tls_);
      active = active_;
    }
    if (index < active) {
      try {
        at::ThreadLocalStateGuard guard(*tls);
        ReplicaIndex replica(index);
        (*task)(index);
      } catch (...) {
        fail(std::current_exception());
      }
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --running_;
    }
    done_.notify_all();
  }
}

void ReplicaPool::sum(std::vector<double>& values) {
  const int index = replica_of_thread;
  std::unique_lock<std::mutex> lock(mutex_);
  if (index < 0 || index >= active_) throw Error("ReplicaPool::sum outside a replica's task");
  if (error_) throw Error("stopped: another replica failed");
  parts_[static_cast<size_t>(index)] = &values;
  if (++arrived_ < active_) {
    const long long generation = exchange_;
    summed_.wait(lock, [&] { return exchange_ != generation || error_; });
    if (exchange_ == generation) throw Error("stopped: another replica failed");
    return;
  }
  // The last to arrive adds the parts in replica order and hands every replica the total.
  std::vector<double> total(values.size(), 0.0);
  const auto parts = std::vector<std::vector<double>*>(parts_.begin(), parts_.begin() + active_);
  for (const auto* part : parts) {
    if (part->size() != total.size()) {
      lock.unlock();
      fail(std::make_exception_ptr(Error("ReplicaPool::sum: replicas sent different sizes")));
      throw Error("ReplicaPool::sum: replicas sent different sizes");
    }
    for (size_t k = 0; k < total.size(); ++k) total[k] += (*part)[k];
  }
  for (auto* part : parts) *part = total;
  arrived_ = 0;
  ++exchange_;
  lock.unlock();
  summed_.notify_all();
}

}  // namespace garbage::train
