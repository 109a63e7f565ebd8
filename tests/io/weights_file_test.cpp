// Weight-file reading: torch.save zip and legacy formats (against PyTorch as oracle), safetensors,
// the unpickler's allow-list, and truncated or garbled input.

#include <cstring>
#include <fstream>
#include <random>

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "../support/python_oracle.hpp"
#include "../support/synthetic_data.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/io/pickle.hpp"
#include "garbage/io/to_torch.hpp"
#include "garbage/io/weights_file.hpp"

namespace garbage::io {
namespace {

using testing::TempDir;

/// A zip archive of stored entries, as torch.save writes them (CRCs left at zero: unchecked).
std::vector<uint8_t> make_zip(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::vector<uint8_t> out, dir;
  auto put = [](std::vector<uint8_t>& v, uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) v.push_back(static_cast<uint8_t>(value >> (8 * i)));
  };
  for (const auto& [name, data] : entries) {
    uint64_t offset = out.size();
    put(out, 0x04034b50, 4);
    put(out, 20, 2), put(out, 0, 2), put(out, 0, 2), put(out, 0, 4), put(out, 0, 4);
    put(out, data.size(), 4), put(out, data.size(), 4), put(out, name.size(), 2), put(out, 0, 2);
    out.insert(out.end(), name.begin(), name.end());
    out.insert(out.end(), data.begin(), data.end());
    put(dir, 0x02014b50, 4);
    put(dir, 20, 2), put(dir, 20, 2), put(dir, 0, 2), put(dir, 0, 2), put(dir, 0, 4);
    put(dir, 0, 4), put(dir, data.size(), 4), put(dir, data.size(), 4);
    put(dir, name.size(), 2), put(dir, 0, 2), put(dir, 0, 2), put(dir, 0, 2), put(dir, 0, 2);
    put(dir, 0, 4), put(dir, offset, 4);
    dir.insert(dir.end(), name.begin(), name.end());
  }
  uint64_t dir_offset = out.size();
  out.insert(out.end(), dir.begin(), dir.end());
  put(out, 0x06054b50, 4), put(out, 0, 2), put(out, 0, 2);
  put(out, entries.size(), 2), put(out, entries.size(), 2);
  put(out, dir.size(), 4), put(out, dir_offset, 4), put(out, 0, 2);
  return out;
}

std::vector<uint8_t> bytes_of(const std::string& s) {
  return {s.begin(), s.end()};
}

/// A string literal with embedded NULs.
template <size_t N>
std::string lit(const char (&s)[N]) {
  return std::string(s, N - 1);
}

// A pickle of os.system("ls") as CPython writes it on Linux: the global is "posix.system".
const std::string kPosixSystemCall =
    lit("\x80\x02"
        "cposix\nsystem\nq\x00X\x02\x00\x00\x00"
        "lsq\x01\x85q\x02Rq\x03.");

TEST(Unpickler, RefusesGlobalsOutsideTheAllowList) {
  for (const std::string& pickle : {kPosixSystemCall,
                                    lit("\x80\x02"
                                        "cos\nsystem\nX\x02\x00\x00\x00"
                                        "ls\x85R."),
                                    lit("\x80\x02"
                                        "cbuiltins\neval\n.")}) {
    auto bytes = bytes_of(pickle);
    size_t pos = 0;
    try {
      unpickle(bytes.data(), bytes.size(), pos, nullptr, "hand-built");
      FAIL() << "a pickle naming a non-allow-listed global was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("refusing to load"), std::string::npos) << e.what();
    }
  }
  // The same, as a weight file in both container formats.
  try {
    read_weights_bytes(bytes_of(kPosixSystemCall), "evil.pth");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'posix.system'"), std::string::npos) << e.what();
  }
  auto zip = make_zip({{"archive/data.pkl", kPosixSystemCall}, {"archive/byteorder", "little"}});
  try {
    read_weights_bytes(zip, "evil.zip.pth");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'posix.system'"), std::string::npos) << e.what();
  }
}

TEST(Unpickler, ReadsContainersAndScalars) {
  // pickle.dumps({"a": [1, -2, 70000, 1.5, None, True], "b": ("x", b"yz")}, protocol=2)
  // with the bytes written as _codecs.encode, exactly as CPython does for protocol 2.
  const char raw[] =
      "\x80\x02\x7d\x71\x00\x28\x58\x01\x00\x00\x00\x61\x71\x01\x5d\x71"
      "\x02\x28\x4b\x01\x4a\xfe\xff\xff\xff\x4a\x70\x11\x01\x00\x47\x3f"
      "\xf8\x00\x00\x00\x00\x00\x00\x4e\x88\x65\x58\x01\x00\x00\x00\x62"
      "\x71\x03\x58\x01\x00\x00\x00\x78\x71\x04\x63\x5f\x63\x6f\x64\x65"
      "\x63\x73\x0a\x65\x6e\x63\x6f\x64\x65\x0a\x71\x05\x58\x02\x00\x00"
      "\x00\x79\x7a\x71\x06\x58\x06\x00\x00\x00\x6c\x61\x74\x69\x6e\x31"
      "\x71\x07\x86\x71\x08\x52\x71\x09\x86\x71\x0a\x75\x2e";
  const std::string p(raw, sizeof raw - 1);
  auto bytes = bytes_of(p);
  size_t pos = 0;
  auto v = unpickle(bytes.data(), bytes.size(), pos, nullptr, "containers");
  ASSERT_EQ(v->kind, PickleValue::Kind::dict);
  auto a = v->get("a");
  ASSERT_TRUE(a);
  ASSERT_EQ(a->items.size(), 6u);
  EXPECT_EQ(a->items[0]->integer, 1);
  EXPECT_EQ(a->items[1]->integer, -2);
  EXPECT_EQ(a->items[2]->integer, 70000);
  EXPECT_DOUBLE_EQ(a->items[3]->floating, 1.5);
  EXPECT_EQ(a->items[4]->kind, PickleValue::Kind::none);
  EXPECT_TRUE(a->items[5]->boolean);
  auto b = v->get("b");
  ASSERT_TRUE(b);
  ASSERT_EQ(b->items.size(), 2u);
  EXPECT_EQ(b->items[1]->kind, PickleValue::Kind::bytes);
  EXPECT_EQ(b->items[1]->text, "yz");
  EXPECT_EQ(pos, bytes.size());
}

class TorchFiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing::have_torchvision()) return;
    dir_ = new TempDir("torchfiles");
    bool ok = false;
    auto out = testing::run_oracle("tensors " + dir_->path().string(), ok);
    if (!ok) {
      delete dir_;
      dir_ = nullptr;
      error_ = out;
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!testing::have_torchvision()) GTEST_SKIP() << "/usr/bin/python3 with torchvision missing";
    ASSERT_TRUE(dir_) << "oracle failed: " << error_;
  }
  static TempDir* dir_;
  static std::string error_;
};
TempDir* TorchFiles::dir_ = nullptr;
std::string TorchFiles::error_;

