#include "garbage/distributed/process_group.hpp"

#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "garbage/core/errors.hpp"
#include "garbage/io/printable.hpp"
#include "garbage/train/collective.hpp"

namespace garbage::distributed {
namespace {

using Millis = std::chrono::milliseconds;

std::optional<std::string> env_text(const char* name) {
  const char* value = std::getenv(name);
  if (!value || !*value) return std::nullopt;
  return std::string(value);
}

int env_int(const char* name, std::optional<int> fallback) {
  auto text = env_text(name);
  if (!text) {
    if (fallback) return *fallback;
    throw ConfigError(fmt::format("{} is not set: a data-parallel worker (WORLD_SIZE set) needs "
                                  "RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT",
                                  name),
                      name);
  }
  errno = 0;
  char* end = nullptr;
  long value = std::strtol(text->c_str(), &end, 10);
  if (errno || end == text->c_str() || *end || value < 0 || value > 1'000'000)
    throw ConfigError(
        fmt::format("{}: {} is not a non-negative integer", name, io::quote_text(*text)), name);
  return static_cast<int>(value);
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

/// Gloo connects ranks over the interface GLOO_SOCKET_IFNAME names (as PyTorch does), loopback
/// for a loopback master, else the address this host's name resolves to.
std::shared_ptr<gloo::transport::Device> gloo_device(const WorldInfo& world) {
  if (auto interface = env_text("GLOO_SOCKET_IFNAME"))
    return c10d::ProcessGroupGloo::createDeviceForInterface(*interface);
  if (is_loopback(world.master_addr))
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

std::string first_line(const std::string& text) {
  auto end = text.find('\n');
  return io::printable(text.substr(0, end), 300);
}

std::string progress_key(int rank) {
  return "garbage/progress/" + std::to_string(rank);
}
std::string failure_key(int rank) {
  return "garbage/failed/" + std::to_string(rank);
}

std::vector<uint8_t> bytes_of(const std::string& text) {
  return {text.begin(), text.end()};
}

/// Averages gradients in buckets (reverse parameter order, as DistributedDataParallel does):
/// autograd hooks copy each gradient into its bucket as backward produces it, and a full bucket's
/// allreduce starts at once, so communication overlaps the rest of backward. Buckets start in
/// index order on every rank, as Gloo requires.
class GradientBuckets {
 public:
  GradientBuckets(c10::intrusive_ptr<c10d::ProcessGroupGloo> group, int world)
      : group_(std::move(group)), world_(world) {}
  ~GradientBuckets() { unhook(); }

  void watch(const std::vector<torch::Tensor>& params) {
    if (same_params(params)) return;
    unhook();
    params_ = params;
    assign_buckets();
    for (size_t i = 0; i < params_.size(); ++i)
      hooks_.push_back(
          params_[i].register_hook([this, i](const torch::Tensor& grad) { on_gradient(i, grad); }));
  }

  /// After backward: zero-fills gradients no hook saw, finishes every bucket and writes the
  /// averages into the parameters' .grad.
  void finish(const std::function<void(c10d::Work&)>& wait) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (hook_error_) std::rethrow_exception(std::exchange(hook_error_, nullptr));
      for (size_t i = 0; i < slots_.size(); ++i)
        if (!slots_[i].ready) store_gradient(i, torch::Tensor());
      launch_ready();
    }
    for (auto& bucket : buckets_) {
      wait(*bucket.work);
      bucket.flat.div_(world_);
    }
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < params_.size(); ++i) {
      auto average = slice(i).view(params_[i].sizes());
      auto& grad = params_[i].mutable_grad();
      if (grad.defined())
        grad.copy_(average);
      else
        grad = average.clone();
    }
    reset();
  }

 private:
  struct Slot {
    size_t bucket = 0;
    int64_t offset = 0;
    bool ready = false;
  };
  struct Bucket {
    torch::Tensor flat;
    size_t pending = 0;
    size_t members = 0;
    c10::intrusive_ptr<c10d::Work> work;
  };

