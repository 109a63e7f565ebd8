#pragma once
// Each subcommand registers its options on the app and a callback that calls the library.

namespace CLI {
class App;
}

namespace garbage::cli {

void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_summary_command(CLI::App& app);
void add_sweep_command(CLI::App& app);
void add_export_command(CLI::App& app);
void add_predict_command(CLI::App& app);
void add_explain_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_models_command(CLI::App& app);
/// `garbage completion bash`: generated from `app`'s commands and options, so register it last.
void add_completion_command(CLI::App& app);

}  // namespace garbage::cli