torch::ScalarType manifest_type(const std::string& name) {
  if (name == "float32") return torch::kFloat32;
  if (name == "float16") return torch::kFloat16;
  if (name == "bfloat16") return torch::kBFloat16;
  if (name == "int64") return torch::kInt64;
  throw std::runtime_error("dtype " + name);
}

TEST_F(TorchFiles, ViewsSharedStoragesAndDtypesMatchPyTorchInBothFormats) {
  nlohmann::json manifest;
  std::ifstream(dir_->path() / "tensors.json") >> manifest;
  for (const std::string format : {"zip", "legacy"}) {
    SCOPED_TRACE(format);
    auto file = read_weights_file(dir_->path() / ("tensors." + format + ".pth"));
    EXPECT_EQ(file.format,
              format == "zip" ? WeightsFormat::torch_zip : WeightsFormat::torch_legacy);
    EXPECT_EQ(file.nested_key, "model");
    EXPECT_TRUE(file.stripped_module_prefix);
    ASSERT_EQ(file.tensors.size(), manifest.size());
    for (const auto& [name, data] : file.tensors) {
      SCOPED_TRACE(name);
      ASSERT_TRUE(manifest.contains(name));
      auto t = to_torch(data, name);
      EXPECT_EQ(t.scalar_type(), manifest_type(manifest[name]["dtype"]));
      EXPECT_EQ(t.sizes().vec(), manifest[name]["shape"].get<std::vector<int64_t>>());
      auto expected = testing::read_bytes(dir_->path() / (name + ".bin"));
      ASSERT_EQ(static_cast<size_t>(t.numel() * t.element_size()), expected.size());
      if (!expected.empty()) {
        EXPECT_EQ(std::memcmp(t.data_ptr(), expected.data(), expected.size()), 0);
      }
    }
  }
}

TEST_F(TorchFiles, SharedStorageIsReadOnce) {
  auto file = read_weights_file(dir_->path() / "tensors.zip.pth");
  const Storage* offset_view = nullptr;
  const Storage* transposed = nullptr;
  for (const auto& [name, t] : file.tensors) {
    if (name == "offset_view") offset_view = t.storage.get();
    if (name == "transposed") transposed = t.storage.get();
  }
  ASSERT_TRUE(offset_view && transposed);
  EXPECT_EQ(offset_view, transposed);
}

TEST_F(TorchFiles, TruncatedFilesGiveErrorsNotCrashes) {
  for (const std::string format : {"zip", "legacy"}) {
    auto bytes = testing::read_u8(dir_->path() / ("tensors." + format + ".pth"));
    for (size_t n = 0; n < bytes.size(); n += 7) {
      std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<long>(n));
      EXPECT_THROW(read_weights_bytes(cut, format + " cut at " + std::to_string(n)), Error)
          << format << " truncated to " << n << " bytes was accepted";
    }
  }
}