  static constexpr int64_t kFirstBucketBytes = 1 << 20;  // DDP's defaults: 1 MiB, then 25 MiB
  static constexpr int64_t kBucketBytes = 25 << 20;

  bool same_params(const std::vector<torch::Tensor>& params) const {
    if (params.size() != params_.size()) return false;
    for (size_t i = 0; i < params.size(); ++i)
      if (!params[i].is_same(params_[i])) return false;
    return true;
  }

  void assign_buckets() {
    slots_.assign(params_.size(), {});
    buckets_.clear();
    std::vector<int64_t> sizes;
    int64_t bytes = 0, cap = kFirstBucketBytes;
    torch::Dtype dtype = torch::kFloat;
    for (size_t k = params_.size(); k-- > 0;) {
      const auto& p = params_[k];
      const bool fresh = buckets_.empty() || bytes >= cap || p.scalar_type() != dtype;
      if (fresh) {
        if (!buckets_.empty()) cap = kBucketBytes;
        buckets_.emplace_back();
        sizes.push_back(0);
        bytes = 0;
        dtype = p.scalar_type();
        buckets_.back().flat = torch::empty({0}, p.options());
      }
      slots_[k] = {buckets_.size() - 1, sizes.back(), false};
      sizes.back() += p.numel();
      bytes += p.numel() * static_cast<int64_t>(p.element_size());
      ++buckets_.back().members;
    }
    for (size_t b = 0; b < buckets_.size(); ++b)
      buckets_[b].flat = torch::zeros({sizes[b]}, buckets_[b].flat.options());
    reset();
  }

  void reset() {
    for (auto& s : slots_) s.ready = false;
    for (auto& b : buckets_) {
      b.pending = b.members;
      b.work.reset();
    }
    next_launch_ = 0;
  }

  torch::Tensor slice(size_t i) const {
    const auto& slot = slots_[i];
    return buckets_[slot.bucket].flat.narrow(0, slot.offset, params_[i].numel());
  }

  void on_gradient(size_t i, const torch::Tensor& grad) {
    std::lock_guard<std::mutex> lock(mutex_);
    try {
      if (slots_[i].ready) return;
      store_gradient(i, grad);
      launch_ready();
    } catch (...) {
      // Thrown through autograd it would lose its context: finish() rethrows it.
      if (!hook_error_) hook_error_ = std::current_exception();
    }
  }

  void store_gradient(size_t i, const torch::Tensor& grad) {
    torch::NoGradGuard no_grad;
    auto target = slice(i);
    if (grad.defined())
      target.view(params_[i].sizes()).copy_(grad);
    else
      target.zero_();  // unused on this rank: contributes nothing to the average
    slots_[i].ready = true;
    --buckets_[slots_[i].bucket].pending;
  }

  void launch_ready() {
    while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0) {
      std::vector<torch::Tensor> tensors{buckets_[next_launch_].flat};
      buckets_[next_launch_].work = group_->allreduce(tensors);
      ++next_launch_;
    }
  }

  void unhook() {
    for (size_t i = 0; i < hooks_.size(); ++i) params_[i].remove_hook(hooks_[i]);
    hooks_.clear();
  }

  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
  int world_;
  std::vector<torch::Tensor> params_;
  std::vector<unsigned> hooks_;
  std::vector<Slot> slots_;
  std::vector<Bucket> buckets_;
  size_t next_launch_ = 0;
  std::exception_ptr hook_error_;
  std::mutex mutex_;  // hooks run on autograd's thread
};

class GlooCollective final : public train::Collective {
 public:
  GlooCollective(WorldInfo world, c10::intrusive_ptr<c10d::Store> store,
                 c10::intrusive_ptr<c10d::ProcessGroupGloo> group)
      : world_(std::move(world)),
        store_(std::move(store)),
        group_(std::move(group)),
        buckets_(group_, world_.world_size) {}

