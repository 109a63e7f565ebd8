#pragma once
// JSON files as users write them: comments allowed, errors naming the file and position.

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace garbage {

using json = nlohmann::json;

/// Parses a JSON file that may contain // and /* */ comments. Throws ConfigError naming the
/// file (and the parser's byte position) when it is missing or malformed.
json load_json_file(const std::filesystem::path& path);

/// Writes `value` pretty-printed through a temporary file and a rename, so readers never see a
/// half-written file.
void write_json_atomic(const std::filesystem::path& path, const json& value);

/// Writes `text` to `path` atomically (temp file in the same folder + rename).
void write_text_atomic(const std::filesystem::path& path, const std::string& text);

/// The candidate closest to `key` by edit distance, or "" when none is plausibly a typo.
std::string nearest_key(const std::string& key, const std::vector<std::string>& candidates);

}  // namespace garbage
