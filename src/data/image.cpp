#include "garbage/data/image.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "garbage/core/errors.hpp"
#include "garbage/io/zip_writer.hpp"  // crc32

namespace garbage::data {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& reason) {
  throw DataError("cannot decode image " + path + ": " + reason);
}

std::vector<uchar> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "file missing or unreadable");
  std::vector<uchar> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail(path, "read error");
  if (bytes.empty()) fail(path, "file is empty");
  return bytes;
}

// Brings any depth to 8 bit. Float images are assumed to be in 0..1 (OpenEXR/TIFF convention).
cv::Mat to_depth8(const cv::Mat& img, const std::string& path) {
  cv::Mat out;
  switch (img.depth()) {
    case CV_8U:
      return img;
    case CV_16U:
      img.convertTo(out, CV_8U, 1.0 / 257.0);  // 65535 -> 255 exactly
      return out;
    case CV_32F:
    case CV_64F:
      img.convertTo(out, CV_8U, 255.0);
      return out;
    default:
      fail(path, "unsupported pixel depth " + std::to_string(img.depth()));
  }
}

cv::Mat to_rgb(const cv::Mat& img8, const std::string& path) {
  cv::Mat out;
  switch (img8.channels()) {
    case 1:
      cv::cvtColor(img8, out, cv::COLOR_GRAY2RGB);
      break;
    case 2: {  // gray + alpha: keep the gray plane
      cv::Mat gray;
      cv::extractChannel(img8, gray, 0);
      cv::cvtColor(gray, out, cv::COLOR_GRAY2RGB);
      break;
    }
    case 3:
      cv::cvtColor(img8, out, cv::COLOR_BGR2RGB);
      break;
    case 4:
      cv::cvtColor(img8, out, cv::COLOR_BGRA2RGB);
      break;
    default:
      fail(path, "unsupported channel count " + std::to_string(img8.channels()));
  }
  return out;
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint32_t be16(const uint8_t* p) {
  return (uint32_t{p[0]} << 8) | p[1];
}

bool is_jpeg(const uint8_t* data, size_t size) {
  return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

bool is_png(const uint8_t* data, size_t size) {
  static const uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  return size >= 8 && std::equal(kSignature, kSignature + 8, data);
}

bool starts_with(const uint8_t* data, size_t size, const char* magic, size_t offset = 0) {
  const size_t n = std::strlen(magic);
  return size >= offset + n && std::memcmp(data + offset, magic, n) == 0;
}

/// The formats the data set scanner accepts (.jpg .png .bmp .webp .tif). OpenCV picks a decoder
/// by signature and, for anything else, tries every codec it was built with: Debian's includes
/// GDCM (DICOM), which aborts the process on a malformed file (found by fuzz_image), so only these
/// signatures ever reach cv::imdecode.
bool has_supported_signature(const uint8_t* data, size_t size) {
  return is_jpeg(data, size) || is_png(data, size) || starts_with(data, size, "BM") ||
         (starts_with(data, size, "RIFF") && starts_with(data, size, "WEBP", 8)) ||
         starts_with(data, size, "II*\0") || starts_with(data, size, "MM\0*");
}

// Skips the entropy-coded data after a start-of-scan header; returns the offset of the marker
// that ends it, or sets `problem`. Inside it 0xFF is followed by 0x00 (a stuffed byte), a fill
// 0xFF, or RST0..7 in sequence; libjpeg only warns about anything else and decodes on.
size_t skip_entropy_data(const uint8_t* data, size_t size, size_t i, std::string& problem) {
  int next_restart = 0;
  while (true) {
    const void* ff = i < size ? std::memchr(data + i, 0xFF, size - i) : nullptr;
    if (!ff || static_cast<const uint8_t*>(ff) + 1 >= data + size) {
      problem = "truncated: the JPEG ends inside its image data";
      return size;
    }
    i = static_cast<size_t>(static_cast<const uint8_t*>(ff) - data);
    const uint8_t next = data[i + 1];
    if (next == 0x00) {
      i += 2;
    } else if (next == 0xFF) {
      i += 1;
    } else if (next >= 0xD0 && next <= 0xD7) {
      if ((next & 7) != next_restart) {
        problem = "corrupt JPEG data: restart marker out of sequence";
        return size;
      }
      next_restart = (next_restart + 1) & 7;
      i += 2;
    } else {
      return i;
    }
  }
}

ImageStructure inspect_jpeg(const uint8_t* data, size_t size) {
  ImageStructure out;
  size_t i = 2;  // past SOI
  while (true) {
    if (i >= size) {
      out.problem = "truncated: no JPEG end-of-image marker";
      return out;
    }
    if (data[i] != 0xFF) {
      out.problem = "corrupt JPEG data: stray bytes before a marker at byte " + std::to_string(i);
      return out;
    }
    while (i < size && data[i] == 0xFF) ++i;
    if (i >= size) continue;
    const uint8_t marker = data[i++];
    if (marker == 0xD9) return out;  // EOI: complete (trailing bytes are allowed)
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // no length
    if (marker == 0x00 || marker == 0xD8) {
      out.problem = "corrupt JPEG data: unexpected marker at byte " + std::to_string(i - 1);
      return out;
    }
    if (i + 2 > size) {
      out.problem = "truncated: the JPEG ends inside a segment header";
      return out;
    }
    const uint32_t length = be16(data + i);
    if (length < 2) {
      out.problem = "corrupt JPEG data: segment length " + std::to_string(length);
      return out;
    }
    if (length > size - i) {
      out.problem = "truncated: a JPEG segment runs past the end of the file";
      return out;
    }
    const bool frame =
        marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (frame && length >= 7 && out.width == 0) {
      out.height = be16(data + i + 3);
      out.width = be16(data + i + 5);
    }
    i += length;
    if (marker == 0xDA) {
      i = skip_entropy_data(data, size, i, out.problem);
      if (!out.problem.empty()) return out;
    }
  }
}

ImageStructure inspect_png(const uint8_t* data, size_t size) {
  ImageStructure out;
  size_t i = 8;
  for (bool first = true;; first = false) {
    if (size - i < 12) {
      out.problem = "truncated: no PNG IEND chunk";
      return out;
    }
    const uint32_t length = be32(data + i);
    const std::string type(reinterpret_cast<const char*>(data + i + 4), 4);
    if (length > 0x7FFFFFFFu) {
      out.problem = "corrupt PNG: chunk length " + std::to_string(length);
      return out;
    }
    if (length > size - i - 12) {
      out.problem = "truncated: a PNG chunk runs past the end of the file";
      return out;
    }
    const uint32_t stored = be32(data + i + 8 + length);
    if (io::crc32(data + i + 4, length + 4) != stored) {
      bool printable = std::all_of(type.begin(), type.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
      });
      out.problem = "corrupt PNG: CRC mismatch in chunk " + (printable ? type : "?");
      return out;
    }
    if (first && type == "IHDR" && length >= 8) {
      out.width = be32(data + i + 8);
      out.height = be32(data + i + 12);
    }
    if (type == "IEND") return out;
    i += 12 + static_cast<size_t>(length);
  }
}

int interpolation_for(const cv::Size& from, const cv::Size& to) {
  return static_cast<int64_t>(to.area()) < static_cast<int64_t>(from.area()) ? cv::INTER_AREA
                                                                             : cv::INTER_LINEAR;
}

}  // namespace

