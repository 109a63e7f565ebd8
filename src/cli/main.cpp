// garbage: train, evaluate and inspect waste-sorting image classifiers.
// Exit codes: 0 ok, 1 runtime failure, 2 usage/config error, 3 gate failed, 4 some inputs
// failed (predict), 130 interrupted.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <c10/util/Exception.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "garbage/cli/commands.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/core/logging.hpp"
#include "garbage/core/runtime.hpp"

namespace {

constexpr const char* kFooter = R"(Examples:
  garbage train --config configs/simple_cnn.json
  garbage train --config configs/simple_cnn.json --set train.epochs=2 --set data.subset=0.1
  garbage eval --checkpoint runs/simple_cnn/best.pt --split test --min-accuracy 0.86
  garbage predict --checkpoint runs/simple_cnn/best.pt photos/ --top-k 3 --json
  garbage summary --config configs/simple_cnn.json
  garbage sweep --config configs/sweep_simple_cnn.json --workers 2 --max-epochs 9
  garbage sweep report --name sweep_simple_cnn
  garbage export --checkpoint runs/simple_cnn/best.pt --format onnx --output model.onnx
  garbage eval --checkpoint runs/simple_cnn/best.pt --grid out/predictions.png
  garbage explain --checkpoint runs/simple_cnn/best.pt --image glass12.jpg --out out/explain
  garbage bench --model mobilenet_v3_small --batch 1,8,64 --json
  garbage models --json
  source <(garbage completion bash)

Exit codes: 0 ok, 1 runtime failure, 2 usage or config error, 3 gate failed (--min-accuracy),
4 some input files could not be read (predict; the others were classified),
130 interrupted (a checkpoint was saved; continue with --resume).)";

int fail(const std::string& message, garbage::ExitCode code) {
  spdlog::error("{}", message);
  return static_cast<int>(code);
}

std::string first_line(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

/// libgomp (the OpenMP runtime under libtorch and oneDNN) spins idle threads by default. When
/// other processes share the cores, a spinning worker takes the time slice that the thread with
/// the work needs, and every parallel region then waits for a whole slice: the native engine ran
/// MobileNetV3-Small at batch 1 on 2 threads at 9 img/s instead of 440 on a loaded machine.
/// libgomp reads OMP_WAIT_POLICY only when it loads (an environment set in .preinit_array does
/// not reach it), so inference commands restart themselves once with PASSIVE, unless the user
/// chose a policy or a spin count. Training keeps libgomp's default: it was not measured there.
void prefer_passive_openmp_wait(int argc, char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  const std::string command = argc > 1 ? argv[1] : "";
  if (command != "eval" && command != "predict" && command != "bench") return;
  if (setenv("OMP_WAIT_POLICY", "PASSIVE", 0) != 0) return;
  execv("/proc/self/exe", argv);
  // No /proc (or exec refused): carry on with libgomp's default policy.
}

}  // namespace

int main(int argc, char** argv) {
  prefer_passive_openmp_wait(argc, argv);
  garbage::retain_freed_memory();
  CLI::App app{"garbage: train, sweep, evaluate and export TrashNet waste classifiers", "garbage"};
  app.footer(kFooter);
  app.require_subcommand(1);
  app.set_version_flag("--version", "garbage 0.1.0");
  bool verbose = false, quiet = false;
  app.add_flag("-v,--verbose", verbose, "debug logging");
  app.add_flag("-q,--quiet", quiet, "warnings and errors only");
  garbage::cli::add_train_command(app);
  garbage::cli::add_eval_command(app);
  garbage::cli::add_summary_command(app);
  garbage::cli::add_sweep_command(app);
  garbage::cli::add_export_command(app);
  garbage::cli::add_predict_command(app);
  garbage::cli::add_explain_command(app);
  garbage::cli::add_bench_command(app);
  garbage::cli::add_models_command(app);
  garbage::cli::add_completion_command(app);

  // Logging is configured once the flags are known, before any subcommand callback runs.
  app.parse_complete_callback([&] { garbage::setup_logging(verbose, quiet); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "garbage: %s\nRun 'garbage --help' for usage.\n", e.what());
    return static_cast<int>(garbage::ExitCode::usage);
  } catch (const garbage::Error& e) {
    return fail(e.what(), e.code());
  } catch (const c10::Error& e) {
    return fail(first_line(e.what_without_backtrace()), garbage::ExitCode::runtime);
  } catch (const std::bad_alloc&) {
    return fail("out of memory", garbage::ExitCode::runtime);
  } catch (const std::exception& e) {
    return fail(first_line(e.what()), garbage::ExitCode::runtime);
  }
  return 0;
}
