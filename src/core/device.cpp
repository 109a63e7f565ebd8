#include "garbage/core/device.hpp"

#include <cctype>

#include <torch/cuda.h>

#include "garbage/core/errors.hpp"

namespace garbage {

namespace {

bool all_digits(const std::string& s) {
  if (s.empty() || s.size() > 4) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

[[noreturn]] void fail(const std::string& setting, const std::string& name,
                       const std::string& why) {
  throw ConfigError(setting + ": \"" + name + "\": " + why, setting);
}

}  // namespace

c10::Device resolve_device(const std::string& name, const std::string& setting) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  const bool have_cuda = torch::cuda::is_available();
  if (name == "auto") return have_cuda ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  int index = 0;
  if (name.rfind("cuda:", 0) == 0 && all_digits(name.substr(5)))
    index = std::stoi(name.substr(5));
  else if (name != "cuda")
    fail(setting, name, "expected cpu, cuda, cuda:N or auto");
  if (!have_cuda)
    fail(setting, name, "CUDA is not available (this build or machine has no GPU); use cpu");
  const auto count = static_cast<int>(torch::cuda::device_count());
  if (index >= count) fail(setting, name, "this machine has " + std::to_string(count) + " GPU(s)");
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

}  // namespace garbage
