#pragma once
// Which files belong to which split: TrashNet's canonical split files, or a plain
// root/<class>/*.jpg folder split with a stratified, seeded draw. No pixels are read here.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace garbage::data {

enum class Split { train, val, test };

/// "train" | "val" | "test"; anything else throws ConfigError.
Split parse_split(const std::string& name);
std::string to_string(Split split);

struct Sample {
  std::string path;   ///< absolute or root-relative path to the image file
  int64_t label = 0;  ///< zero-based class index
};

struct DatasetIndex {
  std::vector<std::string> class_names;  ///< index = label
  std::vector<Sample> samples;
  size_t missing_files = 0;  ///< entries of a split file whose image does not exist (skipped)
};

enum class BadFilePolicy { skip, error };
BadFilePolicy parse_bad_file_policy(const std::string& name);  ///< "skip" | "error"

struct DatasetOptions {
  std::string root;
  std::string layout = "auto";  ///< auto | trashnet | folder
  double val_fraction = 0.13;   ///< folder layout only
  double test_fraction = 0.17;  ///< folder layout only
  uint64_t split_seed = 42;     ///< folder layout only
  double subset = 1.0;  ///< keep this stratified, seeded fraction of the split (sweeps, tests)
  uint64_t subset_seed = 0;
  BadFilePolicy on_bad_file = BadFilePolicy::skip;
};

/// True for the extensions data sets may hold (.jpg, .png, .webp, ...; any case).
bool is_image_file(const std::filesystem::path& path);

/// TrashNet's class names in the order of its one-indexed labels 1..6.
const std::vector<std::string>& trashnet_classes();

/// "trashnet" when root holds one-indexed-files-notrash_train.txt, else "folder".
std::string detect_layout(const std::string& root);

/// Lists the samples of one split. Throws DataError (naming the file or folder) when the root,
/// a split file or a class folder is missing or empty; a split-file entry naming a missing image
/// is skipped with a warning (counted in missing_files) or throws under BadFilePolicy::error.
DatasetIndex index_split(const DatasetOptions& opts, Split split);

}  // namespace garbage::data
