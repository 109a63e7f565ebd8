#pragma once
// Runs ONNX models in onnxruntime through tools/onnxruntime/ort.js (npm onnxruntime-node, which
// scripts/setup.sh installs). Tests skip when Node.js or the package is missing.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

namespace garbage::testing {

inline std::string ort_script() {
  return GARBAGE_SOURCE_DIR "/tools/onnxruntime/ort.js";
}

inline bool have_onnxruntime() {
  static const bool ok = [] {
    if (!std::filesystem::exists(GARBAGE_SOURCE_DIR
                                 "/tools/onnxruntime/node_modules/onnxruntime-node"))
      return false;
    return std::system("node --version >/dev/null 2>&1") == 0;
  }();
  return ok;
}

inline void write_tensor(const std::filesystem::path& path, const torch::Tensor& t) {
  auto c = t.to(torch::kFloat32).contiguous();
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(c.data_ptr()), c.numel() * sizeof(float));
}

inline torch::Tensor read_tensor(const std::filesystem::path& path, std::vector<int64_t> shape) {
  auto t = torch::empty(shape, torch::kFloat32);
  std::ifstream in(path, std::ios::binary);
  in.read(static_cast<char*>(t.data_ptr()), t.numel() * sizeof(float));
  if (in.gcount() != static_cast<std::streamsize>(t.numel() * sizeof(float)))
    throw std::runtime_error(path.string() + ": short read");
  return t;
}

struct OrtJob {
  std::filesystem::path model;
  torch::Tensor input;
  int64_t num_classes = 0;
  torch::Tensor output;  ///< filled by run_onnxruntime
};

/// Runs every job in one Node process (its start-up dominates small models). Returns false and
/// fills `log` when the runtime failed.
inline bool run_onnxruntime(std::vector<OrtJob>& jobs, const std::filesystem::path& dir,
                            std::string& log) {
  nlohmann::json spec = nlohmann::json::array();
  for (size_t i = 0; i < jobs.size(); ++i) {
    auto in = dir / ("ort_in_" + std::to_string(i) + ".bin");
    write_tensor(in, jobs[i].input);
    spec.push_back({{"model", jobs[i].model.string()},
                    {"input", in.string()},
                    {"shape", jobs[i].input.sizes().vec()},
                    {"output", (dir / ("ort_out_" + std::to_string(i) + ".bin")).string()}});
  }
  auto jobs_file = dir / "ort_jobs.json";
  std::ofstream(jobs_file) << spec.dump();
  std::string cmd = "node " + ort_script() + " infer " + jobs_file.string() + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return false;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) log.append(buf, n);
  if (pclose(pipe) != 0) return false;
  for (size_t i = 0; i < jobs.size(); ++i)
    jobs[i].output = read_tensor(spec[i]["output"].get<std::string>(),
                                 {jobs[i].input.size(0), jobs[i].num_classes});
  return true;
}

}  // namespace garbage::testing
