#pragma once
// Runs tests/io/make_reference_models.py with the system Python (PyTorch + torchvision from
// Debian) as a test oracle. Tests skip when that Python or torchvision is missing.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace garbage::testing {

constexpr const char* kSystemPython = "/usr/bin/python3";

inline bool have_torchvision() {
  static const bool ok = [] {
    if (!std::filesystem::exists(kSystemPython)) return false;
    std::string cmd =
        std::string(kSystemPython) + " -c 'import torch, torchvision' >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0;
  }();
  return ok;
}

/// Runs `script` (relative to the source tree) with `args`; returns its output (stdout +
/// stderr) and sets `ok`.
inline std::string run_python_script(const std::string& script, const std::string& args, bool& ok) {
  std::string cmd = std::string("OMP_NUM_THREADS=2 ") + kSystemPython + " " GARBAGE_SOURCE_DIR "/" +
                    script + " " + args + " 2>&1";
  std::string out;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) {
    ok = false;
    return "popen failed";
  }
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  ok = pclose(pipe) == 0;
  return out;
}

/// Runs the oracle script with `args`; returns its output (stdout + stderr) and sets `ok`.
inline std::string run_oracle(const std::string& args, bool& ok) {
  return run_python_script("tests/io/make_reference_models.py", args, ok);
}

inline std::vector<char> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

inline std::vector<uint8_t> read_u8(const std::filesystem::path& path) {
  auto b = read_bytes(path);
  return std::vector<uint8_t>(b.begin(), b.end());
}

}  // namespace garbage::testing
