#include "garbage/data/dataset.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "garbage/core/errors.hpp"
#include "garbage/core/runtime.hpp"

namespace garbage::data {
namespace fs = std::filesystem;

namespace {

constexpr const char* kTrashnetSplitPrefix = "one-indexed-files-notrash_";
constexpr const char* kTrashnetImageDir = "dataset-resized";

std::string to_lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

fs::path trashnet_split_file(const fs::path& root, Split split) {
  return root / (std::string(kTrashnetSplitPrefix) + to_string(split) + ".txt");
}

// splitmix64 decorrelates nearby seeds (seed, seed+1, class 0, class 1, ...).
uint64_t class_seed(uint64_t seed, size_t class_index) {
  return splitmix64(splitmix64(seed) ^ class_index);
}

void validate_options(const DatasetOptions& opts) {
  if (opts.val_fraction < 0.0 || opts.test_fraction < 0.0 ||
      opts.val_fraction + opts.test_fraction >= 1.0) {
    throw ConfigError("val_fraction and test_fraction must be >= 0 and sum to less than 1 (got " +
                      std::to_string(opts.val_fraction) + " and " +
                      std::to_string(opts.test_fraction) + ")");
  }
  if (!(opts.subset > 0.0 && opts.subset <= 1.0)) {
    throw ConfigError("subset must be in (0, 1] (got " + std::to_string(opts.subset) + ")");
  }
}

// Parses "name label" from one line of a TrashNet split file; false for blank lines.
bool parse_split_line(const std::string& line, const fs::path& file, size_t line_no,
                      std::string& name, int64_t& label) {
  std::istringstream in(line);
  if (!(in >> name)) return false;  // blank or whitespace-only (incl. a trailing '\r')
  std::string extra;
  if (!(in >> label) || (in >> extra)) {
    throw DataError("malformed line " + std::to_string(line_no) + " in split file " +
                    file.string() + ": expected '<file name> <label>', got '" + line + "'");
  }
  return true;
}

DatasetIndex index_trashnet(const DatasetOptions& opts, Split split) {
  const fs::path root(opts.root);
  const fs::path file = trashnet_split_file(root, split);
  std::ifstream in(file);
  if (!in) throw DataError("TrashNet split file missing or unreadable: " + file.string());

  const auto& classes = trashnet_classes();
  DatasetIndex index;
  index.class_names = classes;
  std::string line, name;
  int64_t label = 0;
  for (size_t line_no = 1; std::getline(in, line); ++line_no) {
    if (!parse_split_line(line, file, line_no, name, label)) continue;
    if (label < 1 || label > static_cast<int64_t>(classes.size())) {
      throw DataError("label " + std::to_string(label) + " out of range 1.." +
                      std::to_string(classes.size()) + " at line " + std::to_string(line_no) +
                      " of split file " + file.string());
    }
    const fs::path image = root / kTrashnetImageDir / classes[label - 1] / name;
    if (!fs::is_regular_file(image)) {
      if (opts.on_bad_file == BadFilePolicy::error) {
        throw DataError("image listed at line " + std::to_string(line_no) + " of " + file.string() +
                        " does not exist: " + image.string());
      }
      spdlog::warn("skipping missing image {} (listed in {}:{})", image.string(), file.string(),
                   line_no);
      ++index.missing_files;
      continue;
    }
    index.samples.push_back({image.string(), label - 1});
  }
  return index;
}

std::vector<fs::path> sorted_children(const fs::path& dir, bool want_dirs) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.') continue;  // .DS_Store, .ipynb_checkpoints, ...
    if (want_dirs ? entry.is_directory() : (entry.is_regular_file() && is_image_file(entry.path())))
      out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Cuts one class's shuffled files into test, val and train; returns the requested part.
std::vector<fs::path> folder_split_part(std::vector<fs::path> files, const DatasetOptions& opts,
                                        size_t class_index, Split split) {
  std::mt19937_64 rng(class_seed(opts.split_seed, class_index));
  std::shuffle(files.begin(), files.end(), rng);
  const size_t n = files.size();
  const size_t n_test = std::min(n, static_cast<size_t>(std::llround(n * opts.test_fraction)));
  const size_t n_val =
      std::min(n - n_test, static_cast<size_t>(std::llround(n * opts.val_fraction)));
  size_t begin = 0, end = n_test;
  if (split == Split::val) begin = n_test, end = n_test + n_val;
  if (split == Split::train) begin = n_test + n_val, end = n;
  std::vector<fs::path> part(files.begin() + begin, files.begin() + end);
  std::sort(part.begin(), part.end());
  return part;
}

DatasetIndex index_folder(const DatasetOptions& opts, Split split) {
  const fs::path root(opts.root);
  const std::vector<fs::path> class_dirs = sorted_children(root, /*want_dirs=*/true);
  if (class_dirs.empty()) throw DataError("no class folders found under " + root.string());

  DatasetIndex index;
  for (size_t c = 0; c < class_dirs.size(); ++c) {
    index.class_names.push_back(class_dirs[c].filename().string());
    std::vector<fs::path> files = sorted_children(class_dirs[c], /*want_dirs=*/false);
    if (files.empty()) {
      throw DataError("class folder contains no images: " + class_dirs[c].string());
    }
    for (const auto& path : folder_split_part(std::move(files), opts, c, split)) {
      index.samples.push_back({path.string(), static_cast<int64_t>(c)});
    }
  }
  return index;
}

// Keeps a stratified, seeded fraction of every class, in the original order.
void apply_subset(DatasetIndex& index, double fraction, uint64_t seed) {
  if (fraction >= 1.0) return;
  std::vector<std::vector<size_t>> by_class(index.class_names.size());
  for (size_t i = 0; i < index.samples.size(); ++i) {
    by_class[static_cast<size_t>(index.samples[i].label)].push_back(i);
  }
  std::vector<size_t> keep;
  for (size_t c = 0; c < by_class.size(); ++c) {
    auto& members = by_class[c];
    if (members.empty()) continue;
    std::mt19937_64 rng(class_seed(seed, c));
    std::shuffle(members.begin(), members.end(), rng);
    const size_t n = std::max<size_t>(1, std::llround(members.size() * fraction));
    keep.insert(keep.end(), members.begin(), members.begin() + std::min(n, members.size()));
  }
  std::sort(keep.begin(), keep.end());
  std::vector<Sample> kept;
  kept.reserve(keep.size());
  for (size_t i : keep) kept.push_back(std::move(index.samples[i]));
  index.samples = std::move(kept);
}

}  // namespace

bool is_image_file(const fs::path& path) {
  static const std::set<std::string> kExtensions = {".jpg",  ".jpeg", ".png", ".bmp",
                                                    ".webp", ".tif",  ".tiff"};
  return kExtensions.count(to_lower(path.extension().string())) > 0;
}

Split parse_split(const std::string& name) {
  if (name == "train") return Split::train;
  if (name == "val") return Split::val;
  if (name == "test") return Split::test;
  throw ConfigError("unknown split '" + name + "' (expected train, val or test)");
}

std::string to_string(Split split) {
  switch (split) {
    case Split::train:
      return "train";
    case Split::val:
      return "val";
    case Split::test:
      return "test";
  }
  return "unknown";
}

BadFilePolicy parse_bad_file_policy(const std::string& name) {
  if (name == "skip") return BadFilePolicy::skip;
  if (name == "error") return BadFilePolicy::error;
  throw ConfigError("unknown bad-file policy '" + name + "' (expected skip or error)");
}

const std::vector<std::string>& trashnet_classes() {
  static const std::vector<std::string> kClasses = {"glass",   "paper", "cardboard",
                                                    "plastic", "metal", "trash"};
  return kClasses;
}

std::string detect_layout(const std::string& root) {
  return fs::is_regular_file(trashnet_split_file(root, Split::train)) ? "trashnet" : "folder";
}

DatasetIndex index_split(const DatasetOptions& opts, Split split) {
  validate_options(opts);
  if (opts.root.empty() || !fs::is_directory(opts.root)) {
    throw DataError("data root does not exist or is not a folder: '" + opts.root + "'");
  }
  const std::string layout = opts.layout == "auto" ? detect_layout(opts.root) : opts.layout;
  DatasetIndex index;
  if (layout == "trashnet") {
    index = index_trashnet(opts, split);
  } else if (layout == "folder") {
    index = index_folder(opts, split);
  } else {
    throw ConfigError("unknown data layout '" + opts.layout +
                      "' (expected auto, trashnet or folder)");
  }
  apply_subset(index, opts.subset, opts.subset_seed);
  spdlog::debug("indexed {} split of {} ({} layout): {} samples, {} missing", to_string(split),
                opts.root, layout, index.samples.size(), index.missing_files);
  return index;
}

}  // namespace garbage::data
