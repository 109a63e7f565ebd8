#pragma once
// The options every command that runs a model shares: --checkpoint CK, or --model NAME
// [--weights FILE] [--num-classes N].

#include <string>

#include "garbage/eval/inference.hpp"

namespace CLI {
class App;
}

namespace garbage::cli {

/// Registers the options on `cmd`, writing into `source` (which must outlive the parse).
/// `weights_required`: --model needs --weights (eval scores a file, not a random model).
void add_model_source_options(CLI::App& cmd, eval::ModelSource& source, bool weights_required);

/// Help text for the footer of commands that take the options.
extern const char* const kModelSourceHelp;

}  // namespace garbage::cli