TEST_F(TorchFiles, GarbledFilesGiveErrorsOrLoadNeverCrash) {
  std::mt19937 rng(11);
  int errors = 0;
  for (const std::string format : {"zip", "legacy"}) {
    auto bytes = testing::read_u8(dir_->path() / ("tensors." + format + ".pth"));
    for (int trial = 0; trial < 300; ++trial) {
      auto garbled = bytes;
      for (int k = 0; k < 4; ++k)
        garbled[std::uniform_int_distribution<size_t>(0, garbled.size() - 1)(rng)] =
            static_cast<uint8_t>(rng());
      try {
        auto file = read_weights_bytes(garbled, "garbled");
        for (const auto& [name, t] : file.tensors) to_torch(t, name);  // views stay in bounds
      } catch (const Error&) {
        ++errors;
      }
    }
  }
  EXPECT_GT(errors, 0);
}

TEST(Safetensors, HandWrittenFileIsRead) {
  TempDir dir("safetensors");
  std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("__metadata__":{"format":"pt"}})";
  std::string blob(8, '\0');
  for (int i = 0; i < 8; ++i) blob[i] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  float values[2] = {1.5f, -2.0f};
  blob += header;
  blob.append(reinterpret_cast<const char*>(values), sizeof values);
  std::ofstream(dir / "w.safetensors", std::ios::binary) << blob;

  auto file = read_weights_file(dir / "w.safetensors");
  EXPECT_EQ(file.format, WeightsFormat::safetensors);
  ASSERT_EQ(file.tensors.size(), 1u);
  auto t = to_torch(file.tensors[0].second, "w");
  EXPECT_TRUE(torch::equal(t, torch::tensor({1.5f, -2.0f})));

  // Truncated data and a header that lies about sizes are errors.
  std::ofstream(dir / "cut.safetensors", std::ios::binary) << blob.substr(0, blob.size() - 3);
  EXPECT_THROW(read_weights_file(dir / "cut.safetensors"), Error);
}

TEST(Safetensors, RoundTripKeepsValuesOfViews) {
  TempDir dir("safetensors-rt");
  auto base = torch::arange(24, torch::kFloat32).reshape({4, 6});
  StateDict tensors;
  tensors.emplace_back("view", from_torch(base));
  // Make "view" a strided view of its storage: rows 1..3, every other column.
  tensors.back().second.shape = {3, 3};
  tensors.back().second.strides = {6, 2};
  tensors.back().second.storage_offset = 6;
  tensors.emplace_back("long", from_torch(torch::arange(5, torch::kInt64)));
  tensors.emplace_back("half", from_torch(torch::randn({2, 2}).to(torch::kFloat16)));
  write_safetensors(dir / "rt.safetensors", tensors);

  auto file = read_weights_file(dir / "rt.safetensors");
  ASSERT_EQ(file.tensors.size(), 3u);
  EXPECT_TRUE(torch::equal(to_torch(file.tensors[0].second, "view"),
                           base.slice(0, 1, 4).slice(1, 0, 6, 2)));
  EXPECT_TRUE(
      torch::equal(to_torch(file.tensors[1].second, "long"), torch::arange(5, torch::kInt64)));
  EXPECT_TRUE(
      torch::equal(to_torch(file.tensors[2].second, "half"), to_torch(tensors[2].second, "half")));
}

TEST(WeightsFile, OutOfBoundsViewsAndJunkAreErrors) {
  // A view reaching past its storage must be refused before any element is read.
  TensorData t = from_torch(torch::zeros({4}));
  t.shape = {3};
  t.strides = {2};
  EXPECT_THROW(t.check_bounds("view"), Error);
  t.strides = {1};
  t.storage_offset = 2;
  EXPECT_THROW(t.check_bounds("view"), Error);
  t.storage_offset = 1;
  EXPECT_NO_THROW(t.check_bounds("view"));

  EXPECT_THROW(read_weights_bytes({}, "empty"), Error);
  EXPECT_THROW(read_weights_bytes(bytes_of("hello, not a weight file"), "text"), Error);
  EXPECT_THROW(read_weights_file("/nonexistent/file.pth"), Error);
  // A well-formed zip that is not a torch.save archive.
  EXPECT_THROW(read_weights_bytes(make_zip({{"a.txt", "x"}}), "zip"), Error);
  // TorchScript archives (garbage's own checkpoints) are told apart from state_dicts.
  try {
    read_weights_bytes(make_zip({{"ck/data.pkl", lit("\x80\x02}.")}, {"ck/constants.pkl", ""}}),
                       "ck.pt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("TorchScript"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace garbage::io
