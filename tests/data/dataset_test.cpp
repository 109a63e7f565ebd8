#include "garbage/data/dataset.hpp"

#include <filesystem>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "garbage/core/errors.hpp"
#include "test_util.hpp"

namespace garbage::data {
namespace {

namespace fs = std::filesystem;
using garbage::testing::TempDir;
using garbage::testing::write_image;
using garbage::testing::write_text;

const std::string kTrashnetRoot = GARBAGE_SOURCE_DIR "/../shared/data/trashnet";

std::string thrown_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const DataError& e) {
    return e.what();
  }
  return "<no DataError thrown>";
}

// root/<class>/img<i>.png with the given per-class counts.
void make_folder_dataset(const fs::path& root, const std::map<std::string, int>& counts) {
  for (const auto& [cls, n] : counts) {
    for (int i = 0; i < n; ++i) write_image(root / cls / ("img" + std::to_string(i) + ".png"));
  }
}

std::set<std::string> paths_of(const DatasetIndex& index) {
  std::set<std::string> out;
  for (const auto& s : index.samples) out.insert(s.path);
  return out;
}

TEST(DatasetNames, ParseAndPrint) {
  EXPECT_EQ(parse_split("train"), Split::train);
  EXPECT_EQ(parse_split("val"), Split::val);
  EXPECT_EQ(to_string(parse_split("test")), "test");
  EXPECT_THROW(parse_split("validation"), ConfigError);
  EXPECT_EQ(parse_bad_file_policy("error"), BadFilePolicy::error);
  EXPECT_EQ(parse_bad_file_policy("skip"), BadFilePolicy::skip);
  EXPECT_THROW(parse_bad_file_policy("ignore"), ConfigError);
  EXPECT_EQ(trashnet_classes(),
            (std::vector<std::string>{"glass", "paper", "cardboard", "plastic", "metal", "trash"}));
}

TEST(TrashnetDataset, CanonicalSplitCounts) {
  if (!fs::exists(fs::path(kTrashnetRoot) / "one-indexed-files-notrash_train.txt")) {
    GTEST_SKIP() << "TrashNet not found at " << kTrashnetRoot;
  }
  EXPECT_EQ(detect_layout(kTrashnetRoot), "trashnet");
  DatasetOptions opts;
  opts.root = kTrashnetRoot;
  const std::map<Split, size_t> expected = {
      {Split::train, 1768}, {Split::val, 328}, {Split::test, 431}};
  for (const auto& [split, count] : expected) {
    const DatasetIndex index = index_split(opts, split);
    EXPECT_EQ(index.samples.size(), count) << to_string(split);
    EXPECT_EQ(index.missing_files, 0u);
    EXPECT_EQ(index.class_names.size(), 6u);
    std::set<int64_t> labels;
    for (const auto& s : index.samples) labels.insert(s.label);
    EXPECT_EQ(labels, (std::set<int64_t>{0, 1, 2, 3, 4, 5})) << to_string(split);
    for (size_t i = 0; i < index.samples.size(); i += index.samples.size() / 5) {
      const Sample& s = index.samples[i];
      EXPECT_TRUE(fs::is_regular_file(s.path)) << s.path;
      // The file lives in the folder of its class.
      EXPECT_EQ(fs::path(s.path).parent_path().filename().string(), index.class_names[s.label]);
    }
  }
}

TEST(TrashnetDataset, MissingImageIsSkippedOrThrows) {
  TempDir dir;
  write_image(dir.path() / "dataset-resized" / "paper" / "paper1.jpg");
  write_text(dir.path() / "one-indexed-files-notrash_train.txt",
             "paper1.jpg 2\r\nghost7.jpg 3\n\n");
  DatasetOptions opts;
  opts.root = dir.str();
  const DatasetIndex index = index_split(opts, Split::train);
  ASSERT_EQ(index.samples.size(), 1u);
  EXPECT_EQ(index.samples[0].label, 1);
  EXPECT_EQ(index.missing_files, 1u);

  opts.on_bad_file = BadFilePolicy::error;
  EXPECT_NE(thrown_message([&] { index_split(opts, Split::train); }).find("ghost7.jpg"),
            std::string::npos);
}

