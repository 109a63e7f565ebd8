#include "garbage/data/image.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "garbage/core/errors.hpp"
#include "test_util.hpp"

namespace garbage::data {
namespace {

namespace fs = std::filesystem;
using garbage::testing::pattern_bgr;
using garbage::testing::TempDir;
using garbage::testing::write_image;
using garbage::testing::write_text;

// Decoding must fail with a DataError whose message names the file.
void expect_decode_error(const fs::path& path) {
  try {
    decode_rgb8(path.string());
    ADD_FAILURE() << "no DataError for " << path;
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
}

TEST(DecodeRgb8, ColorPngBecomesRgb) {
  TempDir dir;
  const fs::path file = dir.path() / "color.png";
  write_image(file, 16, 12, 3);
  const cv::Mat bgr = pattern_bgr(16, 12, 3);
  const cv::Mat rgb = decode_rgb8(file.string());
  ASSERT_EQ(rgb.type(), CV_8UC3);
  ASSERT_EQ(rgb.size(), cv::Size(16, 12));
  const cv::Vec3b a = bgr.at<cv::Vec3b>(5, 7), b = rgb.at<cv::Vec3b>(5, 7);
  EXPECT_EQ(b[0], a[2]);
  EXPECT_EQ(b[1], a[1]);
  EXPECT_EQ(b[2], a[0]);
}

TEST(DecodeRgb8, GrayAlphaAndSixteenBitPngs) {
  TempDir dir;
  cv::Mat gray(8, 8, CV_8UC1, cv::Scalar(77));
  cv::imwrite((dir.path() / "gray.png").string(), gray);
  cv::Mat bgra(8, 8, CV_8UC4, cv::Scalar(10, 20, 30, 0));  // fully transparent
  cv::imwrite((dir.path() / "rgba.png").string(), bgra);
  cv::Mat deep(8, 8, CV_16UC3, cv::Scalar(65535, 257 * 100, 0));
  cv::imwrite((dir.path() / "deep.png").string(), deep);

  const cv::Mat g = decode_rgb8((dir.path() / "gray.png").string());
  ASSERT_EQ(g.type(), CV_8UC3);
  EXPECT_EQ(g.at<cv::Vec3b>(3, 3), cv::Vec3b(77, 77, 77));

  const cv::Mat a = decode_rgb8((dir.path() / "rgba.png").string());
  ASSERT_EQ(a.type(), CV_8UC3);
  EXPECT_EQ(a.at<cv::Vec3b>(0, 0), cv::Vec3b(30, 20, 10));  // alpha dropped, not premultiplied

  const cv::Mat d = decode_rgb8((dir.path() / "deep.png").string());
  ASSERT_EQ(d.type(), CV_8UC3);
  EXPECT_EQ(d.at<cv::Vec3b>(7, 7), cv::Vec3b(0, 100, 255));
}

TEST(DecodeRgb8, FloatTiffIsScaledFromUnitRange) {
  TempDir dir;
  const fs::path file = dir.path() / "float.tiff";
  cv::Mat f(4, 4, CV_32FC3, cv::Scalar(0.0, 0.25, 1.0));
  // OpenCV's default for 3-channel float TIFF is lossy SGILOG; store it uncompressed.
  if (!cv::imwrite(file.string(), f, {cv::IMWRITE_TIFF_COMPRESSION, 1}))
    GTEST_SKIP() << "this OpenCV cannot write float TIFF";
  const cv::Mat rgb = decode_rgb8(file.string());
  ASSERT_EQ(rgb.type(), CV_8UC3);
  EXPECT_EQ(rgb.at<cv::Vec3b>(1, 1), cv::Vec3b(255, 64, 0));  // 0.25 * 255 = 63.75
}

TEST(DecodeRgb8, BadFilesThrowNamingThePath) {
  TempDir dir;
  expect_decode_error(dir.path() / "does-not-exist.jpg");
  write_text(dir.path() / "empty.jpg", "");
  expect_decode_error(dir.path() / "empty.jpg");
  write_text(dir.path() / "notes.jpg", "this is a text file, not a JPEG\n");
  expect_decode_error(dir.path() / "notes.jpg");
  write_text(dir.path() / "noise.png", std::string("\x89PNG\r\n\x1a\n\x01\x02garbage", 18));
  expect_decode_error(dir.path() / "noise.png");
}

// OpenCV tries every codec on an unknown signature; Debian's GDCM (DICOM) reader aborts on a
// malformed file with "DICM" at byte 128 (found by fuzz_image). Such files never reach OpenCV.
TEST(DecodeRgb8, OnlyImageSignaturesReachOpenCv) {
  std::vector<uchar> dicom(140, 0xCB);
  std::memcpy(dicom.data() + 128, "DICM", 4);
  try {
    decode_rgb8_bytes(dicom, "scan.png");
    FAIL() << "a DICOM-like file decoded";
  } catch (const garbage::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("scan.png: not a JPEG, PNG, BMP, WebP or TIFF file"),
              std::string::npos)
        << e.what();
  }
}

TEST(DecodeRgb8, TruncatedJpegDecodesPartiallyOrThrows) {
  TempDir dir;
  const fs::path file = dir.path() / "cut.jpg";
  write_image(file, 64, 48, 1);
  const auto full = fs::file_size(file);
  fs::resize_file(file, full * 3 / 10);
  try {
    const cv::Mat rgb = decode_rgb8(file.string());
    EXPECT_EQ(rgb.type(), CV_8UC3);
    EXPECT_EQ(rgb.size(), cv::Size(64, 48));
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("cut.jpg"), std::string::npos) << e.what();
  }
}

std::vector<uint8_t> file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

TEST(ImageStructure, CompleteJpegAndPngPassAndReportTheirSize) {
  TempDir dir;
  for (const char* name : {"a.jpg", "a.png"}) {
    write_image(dir.path() / name, 40, 30, 3);
    const auto bytes = file_bytes(dir.path() / name);
    const ImageStructure s = inspect_image_structure(bytes.data(), bytes.size());
    EXPECT_EQ(s.problem, "") << name;
    EXPECT_EQ(s.width, 40) << name;
    EXPECT_EQ(s.height, 30) << name;
  }
  std::vector<int> progressive = {cv::IMWRITE_JPEG_PROGRESSIVE, 1, cv::IMWRITE_JPEG_RST_INTERVAL,
                                  2};
  cv::imwrite((dir.path() / "p.jpg").string(), testing::pattern_bgr(64, 48, 1), progressive);
  const auto bytes = file_bytes(dir.path() / "p.jpg");
  EXPECT_EQ(inspect_image_structure(bytes.data(), bytes.size()).problem, "");
}

TEST(ImageStructure, TruncatedOrDamagedFilesAreNamed) {
  TempDir dir;
  write_image(dir.path() / "a.jpg", 64, 48, 1);
  auto jpeg = file_bytes(dir.path() / "a.jpg");
  auto cut = std::vector<uint8_t>(jpeg.begin(), jpeg.end() - 2);  // just the EOI marker gone
  EXPECT_NE(inspect_image_structure(cut.data(), cut.size()).problem.find("truncated"),
            std::string::npos);
  write_image(dir.path() / "a.png", 20, 10, 1);
  auto png = file_bytes(dir.path() / "a.png");
  auto bad_crc = png;
  bad_crc[png.size() - 14] ^= 0x01;  // inside the last IDAT chunk's CRC
  EXPECT_NE(inspect_image_structure(bad_crc.data(), bad_crc.size()).problem.find("CRC"),
            std::string::npos);
  auto no_end = std::vector<uint8_t>(png.begin(), png.end() - 12);
  EXPECT_NE(inspect_image_structure(no_end.data(), no_end.size()).problem.find("IEND"),
            std::string::npos);
}

TEST(DecodeRgb8, TruncatedJpegThatStillDecodesIsCorruptNamingTheFile) {
  TempDir dir;
  write_image(dir.path() / "full.jpg", 64, 48, 1);
  auto bytes = file_bytes(dir.path() / "full.jpg");
  bytes.resize(bytes.size() * 9 / 10);
  const fs::path cut = dir.path() / "cut90.jpg";
  write_bytes(cut, bytes);
  try {
    decode_rgb8(cut.string());
    ADD_FAILURE() << "a truncated JPEG was decoded without a word";
  } catch (const CorruptImageError& e) {
    EXPECT_NE(std::string(e.what()).find(cut.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  // The same bytes from memory, and a picture too large to decode, refused before decoding.
  EXPECT_THROW(decode_rgb8_bytes(bytes, "mem.jpg"), CorruptImageError);
  auto huge = file_bytes(dir.path() / "full.jpg");
  for (size_t i = 2; i + 9 < huge.size(); ++i) {
    if (huge[i] == 0xFF && huge[i + 1] == 0xC0) {  // SOF0: height and width follow
      huge[i + 5] = huge[i + 6] = huge[i + 7] = huge[i + 8] = 0xFF;
      break;
    }
  }
  try {
    decode_rgb8_bytes(huge, "huge.jpg");
    ADD_FAILURE() << "65535 x 65535 JPEG decoded";
  } catch (const CorruptImageError&) {
    ADD_FAILURE() << "too large is not corrupt";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("too large"), std::string::npos) << e.what();
  }
}

TEST(ResizeForCache, SquareAndShorterSide) {
  const cv::Mat landscape(100, 200, CV_8UC3, cv::Scalar(1, 2, 3));
  ResizeSpec spec;
  spec.size = 50;
  EXPECT_EQ(resize_for_cache(landscape, spec).size(), cv::Size(50, 50));
  spec.mode = ResizeSpec::Mode::shorter;
  EXPECT_EQ(resize_for_cache(landscape, spec).size(), cv::Size(100, 50));
  const cv::Mat portrait(512, 384, CV_8UC3, cv::Scalar(1, 2, 3));  // 384 wide, 512 high
  spec.size = 300;                                                 // enlarging branch
  EXPECT_EQ(resize_for_cache(portrait, spec).size(), cv::Size(300, 400));
  const cv::Mat up = resize_for_cache(landscape, spec);
  EXPECT_EQ(up.size(), cv::Size(600, 300));
  EXPECT_EQ(up.at<cv::Vec3b>(10, 10), cv::Vec3b(1, 2, 3));  // flat colour survives resampling
}

TEST(CenterCrop, TakesTheMiddle) {
  cv::Mat img(10, 20, CV_8UC1);
  for (int y = 0; y < 10; ++y)
    for (int x = 0; x < 20; ++x) img.at<uchar>(y, x) = static_cast<uchar>(y * 20 + x);
  const cv::Mat c = center_crop(img, 4);
  ASSERT_EQ(c.size(), cv::Size(4, 4));
  EXPECT_EQ(c.at<uchar>(0, 0), img.at<uchar>(3, 8));
  EXPECT_EQ(center_crop(img, 0).size(), img.size());
}

}  // namespace
}  // namespace garbage::data
