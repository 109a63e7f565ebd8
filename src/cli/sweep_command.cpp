#include <cstdio>
#include <filesystem>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "garbage/cli/commands.hpp"
#include "garbage/cli/common_options.hpp"
#include "garbage/core/interrupt.hpp"
#include "garbage/sweep/report.hpp"
#include "garbage/sweep/runner.hpp"
#include "garbage/sweep/session.hpp"
#include "garbage/sweep/storage.hpp"
#include "garbage/train/trainer.hpp"

namespace garbage::cli {
namespace {

namespace fs = std::filesystem;
constexpr const char* kDefaultStorage = "sqlite:///runs/sweeps.db";

struct SweepOptions {
  std::string config, base, name, storage = kDefaultStorage, out;
  std::optional<std::string> data;
  std::vector<std::string> overrides;
  int workers = 1, threads = 0;
  int64_t max_epochs = 0;
  double time_budget = 0, stale_after = 120;
  bool worker = false, create_only = false;
};

struct CopyOptions {
  std::string from, to, name;
};

struct ReportOptions {
  std::string name, storage = kDefaultStorage, out;
  bool json = false;
};

sweep::SessionOptions session_options(const SweepOptions& o) {
  sweep::SessionOptions s;
  s.config_file = o.config;
  s.base_file = o.base;
  s.name = o.name;
  s.storage_url = o.storage;
  s.overrides = o.overrides;
  if (o.max_epochs > 0) s.max_epochs = o.max_epochs;
  s.join = o.worker;
  s.workers = o.workers;
  s.threads = o.threads;
  if (o.time_budget > 0) s.time_budget = o.time_budget;
  s.stale_after = o.stale_after;
  s.out = o.out;
  s.data_root = o.data;
  return s;
}

void run_sweep_command(const SweepOptions& o) {
  auto request = session_options(o);
  sweep::check_session_options(request);
  auto storage = sweep::open_storage(o.storage);
  auto session = sweep::open_session(*storage, request);
  const std::string url = sweep::redact_url(o.storage);
  if (o.create_only) {
    spdlog::info(
        "sweep {} is ready in {}: start workers with garbage sweep --name {} --storage {} "
        "--worker",
        session.name, url, session.name, url);
    return;
  }
  install_interrupt_handler();
  auto summary = sweep::run_sweep(*storage, session.config, session.run, sweep::train_trial);
  if (summary.best)
    spdlog::info(
        "sweep {}: this process ran {} trial(s), {} epochs; best {} {:.4f} (trial {}); "
        "garbage sweep report --name {} --storage {}",
        session.name, summary.trials_run, summary.epochs, session.config.metric,
        *summary.best->value, summary.best->id, session.name, url);
  else
    spdlog::info("sweep {}: this process ran {} trial(s); no trial has a result yet", session.name,
                 summary.trials_run);
}

void run_report_command(const ReportOptions& o) {
  auto storage = sweep::open_storage(o.storage);
  const std::string name = sweep::resolve_sweep_name(*storage, o.name, o.storage);
  auto config = sweep::parse_sweep_config(*storage->load_sweep(name), "sweep " + name);
  auto trials = storage->trials(name);
  auto report = sweep::build_report(name, config, trials);
  fs::path out = o.out.empty() ? fs::path("runs/sweeps") / name / "report" : fs::path(o.out);
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

void run_copy_command(const CopyOptions& o) {
  auto from = sweep::open_storage(o.from);
  auto to = sweep::open_storage(o.to);
  auto copied = sweep::copy_sweep(*from, *to, o.name);
  spdlog::info("sweep {}: copied with {} trial(s) from {} to {}", o.name, copied,
               sweep::redact_url(o.from), sweep::redact_url(o.to));
}

}  // namespace

void add_sweep_command(CLI::App& app) {
  auto o = std::make_shared<SweepOptions>();
  auto* cmd = app.add_subcommand("sweep",
                                 "hyperparameter sweep: Bayesian/random/grid search with "
                                 "Hyperband early termination");
  set_footer(
      *cmd, R"(  garbage sweep --config configs/sweep_simple_cnn.json
  garbage sweep --config sweep.yaml --base configs/simple_cnn.json   # a cloud-style YAML file
  garbage sweep --config configs/sweep_simple_cnn.json --name s1 --workers 2 --max-epochs 9 \
      --set data.subset=0.3 model.img_size=32 preprocess.resize=32 --time-budget 3600
  garbage sweep --config configs/sweep_simple_cnn.json --name s1 --create-only
  garbage sweep --name s1 --worker &          # more workers, any number of processes
  garbage sweep report --name s1 [--json]
  # many hosts, one PostgreSQL database (password from PGPASSWORD or ~/.pgpass):
  garbage sweep --config configs/sweep_simple_cnn.json --name s1 --create-only \
      --storage postgresql://me@lab-db:5432/sweeps
  garbage sweep --name s1 --worker --storage postgresql://me@lab-db:5432/sweeps   # on each host)",
      {R"(The sweep file is the common sweep schema (method, metric, parameters, early_terminate,
run_cap) plus `base`: the train config every trial starts from. Trials, their per-epoch metrics
and heartbeats live in --storage; stopping and restarting the same command continues the sweep.
Sweep files are JSON (comments allowed) or YAML; a file without `base` takes --base. Trial run
folders: runs/sweeps/NAME/trial-NNN (or --out). See docs/sweep.md.)"});
  cmd->require_subcommand(0, 1);
  cmd->add_option("-c,--config", o->config, "sweep file (JSON with comments, or YAML)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--base", o->base, "train config for a sweep file without `base`")
      ->check(CLI::ExistingFile);
  cmd->add_option("-n,--name", o->name, "sweep name (default: the file's `name`, else its stem)");
  cmd->add_option("--storage", o->storage,
                  "sqlite:///relative.db, sqlite:////absolute.db or "
                  "postgresql://USER[:PASSWORD]@HOST[:PORT]/DB (default " +
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
  add_data_option(*cmd, o->data, "data root for the trials (see garbage train --help)");
  cmd->add_option("-o,--out", o->out, "folder for the trials' run folders");
  add_set_option(*cmd, o->overrides);

  auto r = std::make_shared<ReportOptions>();
  auto* report = cmd->add_subcommand("report", "rank a sweep's trials and explain its parameters");
  set_footer(
      *report, R"(  garbage sweep report --name s1
  garbage sweep report --name s1 --storage sqlite:///runs/sweeps.db --json > s1.json)",
      {R"(Prints the ranked trials and each parameter's importance (random forest) and correlation with
the metric; writes report.json, best_config.json (ready for garbage train --config),
parallel_coordinates.png and metric_vs_trial.png to --out (default runs/sweeps/NAME/report).)"});
  report->add_option("-n,--name", r->name, "sweep name (default: the only sweep in storage)");
  report->add_option("--storage", r->storage, "as for garbage sweep");
  add_json_flag(*report, r->json, "print the report as JSON on stdout");
  report->add_option("-o,--out", r->out, "folder for the report files");
  report->callback([r] { run_report_command(*r); });

  auto c = std::make_shared<CopyOptions>();
  auto* copy =
      cmd->add_subcommand("copy", "copy a sweep (config, trials, metrics) between storages");
  set_footer(
      *copy,
      R"(  garbage sweep copy --from sqlite:///runs/sweeps.db --to postgresql://me@lab-db/sweeps --name s1
  garbage sweep copy --from postgresql://me@lab-db/sweeps --to sqlite:///s1.db --name s1)",
      {R"(Trials keep their ids, status, attempts, metrics, run folders and notes. The destination must
not hold trials of that sweep yet. Passwords in URLs are never printed.)"});
  copy->add_option("--from", c->from, "storage URL to read")->required();
  copy->add_option("--to", c->to, "storage URL to write")->required();
  copy->add_option("-n,--name", c->name, "sweep name")->required();
  copy->callback([c] { run_copy_command(*c); });

  cmd->callback([o, report, copy] {
    if (report->parsed() || copy->parsed()) return;
    run_sweep_command(*o);
  });
}

}  // namespace garbage::cli
