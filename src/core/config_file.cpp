#include "garbage/core/config_file.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "garbage/core/json_io.hpp"

namespace garbage {
namespace {

using json = nlohmann::json;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

/// A plain (unquoted) YAML scalar by its spelling, as YAML's core schema reads it.
json plain_scalar(const std::string& text) {
  const std::string l = lower(text);
  if (l.empty() || l == "~" || l == "null") return nullptr;
  if (l == "true") return true;
  if (l == "false") return false;
  errno = 0;
  char* end = nullptr;
  const long long integer = std::strtoll(text.c_str(), &end, 10);
  if (end && *end == '\0' && errno == 0) return integer;
  errno = 0;
  const double number = std::strtod(text.c_str(), &end);
  const bool numeric_start =
      std::isdigit(static_cast<unsigned char>(text[0])) ||
      ((text[0] == '-' || text[0] == '+' || text[0] == '.') && text.size() > 1);
  if (end && *end == '\0' && errno == 0 && numeric_start) return number;
  if (l == ".inf" || l == "+.inf") return std::numeric_limits<double>::infinity();
  if (l == "-.inf") return -std::numeric_limits<double>::infinity();
  return text;
}

json convert(const YAML::Node& node, const std::string& path, std::map<std::string, int>* lines,
             const std::string& source) {
  if (lines && !path.empty()) lines->emplace(path, node.Mark().line + 1);
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      // "!" is the tag of quoted scalars: they stay strings.
      return node.Tag() == "!" ? json(node.Scalar()) : plain_scalar(node.Scalar());
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (size_t i = 0; i < node.size(); ++i)
        out.push_back(convert(node[i], path + "[" + std::to_string(i) + "]", lines, source));
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar())
          throw ConfigError(source + ":" + std::to_string(kv.first.Mark().line + 1) +
                            ": keys must be plain strings");
        const std::string key = kv.first.Scalar();
        const std::string child = path.empty() ? key : path + "." + key;
        if (out.contains(key))
          throw ConfigError(source + ":" + std::to_string(kv.first.Mark().line + 1) + ": " + child +
                            ": duplicate key");
        if (lines) lines->emplace(child, kv.first.Mark().line + 1);
        out[key] = convert(kv.second, child, lines, source);
      }
      return out;
    }
  }
  return nullptr;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path.string() + ": cannot open config file");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

bool is_yaml_path(const std::filesystem::path& path) {
  const std::string ext = lower(path.extension().string());
  return ext == ".yaml" || ext == ".yml";
}

json yaml_to_json(const std::string& text, const std::string& source,
                  std::map<std::string, int>* lines) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(source + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return convert(root, "", lines, source);
}

ConfigDocument load_config_document(const std::filesystem::path& path) {
  ConfigDocument doc;
  doc.source = path.string();
  if (is_yaml_path(path))
    doc.value = yaml_to_json(read_file(path), doc.source, &doc.lines);
  else
    doc.value = load_json_file(path);
  return doc;
}

json load_config_file(const std::filesystem::path& path) {
  return load_config_document(path).value;
}

ConfigError with_line(const ConfigError& error, const ConfigDocument& document) {
  std::string path = error.path();
  while (!path.empty() && !document.lines.count(path)) {
    const auto cut = path.find_last_of(".[");
    path = cut == std::string::npos ? "" : path.substr(0, cut);
  }
  const std::string what = error.what();
  const std::string prefix = document.source + ": ";
  if (path.empty() || what.compare(0, prefix.size(), prefix) != 0) return error;
  return ConfigError(document.source + ":" + std::to_string(document.lines.at(path)) + ": " +
                         what.substr(prefix.size()),
                     error.path());
}

}  // namespace garbage
