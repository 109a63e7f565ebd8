#include "garbage/data/cache.hpp"

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "garbage/core/errors.hpp"
#include "garbage/data/pipeline.hpp"
#include "test_util.hpp"

namespace garbage::data {
namespace {

namespace fs = std::filesystem;
using garbage::testing::TempDir;
using garbage::testing::write_image;
using garbage::testing::write_text;

// Six samples: good, corrupt, good, empty, good, text-with-.jpg-extension.
DatasetIndex mixed_index(const TempDir& dir) {
  DatasetIndex index;
  index.class_names = {"a", "b"};
  auto add = [&](const std::string& name, int64_t label) {
    index.samples.push_back({(dir.path() / name).string(), label});
  };
  write_image(dir.path() / "good0.png", 40, 30, 0);
  add("good0.png", 0);
  write_text(dir.path() / "corrupt.jpg", std::string("\xff\xd8\xff\xe0 junk junk junk", 19));
  add("corrupt.jpg", 1);
  write_image(dir.path() / "good1.jpg", 30, 40, 1);
  add("good1.jpg", 1);
  write_text(dir.path() / "empty.png", "");
  add("empty.png", 0);
  write_image(dir.path() / "good2.bmp", 50, 50, 2);
  add("good2.bmp", 0);
  write_text(dir.path() / "readme.jpg", "hello");
  add("readme.jpg", 1);
  return index;
}

TEST(BuildCache, SkipsBadFilesAndKeepsOrder) {
  TempDir dir;
  const DatasetIndex index = mixed_index(dir);
  ResizeSpec spec;
  spec.size = 16;
  std::atomic<size_t> calls{0}, last{0};
  const ImageCache cache =
      build_cache(index, spec, BadFilePolicy::skip, 3, [&](size_t done, size_t total) {
        ++calls;
        EXPECT_EQ(total, 6u);
        last = std::max<size_t>(last, done);
      });
  EXPECT_EQ(calls, 6u);
  EXPECT_EQ(last, 6u);
  EXPECT_EQ(cache.bad_files, 3u);
  ASSERT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.paths, (std::vector<std::string>{index.samples[0].path, index.samples[2].path,
                                                   index.samples[4].path}));
  EXPECT_EQ(cache.labels, (std::vector<int64_t>{0, 1, 0}));
  EXPECT_EQ(cache.class_names, index.class_names);
  for (const auto& img : cache.images) {
    EXPECT_EQ(img.type(), CV_8UC3);
    EXPECT_EQ(img.size(), cv::Size(16, 16));
    EXPECT_TRUE(img.isContinuous());
  }
}

TEST(BuildCache, ErrorPolicyThrowsNamingTheFile) {
  TempDir dir;
  const DatasetIndex index = mixed_index(dir);
  try {
    build_cache(index, ResizeSpec{}, BadFilePolicy::error, 2);
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("corrupt.jpg"), std::string::npos) << e.what();
  }
}

TEST(BuildCache, NothingDecodableThrows) {
  TempDir dir;
  write_text(dir.path() / "x.jpg", "nope");
  DatasetIndex index;
  index.class_names = {"a"};
  index.samples.push_back({(dir.path() / "x.jpg").string(), 0});
  EXPECT_THROW(build_cache(index, ResizeSpec{}, BadFilePolicy::skip, 1), DataError);
  EXPECT_THROW(build_cache(DatasetIndex{}, ResizeSpec{}, BadFilePolicy::skip, 1), DataError);
}

TEST(BuildCache, TruncatedJpegDoesNotCrash) {
  TempDir dir;
  write_image(dir.path() / "ok.jpg", 64, 48, 0);
  write_image(dir.path() / "cut.jpg", 64, 48, 1);
  fs::resize_file(dir.path() / "cut.jpg", fs::file_size(dir.path() / "cut.jpg") * 3 / 10);
  DatasetIndex index;
  index.class_names = {"a"};
  index.samples = {{(dir.path() / "ok.jpg").string(), 0}, {(dir.path() / "cut.jpg").string(), 0}};
  ResizeSpec spec;
  spec.size = 32;
  const ImageCache cache = build_cache(index, spec, BadFilePolicy::skip, 2);
  EXPECT_EQ(cache.size() + cache.bad_files, 2u);
  EXPECT_GE(cache.size(), 1u);
  for (const auto& img : cache.images) EXPECT_EQ(img.size(), cv::Size(32, 32));
}

TEST(BuildCache, CorruptImagesAreCountedApartAndStopTheRunUnderTheErrorPolicy) {
  TempDir dir;
  write_image(dir.path() / "ok.jpg", 64, 48, 0);
  write_image(dir.path() / "cut.jpg", 64, 48, 1);
  fs::resize_file(dir.path() / "cut.jpg", fs::file_size(dir.path() / "cut.jpg") * 9 / 10);
  write_text(dir.path() / "text.jpg", "not an image");
  DatasetIndex index;
  index.class_names = {"a"};
  for (const char* name : {"ok.jpg", "cut.jpg", "text.jpg"})
    index.samples.push_back({(dir.path() / name).string(), 0});
  ResizeSpec spec;
  spec.size = 16;
  const ImageCache cache = build_cache(index, spec, BadFilePolicy::skip, 2);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.bad_files, 2u);
  EXPECT_EQ(cache.corrupt_files, 1u);

  SplitData split;
  split.index.missing_files = 3;
  split.cache = std::make_shared<const ImageCache>(cache);
  const SkippedFiles skipped = skipped_files({&split, &split});
  EXPECT_EQ(skipped.undecodable, 2u);
  EXPECT_EQ(skipped.corrupt, 2u);
  EXPECT_EQ(skipped.missing, 6u);

  index.samples.erase(index.samples.begin() + 2);  // only the corrupt one is bad now
  try {
    build_cache(index, spec, BadFilePolicy::error, 1);
    ADD_FAILURE() << "the error policy let a corrupt image through";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("cut.jpg"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("corrupt"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace garbage::data