TEST(TrashnetDataset, SplitFileErrorsNameTheFile) {
  TempDir dir;
  write_text(dir.path() / "one-indexed-files-notrash_train.txt", "a.jpg 1\nbroken-line\n");
  write_text(dir.path() / "one-indexed-files-notrash_val.txt", "a.jpg 9\n");
  DatasetOptions opts;
  opts.root = dir.str();
  opts.layout = "trashnet";

  const std::string malformed = thrown_message([&] { index_split(opts, Split::train); });
  EXPECT_NE(malformed.find("one-indexed-files-notrash_train.txt"), std::string::npos) << malformed;
  EXPECT_NE(malformed.find("line 2"), std::string::npos) << malformed;

  const std::string range = thrown_message([&] { index_split(opts, Split::val); });
  EXPECT_NE(range.find("notrash_val.txt"), std::string::npos) << range;
  EXPECT_NE(range.find("out of range"), std::string::npos) << range;

  const std::string missing = thrown_message([&] { index_split(opts, Split::test); });
  EXPECT_NE(missing.find("notrash_test.txt"), std::string::npos) << missing;
}

TEST(FolderDataset, RootErrors) {
  DatasetOptions opts;
  opts.root = "/nonexistent/garbage-data";
  EXPECT_NE(thrown_message([&] { index_split(opts, Split::train); }).find(opts.root),
            std::string::npos);

  TempDir dir;
  opts.root = dir.str();
  EXPECT_EQ(detect_layout(opts.root), "folder");
  EXPECT_NE(thrown_message([&] { index_split(opts, Split::train); }).find(dir.str()),
            std::string::npos);

  make_folder_dataset(dir.path(), {{"a", 3}});
  fs::create_directories(dir.path() / "empty_class");
  write_text(dir.path() / "empty_class" / "notes.txt", "not an image");
  const std::string msg = thrown_message([&] { index_split(opts, Split::train); });
  EXPECT_NE(msg.find("empty_class"), std::string::npos) << msg;
}

TEST(FolderDataset, StratifiedDisjointSplits) {
  TempDir dir;
  make_folder_dataset(dir.path(), {{"cat", 20}, {"dog", 10}});
  write_image(dir.path() / "cat" / "UPPER.JPG");  // extensions are case-insensitive
  DatasetOptions opts;
  opts.root = dir.str();
  opts.val_fraction = 0.2;
  opts.test_fraction = 0.3;

  const DatasetIndex train = index_split(opts, Split::train);
  const DatasetIndex val = index_split(opts, Split::val);
  const DatasetIndex test = index_split(opts, Split::test);
  EXPECT_EQ(train.class_names, (std::vector<std::string>{"cat", "dog"}));
  // cat: 21 -> test 6, val 4, train 11; dog: 10 -> test 3, val 2, train 5.
  EXPECT_EQ(test.samples.size(), 9u);
  EXPECT_EQ(val.samples.size(), 6u);
  EXPECT_EQ(train.samples.size(), 16u);

  std::set<std::string> all;
  for (const auto* part : {&train, &val, &test}) {
    for (const auto& p : paths_of(*part)) EXPECT_TRUE(all.insert(p).second) << "overlap: " << p;
  }
  EXPECT_EQ(all.size(), 31u);
  for (const auto& s : val.samples) {
    EXPECT_EQ(fs::path(s.path).parent_path().filename().string(), val.class_names[s.label]);
  }
}

TEST(FolderDataset, SeededSplitIsDeterministic) {
  TempDir dir;
  make_folder_dataset(dir.path(), {{"a", 30}, {"b", 30}});
  DatasetOptions opts;
  opts.root = dir.str();
  const auto first = paths_of(index_split(opts, Split::val));
  EXPECT_EQ(paths_of(index_split(opts, Split::val)), first);
  opts.split_seed = 7;
  EXPECT_NE(paths_of(index_split(opts, Split::val)), first);
}

TEST(FolderDataset, SubsetKeepsStratifiedFraction) {
  TempDir dir;
  make_folder_dataset(dir.path(), {{"a", 40}, {"b", 20}, {"c", 1}});
  DatasetOptions opts;
  opts.root = dir.str();
  opts.val_fraction = 0.0;
  opts.test_fraction = 0.0;
  opts.subset = 0.25;
  const DatasetIndex index = index_split(opts, Split::train);
  std::map<int64_t, int> per_class;
  for (const auto& s : index.samples) ++per_class[s.label];
  EXPECT_EQ(per_class[0], 10);
  EXPECT_EQ(per_class[1], 5);
  EXPECT_EQ(per_class[2], 1);  // never drop a class entirely
  EXPECT_EQ(paths_of(index_split(opts, Split::train)), paths_of(index));
  opts.subset_seed = 3;
  EXPECT_NE(paths_of(index_split(opts, Split::train)), paths_of(index));

  opts.subset = 0.0;
  EXPECT_THROW(index_split(opts, Split::train), ConfigError);
}

}  // namespace
}  // namespace garbage::data
