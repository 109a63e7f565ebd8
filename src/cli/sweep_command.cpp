#include <cstdio>
#include <filesystem>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "garbage/cli/commands.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/core/interrupt.hpp"
#include "garbage/core/json_io.hpp"
#include "garbage/sweep/report.hpp"
#include "garbage/sweep/runner.hpp"
#include "garbage/sweep/space.hpp"
#include "garbage/sweep/storage.hpp"
#include "garbage/train/trainer.hpp"

namespace garbage::cli {
namespace {

namespace fs = std::filesystem;
using sweep::json;

constexpr const char* kDefaultStorage = "sqlite:///runs/sweeps.db";

struct SweepOptions {
  std::string config, name, storage = kDefaultStorage, data, out;
  std::vector<std::string> overrides;
  int workers = 1, threads = 0;
  int64_t max_epochs = 0;
  double time_budget = 0, stale_after = 120;
  bool worker = false, create_only = false;
};

struct ReportOptions {
  std::string name, storage = kDefaultStorage, out;
  bool json = false;
};

/// The stored sweep must be the one the config describes; only run_cap may grow or shrink.
void check_same_sweep(const std::string& name, const std::string& url, const json& stored,
                      const json& requested) {
  json a = stored, b = requested;
  a.erase("run_cap");
  b.erase("run_cap");
  if (a == b) return;
  auto diff = json::diff(a, b);
  throw ConfigError("sweep " + name + " already exists in " + url +
                    " with a different config (first difference at " +
                    diff.at(0).at("path").get<std::string>() +
                    "); choose another --name, or join it with --worker");
}

sweep::SweepConfig create_or_continue(sweep::Storage& storage, SweepOptions& o) {
  auto raw = load_json_file(o.config);
  sweep::ParseOptions parse;
  parse.overrides = o.overrides;
  if (o.max_epochs > 0) parse.max_epochs = o.max_epochs;
  parse.base_dir = fs::path(o.config).parent_path();
  auto config = sweep::parse_sweep_config(raw, o.config, parse);
  if (o.name.empty())
    o.name = config.name.empty() ? fs::path(o.config).stem().string() : config.name;
  json stored = storage.create_sweep(o.name, config.document);
  check_same_sweep(o.name, o.storage, stored, config.document);
  if (stored.at("run_cap") != config.document.at("run_cap")) {
    spdlog::info("sweep {}: run_cap {} -> {}", o.name, stored.at("run_cap").dump(), config.run_cap);
    storage.update_sweep(o.name, config.document);
  }
  return config;
}

sweep::SweepConfig join_existing(sweep::Storage& storage, const SweepOptions& o) {
  if (o.name.empty()) throw ConfigError("--worker needs --name SWEEP");
  if (!o.config.empty() || !o.overrides.empty() || o.max_epochs > 0)
    throw ConfigError(
        "--worker joins a stored sweep: --config, --set and --max-epochs only apply "
        "when creating one");
  auto doc = storage.load_sweep(o.name);
  if (!doc)
    throw ConfigError("no sweep named " + o.name + " in " + o.storage +
                      "; create it with --config first");
  return sweep::parse_sweep_config(*doc, "sweep " + o.name);
}

void run_sweep_command(SweepOptions& o) {
  if (o.workers < 1) throw ConfigError("--workers must be at least 1");
  if (!o.worker && o.config.empty())
    throw ConfigError("sweep needs --config FILE (or --name S --worker to join a stored sweep)");
  auto storage = sweep::open_storage(o.storage);
  auto config = o.worker ? join_existing(*storage, o) : create_or_continue(*storage, o);
  if (o.create_only) {
    spdlog::info(
        "sweep {} is ready in {}: start workers with garbage sweep --name {} --storage {} "
        "--worker",
        o.name, o.storage, o.name, o.storage);
    return;
  }
  sweep::RunOptions run;
  run.name = o.name;
  run.workers = o.workers;
  run.threads = o.threads;
  if (o.time_budget > 0) run.time_budget = o.time_budget;
  run.out_root = o.out.empty() ? fs::path("runs/sweeps") / o.name : fs::path(o.out);
  if (!o.data.empty()) run.data_root = o.data;
  run.stale_after = o.stale_after;
  install_interrupt_handler();
  auto summary = sweep::run_sweep(*storage, config, run, sweep::train_trial);
  if (summary.best)
    spdlog::info(
        "sweep {}: this process ran {} trial(s), {} epochs; best {} {:.4f} (trial {}); "
        "garbage sweep report --name {} --storage {}",
        o.name, summary.trials_run, summary.epochs, config.metric, *summary.best->value,
        summary.best->id, o.name, o.storage);
  else
    spdlog::info("sweep {}: this process ran {} trial(s); no trial has a result yet", o.name,
                 summary.trials_run);
}

void run_report_command(ReportOptions& o) {
  auto storage = sweep::open_storage(o.storage);
  if (o.name.empty()) {
    auto names = storage->sweep_names();
    if (names.size() != 1)
      throw ConfigError("sweep report needs --name (" + std::to_string(names.size()) +
                        " sweeps in " + o.storage + ")");
    o.name = names[0];
  }
  auto doc = storage->load_sweep(o.name);
  if (!doc) {
    std::string known;
    for (const auto& n : storage->sweep_names()) known += (known.empty() ? "" : ", ") + n;
    throw ConfigError("no sweep named " + o.name + " in " + o.storage +
                      (known.empty() ? "" : " (sweeps: " + known + ")"));
  }
  auto config = sweep::parse_sweep_config(*doc, "sweep " + o.name);
  auto trials = storage->trials(o.name);
  auto report = sweep::build_report(o.name, config, trials);
  fs::path out = o.out.empty() ? fs::path("runs/sweeps") / o.name / "report" : fs::path(o.out);
  sweep::write_report_files(report, config, trials, out);
  if (o.json) {
    std::printf("%s\n", report.data.dump(2).c_str());
  } else {
    std::printf("%s", report.text.c_str());
    std::fflush(stdout);
    spdlog::info("wrote {}/report.json{}, parallel_coordinates.png, metric_vs_trial.png",
                 out.string(), report.best_config ? ", best_config.json" : "");
  }
}

}  // namespace

void add_sweep_command(CLI::App& app) {
  auto o = std::make_shared<SweepOptions>();
  auto* cmd = app.add_subcommand("sweep",
                                 "hyperparameter sweep: Bayesian/random/grid search with "
                                 "Hyperband early termination");
  cmd->footer(R"(Examples:
  garbage sweep --config configs/sweep_simple_cnn.json
  garbage sweep --config configs/sweep_simple_cnn.json --name s1 --workers 2 --max-epochs 9 \
      --set data.subset=0.3 model.img_size=32 preprocess.resize=32 --time-budget 3600
  garbage sweep --config configs/sweep_simple_cnn.json --name s1 --create-only
  garbage sweep --name s1 --worker &          # more workers, any number of processes
  garbage sweep report --name s1 [--json]

The sweep file is the common sweep schema (method, metric, parameters, early_terminate,
run_cap) plus `base`: the train config every trial starts from. Trials, their per-epoch metrics
and heartbeats live in --storage; stopping and restarting the same command continues the sweep.
Trial run folders: runs/sweeps/NAME/trial-NNN (or --out). See docs/sweep.md.)");
  cmd->require_subcommand(0, 1);
  cmd->add_option("-c,--config", o->config, "sweep file (JSON, comments allowed)")
      ->check(CLI::ExistingFile);
  cmd->add_option("-n,--name", o->name, "sweep name (default: the file's `name`, else its stem)");
  cmd->add_option("--storage", o->storage,
                  "sqlite:///relative.db or sqlite:////absolute.db (default " +
                      std::string(kDefaultStorage) + ")");
  cmd->add_option("-w,--workers", o->workers, "trials at once in this process (cores are split)");
  cmd->add_option("--threads", o->threads,
                  "cores this process may use, split among its workers (default: base config "
                  "threads, 0 = all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--worker", o->worker, "join the stored sweep --name (no --config)");
  cmd->add_flag("--create-only", o->create_only, "store the sweep and exit (start workers later)");
  cmd->add_option("--max-epochs", o->max_epochs, "cap every trial's train.epochs")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--time-budget", o->time_budget,
                  "seconds: then no new trials start and running ones stop after their epoch")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--stale-after", o->stale_after,
                  "seconds without heartbeat before another worker re-queues a trial")
      ->check(CLI::PositiveNumber);
  cmd->add_option("-d,--data", o->data, "data root for the trials (see garbage train --help)");
  cmd->add_option("-o,--out", o->out, "folder for the trials' run folders");
  cmd->add_option("--set", o->overrides,
                  "override a base config value: KEY.PATH=VALUE (repeatable)")
      ->take_all();

  auto r = std::make_shared<ReportOptions>();
  auto* report = cmd->add_subcommand("report", "rank a sweep's trials and explain its parameters");
  report->footer(R"(Examples:
  garbage sweep report --name s1
  garbage sweep report --name s1 --storage sqlite:///runs/sweeps.db --json > s1.json

Prints the ranked trials and each parameter's importance (random forest) and correlation with
the metric; writes report.json, best_config.json (ready for garbage train --config),
parallel_coordinates.png and metric_vs_trial.png to --out (default runs/sweeps/NAME/report).)");
  report->add_option("-n,--name", r->name, "sweep name (default: the only sweep in storage)");
  report->add_option("--storage", r->storage, "as for garbage sweep");
  report->add_flag("--json", r->json, "print the report as JSON on stdout");
  report->add_option("-o,--out", r->out, "folder for the report files");
  report->callback([r] { run_report_command(*r); });

  cmd->callback([o, report] {
    if (report->parsed()) return;
    run_sweep_command(*o);
  });
}

}  // namespace garbage::cli
