#pragma once
// Config documents as users write them: JSON with comments, or YAML (.yaml / .yml, as the cloud
// sweep services' files are). Both become one JSON value, validated the same way; for YAML the
// line of every key is kept so validation errors can name it.

#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "garbage/core/errors.hpp"

namespace garbage {

struct ConfigDocument {
  nlohmann::json value;
  std::string source;                ///< the file, as errors name it
  std::map<std::string, int> lines;  ///< dotted key path -> 1-based line (YAML)
};

/// True for .yaml / .yml (any case).
bool is_yaml_path(const std::filesystem::path& path);

/// Reads JSON (comments allowed) or YAML by extension. Throws ConfigError naming the file and
/// line when it is missing or malformed.
ConfigDocument load_config_document(const std::filesystem::path& path);

/// load_config_document(path).value.
nlohmann::json load_config_file(const std::filesystem::path& path);

/// `error` with the line of its config path (or of the nearest enclosing key) added after the
/// file name: "sweep.yaml:12: parameters.lr: ...". Unchanged when no line is known.
ConfigError with_line(const ConfigError& error, const ConfigDocument& document);

/// YAML text as JSON: plain scalars become booleans, integers, numbers or null by their spelling,
/// quoted scalars stay strings. `lines` (optional) receives each key's line.
nlohmann::json yaml_to_json(const std::string& text, const std::string& source,
                            std::map<std::string, int>* lines = nullptr);

}  // namespace garbage
