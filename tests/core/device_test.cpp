// `train.device` / `--device` names: what each resolves to, and the errors for the rest.

#include <gtest/gtest.h>
#include <torch/cuda.h>

#include "garbage/core/device.hpp"
#include "garbage/core/errors.hpp"

namespace garbage {
namespace {

std::string error_of(const std::string& name) {
  try {
    resolve_device(name, "train.device");
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), "train.device");
    return e.what();
  }
  return "";
}

TEST(Device, CpuAndAutoResolveWithoutAGpu) {
  EXPECT_TRUE(resolve_device("cpu", "x").is_cpu());
  EXPECT_EQ(resolve_device("auto", "x").is_cuda(), torch::cuda::is_available());
}

TEST(Device, UnknownNamesAreConfigErrorsNamingTheSetting) {
  for (const char* bad : {"gpu", "CUDA", "cuda:", "cuda:x", "cuda:-1", "cuda0", ""}) {
    const auto what = error_of(bad);
    EXPECT_NE(what.find("train.device: \"" + std::string(bad) + "\""), std::string::npos) << what;
    EXPECT_NE(what.find("expected cpu, cuda, cuda:N or auto"), std::string::npos) << what;
  }
}

TEST(Device, AnAbsentGpuIsAConfigError) {
  EXPECT_NE(error_of("cuda:99").find("train.device: \"cuda:99\""), std::string::npos);
  if (torch::cuda::is_available()) GTEST_SKIP() << "this machine has a GPU";
  EXPECT_NE(error_of("cuda").find("CUDA is not available"), std::string::npos);
}

}  // namespace
}  // namespace garbage
