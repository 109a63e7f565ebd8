#pragma once
// Exceptions carry the exit code the CLI maps them to, so library code never calls exit().

#include <stdexcept>
#include <string>

namespace garbage {

/// Documented process exit codes (README "Exit codes").
enum class ExitCode : int {
  ok = 0,
  runtime = 1,             ///< runtime failure: I/O, data, numerical problems
  usage = 2,               ///< bad command line or configuration
  gate_failed = 3,         ///< a quality gate such as --min-accuracy was not met
  some_inputs_failed = 4,  ///< predict: some input files could not be read (the rest were)
  interrupted = 130        ///< stopped by SIGINT after saving state
};

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, ExitCode code = ExitCode::runtime)
      : std::runtime_error(what), code_(code) {}
  ExitCode code() const noexcept { return code_; }

 private:
  ExitCode code_;
};

/// A configuration or command-line problem: the user must change their input. `path` is the
/// dotted config path at fault when there is one ("train.optimizer.lr"), so a loader can add
/// the line it came from.
class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& what, std::string path = "")
      : Error(what, ExitCode::usage), path_(std::move(path)) {}
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

/// A data set problem (missing files, undecodable images with on_bad_file=error, ...).
class DataError : public Error {
 public:
  explicit DataError(const std::string& what) : Error(what, ExitCode::runtime) {}
};

/// Training was interrupted by the user after state was saved.
class Interrupted : public Error {
 public:
  explicit Interrupted(const std::string& what) : Error(what, ExitCode::interrupted) {}
};

}  // namespace garbage
