#pragma once
// What one `garbage sweep` invocation means, decided in the library so it can be tested without
// the binary: create a sweep or continue the stored one (refusing a different config under the
// same name), join a stored sweep as a worker, and the run options of this process's workers.
// Torch-free.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "garbage/sweep/runner.hpp"
#include "garbage/sweep/storage.hpp"
#include "garbage/sweep/sweep_file.hpp"

namespace garbage::sweep {

/// The request as the command line states it.
struct SessionOptions {
  std::string config_file;             ///< sweep file (JSON or YAML); empty when joining
  std::string base_file;               ///< --base: train config when the sweep file has no base
  std::string name;                    ///< empty: the file's `name`, else the file's stem
  std::string storage_url;             ///< as given (printed masked)
  std::vector<std::string> overrides;  ///< --set KEY=VALUE for the base
  std::optional<int64_t> max_epochs;
  bool join = false;  ///< --worker: run the stored sweep `name`
  int workers = 1;
  int threads = 0;
  std::optional<double> time_budget;
  double stale_after = 120;
  std::filesystem::path out;  ///< trial run folders; empty: runs/sweeps/NAME
  std::optional<std::string> data_root;
};

/// A sweep ready to run: its resolved name, its config (as stored) and the workers' options.
struct Session {
  std::string name;
  SweepConfig config;
  RunOptions run;
};

/// Rejects option combinations that cannot mean anything. Throws ConfigError.
void check_session_options(const SessionOptions& options);

/// The stored sweep must be the one requested; only run_cap may grow or shrink. Throws
/// ConfigError naming the first differing JSON path.
void check_same_sweep(const std::string& name, const std::string& storage_url, const json& stored,
                      const json& requested);

/// Parses the sweep file, stores it under its name, or checks it against the sweep stored
/// before (a changed run_cap is stored). Fills in options.name when it was empty.
SweepConfig create_or_continue(Storage& storage, SessionOptions& options);

/// The stored sweep `options.name`, for a worker that joins it. Throws ConfigError when it does
/// not exist or when options only meant for creating a sweep are given.
SweepConfig join_existing(Storage& storage, const SessionOptions& options);

/// The workers' options for sweep `name`.
RunOptions make_run_options(const SessionOptions& options, const std::string& name);

/// check_session_options, then join_existing or create_or_continue, then make_run_options.
Session open_session(Storage& storage, SessionOptions options);

/// The sweep a report is about: `name`, or the only sweep in storage when empty. Throws
/// ConfigError listing the stored sweeps when there is no such sweep.
std::string resolve_sweep_name(Storage& storage, const std::string& name,
                               const std::string& storage_url);

}  // namespace garbage::sweep
