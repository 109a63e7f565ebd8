#pragma once
// Options several commands share, declared once: the model source (--checkpoint CK, or --model
// NAME [--weights FILE] [--num-classes N]), --threads, --engine, --json, --data, --set, and the
// footer.

#include <optional>
#include <string>
#include <vector>

#include "garbage/loading/inference_model.hpp"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace garbage::cli {

/// Registers the options on `cmd`, writing into `source` (which must outlive the parse).
/// `weights_required`: --model needs --weights (eval scores a file, not a random model).
void add_model_source_options(CLI::App& cmd, loading::ModelSource& source, bool weights_required);

/// Help text for the footer of commands that take the model source options.
extern const char* const kModelSourceHelp;

/// --threads N (0: all cores).
CLI::Option* add_threads_option(CLI::App& cmd, int& threads);

/// --device cpu|cuda|cuda:N|auto (core/device.hpp resolves and checks it).
CLI::Option* add_device_option(CLI::App& cmd, std::string& device);
/// --engine auto|native|torch (the forward pass, engine/runner.hpp); `both` adds that choice
/// (bench runs every batch on each engine).
CLI::Option* add_engine_option(CLI::App& cmd, std::string& engine, bool allow_both = false);
/// --json.
CLI::Option* add_json_flag(CLI::App& cmd, bool& json, const std::string& help);
/// -d,--data ROOT; unset when not given, so the config's or $GARBAGE_DATA applies.
CLI::Option* add_data_option(CLI::App& cmd, std::optional<std::string>& data,
                             const std::string& help);
/// --set KEY.PATH=VALUE (repeatable).
CLI::Option* add_set_option(CLI::App& cmd, std::vector<std::string>& overrides);

/// "Examples:" followed by `examples`, then each of `notes` as its own paragraph.
void set_footer(CLI::App& cmd, const std::string& examples,
                const std::vector<std::string>& notes = {});

}  // namespace garbage::cli