  int rank() const override { return world_.rank; }
  int world_size() const override { return world_.world_size; }
  int local_world_size() const override { return world_.local_world_size; }

  void broadcast(const std::vector<torch::Tensor>& tensors) override {
    guarded("broadcast from rank 0", [&] {
      torch::NoGradGuard no_grad;
      for (const auto& t : tensors) {
        std::vector<torch::Tensor> buffer{t.contiguous()};
        wait(*group_->broadcast(buffer));
        if (!buffer[0].is_same(t)) t.copy_(buffer[0]);
      }
    });
  }

  void watch_gradients(const std::vector<torch::Tensor>& params) override {
    buckets_.watch(params);
  }

  void average_gradients(const std::vector<torch::Tensor>& params) override {
    guarded("gradient allreduce", [&] {
      buckets_.watch(params);
      buckets_.finish([this](c10d::Work& work) { wait(work); });
    });
  }

  void sum(std::vector<double>& values) override {
    if (values.empty()) return;
    guarded("metric allreduce", [&] {
      std::vector<torch::Tensor> buffer{torch::tensor(values, torch::kDouble)};
      wait(*group_->allreduce(buffer));
      auto summed = buffer[0].accessor<double, 1>();
      for (size_t i = 0; i < values.size(); ++i) values[i] = summed[static_cast<int64_t>(i)];
    });
  }

  bool any(bool flag) override {
    bool result = flag;
    guarded("stop agreement", [&] {
      std::vector<torch::Tensor> buffer{torch::tensor({flag ? 1 : 0}, torch::kInt)};
      wait(*group_->allreduce(buffer));
      result = buffer[0].item<int>() > 0;
    });
    return result;
  }

  std::vector<torch::Tensor> all_gather(const torch::Tensor& tensor) override {
    std::vector<std::vector<torch::Tensor>> outputs(1);
    guarded("allgather", [&] {
      std::vector<torch::Tensor> input{tensor.contiguous()};
      for (int r = 0; r < world_.world_size; ++r) outputs[0].push_back(torch::empty_like(input[0]));
      wait(*group_->allgather(outputs, input));
    });
    return outputs[0];
  }

  void mark_progress(int64_t step) override {
    last_step_ = step;
    guarded("progress report",
            [&] { store_->set(progress_key(world_.rank), bytes_of(std::to_string(step))); });
  }

 private:
  static void wait(c10d::Work& work) {
    if (!work.wait()) throw Error("the exchange was aborted");
  }

  template <typename F>
  void guarded(const char* what, F&& body) {
    try {
      body();
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(diagnose(what, e.what()));
    }
  }

  /// Which ranks are to blame: every live rank that hits the failure reports it in the store, so
  /// after a short grace the ranks that did not report are the dead or hung ones.
  std::string diagnose(const char* what, const std::string& detail) {
    std::string culprit;
    try {
      store_->setTimeout(std::chrono::seconds(2));
      store_->set(failure_key(world_.rank), bytes_of("1"));
      std::this_thread::sleep_for(std::chrono::seconds(1));
      std::vector<std::string> silent;
      for (int r = 0; r < world_.world_size; ++r) {
        if (r == world_.rank || store_->check({failure_key(r)})) continue;
        std::string last = "no step finished";
        if (store_->check({progress_key(r)})) {
          auto value = store_->get(progress_key(r));
          last = "last step " + std::string(value.begin(), value.end());
        }
        silent.push_back(fmt::format("rank {} ({})", r, last));
      }
      culprit = silent.empty() ? "another rank failed"
                               : fmt::format("{} stopped responding", fmt::join(silent, ", "));
      // Rank 0 hosts the store: it stays a moment so that the others can ask it too.
      if (world_.rank == 0) std::this_thread::sleep_for(std::chrono::seconds(1));
    } catch (const std::exception&) {
      culprit = world_.rank == 0
                    ? "the rendezvous store failed"
                    : fmt::format("rank 0 (host of the rendezvous at {}:{}) stopped responding",
                                  world_.master_addr, world_.master_port);
    }
    return fmt::format("data-parallel training failed on rank {} in the {} after step {}: {} ({})",
                       world_.rank, what, last_step_, culprit, first_line(detail));
  }

