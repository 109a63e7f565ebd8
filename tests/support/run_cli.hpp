#pragma once
// Runs the garbage executable for end-to-end tests and captures its exit code and output.

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace garbage::testing {

struct CliRun {
  int code = -1;
  std::string output;  ///< stdout, plus stderr when requested
};

inline CliRun run_garbage(const std::string& args, bool with_stderr = true) {
  std::string cmd = std::string("OMP_NUM_THREADS=2 ") + GARBAGE_BINARY + " " + args +
                    (with_stderr ? " 2>&1" : " 2>/dev/null");
  CliRun r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf{};
  while (fgets(buf.data(), buf.size(), pipe)) r.output += buf.data();
  int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace garbage::testing
