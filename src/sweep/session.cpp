#include "garbage/sweep/session.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "garbage/core/config_file.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/core/json_io.hpp"

namespace garbage::sweep {
namespace fs = std::filesystem;

void check_session_options(const SessionOptions& o) {
  if (o.workers < 1) throw ConfigError("--workers must be at least 1");
  if (!o.join && o.config_file.empty())
    throw ConfigError("sweep needs --config FILE (or --name S --worker to join a stored sweep)");
}

void check_same_sweep(const std::string& name, const std::string& storage_url, const json& stored,
                      const json& requested) {
  json a = stored, b = requested;
  a.erase("run_cap");
  b.erase("run_cap");
  if (a == b) return;
  auto diff = json::diff(a, b);
  throw ConfigError("sweep " + name + " already exists in " + redact_url(storage_url) +
                    " with a different config (first difference at " +
                    diff.at(0).at("path").get<std::string>() +
                    "); choose another --name, or join it with --worker");
}

SweepConfig create_or_continue(Storage& storage, SessionOptions& o) {
  auto file = load_config_document(o.config_file);
  ParseOptions parse;
  parse.overrides = o.overrides;
  parse.max_epochs = o.max_epochs;
  parse.base_dir = fs::path(o.config_file).parent_path();
  parse.base_file = o.base_file;
  SweepConfig config;
  try {
    config = parse_sweep_config(file.value, file.source, parse);
  } catch (const ConfigError& e) {
    throw with_line(e, file);
  }
  if (o.name.empty())
    o.name = config.name.empty() ? fs::path(o.config_file).stem().string() : config.name;
  json stored = storage.create_sweep(o.name, config.document);
  check_same_sweep(o.name, o.storage_url, stored, config.document);
  if (stored.at("run_cap") != config.document.at("run_cap")) {
    spdlog::info("sweep {}: run_cap {} -> {}", o.name, stored.at("run_cap").dump(), config.run_cap);
    storage.update_sweep(o.name, config.document);
  }
  return config;
}

SweepConfig join_existing(Storage& storage, const SessionOptions& o) {
  if (o.name.empty()) throw ConfigError("--worker needs --name SWEEP");
  if (!o.config_file.empty() || !o.overrides.empty() || o.max_epochs)
    throw ConfigError(
        "--worker joins a stored sweep: --config, --set and --max-epochs only apply "
        "when creating one");
  auto doc = storage.load_sweep(o.name);
  if (!doc)
    throw ConfigError("no sweep named " + o.name + " in " + redact_url(o.storage_url) +
                      "; create it with --config first");
  return parse_sweep_config(*doc, "sweep " + o.name);
}

RunOptions make_run_options(const SessionOptions& o, const std::string& name) {
  RunOptions run;
  run.name = name;
  run.workers = o.workers;
  run.threads = o.threads;
  run.time_budget = o.time_budget;
  run.out_root = o.out.empty() ? fs::path("runs/sweeps") / name : o.out;
  run.data_root = o.data_root;
  run.stale_after = o.stale_after;
  return run;
}

Session open_session(Storage& storage, SessionOptions o) {
  check_session_options(o);
  Session session;
  session.config = o.join ? join_existing(storage, o) : create_or_continue(storage, o);
  session.name = o.name;
  session.run = make_run_options(o, o.name);
  return session;
}

std::string resolve_sweep_name(Storage& storage, const std::string& name,
                               const std::string& storage_url) {
  auto names = storage.sweep_names();
  if (name.empty()) {
    if (names.size() != 1)
      throw ConfigError("sweep report needs --name (" + std::to_string(names.size()) +
                        " sweeps in " + redact_url(storage_url) + ")");
    return names[0];
  }
  if (std::find(names.begin(), names.end(), name) != names.end()) return name;
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  throw ConfigError("no sweep named " + name + " in " + redact_url(storage_url) +
                    (known.empty() ? "" : " (sweeps: " + known + ")"));
}

}  // namespace garbage::sweep