  WorldInfo world_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
  GradientBuckets buckets_;
  int64_t last_step_ = 0;
};

c10::intrusive_ptr<c10d::Store> rendezvous(const WorldInfo& world, Millis timeout) {
  c10d::TCPStoreOptions options;
  options.port = static_cast<uint16_t>(world.master_port);
  options.isServer = world.rank == 0;
  options.numWorkers = world.world_size;
  options.waitWorkers = true;
  options.timeout = timeout;
  try {
    return c10::make_intrusive<c10d::TCPStore>(world.master_addr, options);
  } catch (const std::exception& e) {
    const auto seconds = std::chrono::duration<double>(timeout).count();
    if (world.rank == 0)
      throw Error(fmt::format(
          "rank 0 could not host the rendezvous on {}:{} or not all {} ranks joined within {} s "
          "(is the port in use? choose another --master-port): {}",
          world.master_addr, world.master_port, world.world_size, seconds, first_line(e.what())));
    throw Error(fmt::format("rank {} could not reach the master at {}:{} within {} s: {}",
                            world.rank, world.master_addr, world.master_port, seconds,
                            first_line(e.what())));
  }
}

}  // namespace

std::optional<WorldInfo> world_from_environment() {
  if (!env_text("WORLD_SIZE")) return std::nullopt;
  WorldInfo world;
  world.world_size = env_int("WORLD_SIZE", std::nullopt);
  if (world.world_size < 1)
    throw ConfigError("WORLD_SIZE: 0 is not a valid world size", "WORLD_SIZE");
  world.rank = env_int("RANK", world.world_size == 1 ? std::optional<int>(0) : std::nullopt);
  world.local_rank = env_int("LOCAL_RANK", 0);
  world.local_world_size = env_int("LOCAL_WORLD_SIZE", 1);
  if (world.rank >= world.world_size)
    throw ConfigError(
        fmt::format("RANK: {} is not below WORLD_SIZE {}", world.rank, world.world_size), "RANK");
  if (world.local_world_size < 1 || world.local_rank >= world.local_world_size)
    throw ConfigError(fmt::format("LOCAL_RANK: {} is not below LOCAL_WORLD_SIZE {}",
                                  world.local_rank, world.local_world_size),
                      "LOCAL_RANK");
  if (world.world_size == 1) return world;
  auto addr = env_text("MASTER_ADDR");
  if (!addr)
    throw ConfigError("MASTER_ADDR is not set: a data-parallel worker needs the master's address",
                      "MASTER_ADDR");
  world.master_addr = *addr;
  world.master_port = env_int("MASTER_PORT", std::nullopt);
  if (world.master_port < 1 || world.master_port > 65535)
    throw ConfigError(fmt::format("MASTER_PORT: {} is not in 1..65535", world.master_port),
                      "MASTER_PORT");
  return world;
}

std::shared_ptr<train::Collective> join_process_group(const WorldInfo& world, Millis timeout) {
  if (world.world_size == 1) return std::make_shared<train::LocalCollective>();
  auto store = rendezvous(world, timeout);
  try {
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    options->devices.push_back(gloo_device(world));
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>("gloo", store);
    auto group = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, world.rank, world.world_size,
                                                             options);
    spdlog::info("rank {} of {} joined the process group at {}:{} (Gloo)", world.rank,
                 world.world_size, world.master_addr, world.master_port);
    return std::make_shared<GlooCollective>(world, store, group);
  } catch (const std::exception& e) {
    throw Error(fmt::format("rank {} could not connect to the other ranks: {}", world.rank,
                            first_line(e.what())));
  }
}

void quiet_other_ranks(const WorldInfo& world) {
  if (world.rank > 0) spdlog::set_level(spdlog::level::warn);
}

}  // namespace garbage::distributed