ImageStructure inspect_image_structure(const uint8_t* data, size_t size) {
  if (is_jpeg(data, size)) return inspect_jpeg(data, size);
  if (is_png(data, size)) return inspect_png(data, size);
  return {};
}

cv::Mat decode_rgb8(const std::string& path) {
  return decode_rgb8_bytes(read_bytes(path), path);
}

cv::Mat decode_rgb8_bytes(const std::vector<uchar>& bytes, const std::string& path) {
  if (bytes.empty()) fail(path, "file is empty");
  if (!has_supported_signature(bytes.data(), bytes.size()))
    fail(path, "not a JPEG, PNG, BMP, WebP or TIFF file");
  const ImageStructure structure = inspect_image_structure(bytes.data(), bytes.size());
  if (structure.width > 0 && structure.height > kMaxImagePixels / structure.width)
    fail(path, "image of " + std::to_string(structure.width) + " x " +
                   std::to_string(structure.height) + " pixels is too large");
  cv::Mat decoded;
  try {
    // IMREAD_UNCHANGED keeps depth and alpha so we decide the conversion (and can tell an empty
    // file from an undecodable one); note it also skips EXIF orientation.
    decoded = cv::imdecode(bytes, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    fail(path, std::string("OpenCV error: ") + e.what());
  }
  if (decoded.empty()) fail(path, "not a recognised or complete image");
  // Checked after decoding, so that a file no decoder can read counts as undecodable.
  if (!structure.problem.empty())
    throw CorruptImageError("corrupt image " + path + ": " + structure.problem +
                            " (it decodes only partly)");
  return to_rgb(to_depth8(decoded, path), path);
}

void use_single_threaded_opencv() {
  static std::once_flag once;
  std::call_once(once, [] { cv::setNumThreads(1); });
}

cv::Mat resize_for_cache(const cv::Mat& rgb, const ResizeSpec& spec) {
  if (spec.size <= 0)
    throw ConfigError("resize size must be positive, got " + std::to_string(spec.size));
  if (rgb.empty()) throw DataError("resize_for_cache: empty image");
  cv::Size target(spec.size, spec.size);
  if (spec.mode == ResizeSpec::Mode::shorter) {
    const double scale = static_cast<double>(spec.size) / std::min(rgb.cols, rgb.rows);
    // The shorter side is set exactly so rounding never leaves it one pixel short of a crop.
    target.width =
        rgb.cols <= rgb.rows ? spec.size : std::max(spec.size, int(std::lround(rgb.cols * scale)));
    target.height =
        rgb.rows < rgb.cols ? spec.size : std::max(spec.size, int(std::lround(rgb.rows * scale)));
  }
  if (target == rgb.size()) return rgb;
  cv::Mat out;
  cv::resize(rgb, out, target, 0, 0, interpolation_for(rgb.size(), target));
  return out;
}

cv::Mat center_crop(const cv::Mat& rgb, int crop) {
  if (crop <= 0 || (rgb.cols == crop && rgb.rows == crop)) return rgb;
  // A side already shorter than the crop is kept whole rather than padded.
  const int w = std::min(crop, rgb.cols);
  const int h = std::min(crop, rgb.rows);
  return rgb(cv::Rect((rgb.cols - w) / 2, (rgb.rows - h) / 2, w, h));
}

}  // namespace garbage::data
