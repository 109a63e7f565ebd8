#include "garbage/core/json_io.hpp"

#include <fstream>
#include <sstream>

#include "garbage/core/errors.hpp"

namespace garbage {

json load_json_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path.string() + ": cannot open file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return json::parse(buffer.str(), /*cb=*/nullptr, /*allow_exceptions=*/true,
                       /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    throw ConfigError(path.string() + ": invalid JSON at byte " + std::to_string(e.byte) + ": " +
                      e.what());
  } catch (const json::exception& e) {  // e.g. a number beyond double's range (out_of_range)
    throw ConfigError(path.string() + ": invalid JSON: " + e.what());
  }
}

void write_text_atomic(const std::filesystem::path& path, const std::string& text) {
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(tmp.string() + ": cannot open for writing");
    out << text;
    out.flush();
    if (!out) throw Error(tmp.string() + ": write failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error(path.string() + ": cannot replace file: " + ec.message());
}

void write_json_atomic(const std::filesystem::path& path, const json& value) {
  write_text_atomic(path, value.dump(2) + "\n");
}

namespace {
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

std::string nearest_key(const std::string& key, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::string::npos;
  for (const auto& c : candidates) {
    size_t d = edit_distance(key, c);
    if (d < best_distance) best_distance = d, best = c;
  }
  // Beyond about a third of the word, a suggestion is noise rather than a typo fix.
  size_t limit = std::max<size_t>(2, key.size() / 3 + 1);
  return best_distance <= limit ? best : std::string();
}

}  // namespace garbage
