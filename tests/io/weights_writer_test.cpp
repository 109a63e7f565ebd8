// Writing weight files: torch.save zip state_dicts and safetensors, read back bit-exactly by our
// own readers (PyTorch reading them is tested in tests/export), and the pieces they are made of.

#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <set>

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "../support/python_oracle.hpp"
#include "../support/synthetic_data.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/io/pickle.hpp"
#include "garbage/io/pickle_writer.hpp"
#include "garbage/io/to_torch.hpp"
#include "garbage/io/weights_file.hpp"
#include "garbage/io/zip.hpp"
#include "garbage/io/zip_writer.hpp"
#include "garbage/models/classifier.hpp"
#include "garbage/models/registry.hpp"

namespace garbage::io {
namespace {

using testing::TempDir;

/// A tensor of `shape` over a fresh storage of random bytes (any bit pattern: NaNs, denormals).
TensorData random_tensor(DType dtype, std::vector<int64_t> shape, std::mt19937& rng) {
  auto storage = std::make_shared<Storage>();
  storage->dtype = dtype;
  storage->numel = 1;
  for (auto s : shape) storage->numel *= s;
  storage->bytes.resize(static_cast<size_t>(storage->numel) * element_size(dtype));
  for (auto& b : storage->bytes) b = static_cast<uint8_t>(rng());
  if (dtype == DType::boolean)
    for (auto& b : storage->bytes) b &= 1;
  TensorData t;
  t.dtype = dtype;
  t.strides = contiguous_strides(shape);
  t.shape = std::move(shape);
  t.storage = std::move(storage);
  return t;
}

/// Every dtype, a scalar, an empty tensor, a 5-d shape, and views that are not contiguous.
StateDict sample_state_dict() {
  std::mt19937 rng(11);
  StateDict sd;
  sd.emplace_back("conv.weight", random_tensor(DType::float32, {4, 3, 3, 3}, rng));
  sd.emplace_back("half", random_tensor(DType::float16, {5, 2}, rng));
  sd.emplace_back("bf16", random_tensor(DType::bfloat16, {7}, rng));
  sd.emplace_back("bn.num_batches_tracked", random_tensor(DType::int64, {}, rng));
  sd.emplace_back("longs", random_tensor(DType::int64, {3, 4}, rng));
  sd.emplace_back("double", random_tensor(DType::float64, {2, 2}, rng));
  sd.emplace_back("ints", random_tensor(DType::int32, {3}, rng));
  sd.emplace_back("shorts", random_tensor(DType::int16, {3}, rng));
  sd.emplace_back("chars", random_tensor(DType::int8, {3}, rng));
  sd.emplace_back("bytes", random_tensor(DType::uint8, {9}, rng));
  sd.emplace_back("mask", random_tensor(DType::boolean, {2, 3}, rng));
  sd.emplace_back("empty", random_tensor(DType::float32, {0, 3}, rng));
  sd.emplace_back("five_d", random_tensor(DType::float32, {2, 1, 3, 1, 2}, rng));
  sd.emplace_back("big", random_tensor(DType::float32, {70000}, rng));  // numel needs BININT
  auto base = random_tensor(DType::float32, {6, 10}, rng);
  TensorData transposed = base;
  transposed.shape = {10, 6};
  transposed.strides = {1, 10};
  sd.emplace_back("transposed", transposed);
  TensorData window = base;
  window.shape = {4, 4};
  window.storage_offset = 23;  // rows 2..5, columns 3..6
  sd.emplace_back("window", window);
  return sd;
}

/// Row-major elements of a view, gathered independently of contiguous_bytes.
std::vector<uint8_t> gather(const TensorData& t) {
  size_t es = element_size(t.dtype);
  std::vector<uint8_t> out;
  std::vector<int64_t> index(t.shape.size(), 0);
  for (int64_t i = 0; i < t.numel(); ++i) {
    int64_t offset = t.storage_offset;
    for (size_t d = 0; d < index.size(); ++d) offset += index[d] * t.strides[d];
    auto* p = t.storage->bytes.data() + offset * es;
    out.insert(out.end(), p, p + es);
    for (size_t d = index.size(); d-- > 0;) {
      if (++index[d] < t.shape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

void expect_same_tensors(const StateDict& written, const StateDict& read) {
  ASSERT_EQ(read.size(), written.size());
  for (size_t i = 0; i < written.size(); ++i) {
    const auto& [name, t] = written[i];
    SCOPED_TRACE(name);
    EXPECT_EQ(read[i].first, name);  // file order is kept
    EXPECT_EQ(read[i].second.dtype, t.dtype);
    EXPECT_EQ(read[i].second.shape, t.shape);
    EXPECT_EQ(contiguous_bytes(read[i].second, name), gather(t));
  }
}

TEST(Crc32, MatchesTheStandardCheckValueInOneGoAndInChunks) {
  const std::string text = "123456789";
  auto* p = reinterpret_cast<const uint8_t*>(text.data());
  EXPECT_EQ(crc32(p, text.size()), 0xCBF43926u);
  EXPECT_EQ(crc32(p + 4, 5, crc32(p, 4)), 0xCBF43926u);
  EXPECT_EQ(crc32(p, 0), 0u);
}

TEST(PickleWriter, IntegersOfEveryWidthAndLongTuplesReadBack) {
  const std::vector<int64_t> values = {0,
                                       255,
                                       256,
                                       65535,
                                       65536,
                                       -1,
                                       std::numeric_limits<int32_t>::min(),
                                       std::numeric_limits<int32_t>::max(),
                                       int64_t{1} << 40,
                                       -(int64_t{1} << 40),
                                       std::numeric_limits<int64_t>::min(),
                                       std::numeric_limits<int64_t>::max()};
  PickleWriter w;
  w.mark();
  w.int_tuple(values);
  w.int_tuple({});
  w.int_tuple({7, 8});
  w.string("ünïcode ✓");
  w.boolean(true);
  w.none();
  w.tuple_from_mark();
  const auto& bytes = w.finish();
  size_t pos = 0;
  auto v = unpickle(bytes.data(), bytes.size(), pos, nullptr, "written");
  EXPECT_EQ(pos, bytes.size());
  ASSERT_EQ(v->kind, PickleValue::Kind::tuple);
  ASSERT_EQ(v->items.size(), 6u);
  ASSERT_EQ(v->items[0]->items.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    ASSERT_EQ(v->items[0]->items[i]->kind, PickleValue::Kind::integer) << values[i];
    EXPECT_EQ(v->items[0]->items[i]->integer, values[i]);
  }
  EXPECT_TRUE(v->items[1]->items.empty());
  ASSERT_EQ(v->items[2]->items.size(), 2u);
  EXPECT_EQ(v->items[2]->items[1]->integer, 8);
  EXPECT_EQ(v->items[3]->text, "ünïcode ✓");
  EXPECT_TRUE(v->items[4]->boolean);
  EXPECT_EQ(v->items[5]->kind, PickleValue::Kind::none);
  EXPECT_THROW(w.global("nodot"), Error);
}

TEST(PthWriter, RoundTripsEveryDtypeAndViewBitExactly) {
  TempDir dir("pth-writer");
  auto sd = sample_state_dict();
  write_pth(dir / "sd.pth", sd);
  auto file = read_weights_file(dir / "sd.pth");
  EXPECT_EQ(file.format, WeightsFormat::torch_zip);
  EXPECT_TRUE(file.skipped.empty());
  EXPECT_TRUE(file.nested_key.empty());
  expect_same_tensors(sd, file.tensors);
}

TEST(PthWriter, LaysTheArchiveOutAsTorchSaveDoes) {
  TempDir dir("pth-layout");
  auto sd = sample_state_dict();
  write_pth(dir / "sd.pth", sd);
  auto bytes = testing::read_u8(dir / "sd.pth");
  ZipReader zip(bytes.data(), bytes.size(), "sd.pth");
  ASSERT_EQ(zip.entries().size(), sd.size() + 3);
  EXPECT_EQ(zip.entries().front().name, "archive/data.pkl");  // names the archive's folder
  for (const auto& e : zip.entries()) {
    EXPECT_EQ(e.method, 0) << e.name;
    EXPECT_EQ(e.data_offset % ZipWriter::kAlignment, 0u) << e.name;
  }
  auto text = [&](const std::string& name) {
    const auto* e = zip.find(name);
    EXPECT_TRUE(e) << name;
    if (!e) return std::string();
    auto [p, n] = zip.read(*e);
    return std::string(reinterpret_cast<const char*>(p), n);
  };
  EXPECT_EQ(text("archive/version"), "3\n");
  EXPECT_EQ(text("archive/byteorder"), "little");
  EXPECT_EQ(text("archive/data/0").size(), 4u * 3 * 3 * 3 * 4);
}

TEST(PthWriter, StoresCorrectCrcsInBothHeaders) {
  TempDir dir("pth-crc");
  StateDict sd;
  std::mt19937 rng(2);
  sd.emplace_back("w", random_tensor(DType::float32, {33}, rng));
  write_pth(dir / "w.pth", sd);
  auto bytes = testing::read_u8(dir / "w.pth");
  ZipReader zip(bytes.data(), bytes.size(), "w.pth");
  auto le32 = [&](size_t at) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(bytes[at + i]) << (8 * i);
    return v;
  };
  // Walk the local headers: signature, then the CRC at +14, name length at +26, extra at +28.
  size_t at = 0, checked = 0;
  while (le32(at) == 0x04034b50) {
    uint16_t name_len = bytes[at + 26] | bytes[at + 27] << 8;
    uint16_t extra_len = bytes[at + 28] | bytes[at + 29] << 8;
    std::string name(reinterpret_cast<const char*>(&bytes[at + 30]), name_len);
    const auto* e = zip.find(name);
    ASSERT_TRUE(e) << name;
    auto [p, n] = zip.read(*e);
    EXPECT_EQ(le32(at + 14), crc32(p, n)) << name;
    EXPECT_GE(extra_len, 4u);  // PyTorch's "FB" padding field, at least its header
    at = e->data_offset + n;
    ++checked;
  }
  EXPECT_EQ(checked, 4u);
}

TEST(PthWriter, RefusesDuplicateNamesAndBadViews) {
  TempDir dir("pth-bad");
  std::mt19937 rng(3);
  StateDict twice;
  twice.emplace_back("a", random_tensor(DType::float32, {2}, rng));
  twice.emplace_back("a", random_tensor(DType::float32, {2}, rng));
  EXPECT_THROW(write_pth(dir / "twice.pth", twice), Error);
  EXPECT_THROW(write_safetensors(dir / "twice.safetensors", twice), Error);
  StateDict outside;
  outside.emplace_back("a", random_tensor(DType::float32, {2}, rng));
  outside[0].second.shape = {3};  // more than the storage holds
  EXPECT_THROW(write_pth(dir / "outside.pth", outside), Error);
}

/// The header of a safetensors file: its JSON and where the data starts.
std::pair<nlohmann::json, uint64_t> safetensors_header(const std::vector<uint8_t>& bytes) {
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(bytes.at(i)) << (8 * i);
  std::string text(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(n));
  return {nlohmann::json::parse(text), 8 + n};
}

TEST(SafetensorsWriter, HeaderFollowsTheSpecAndCarriesMetadata) {
  TempDir dir("st-writer");
  auto sd = sample_state_dict();
  SafetensorsMetadata meta = {{"format", "garbage"}, {"class_names", R"(["a","b"])"}};
  write_safetensors(dir / "sd.safetensors", sd, meta);
  auto bytes = testing::read_u8(dir / "sd.safetensors");
  auto [header, data_start] = safetensors_header(bytes);
  EXPECT_EQ(data_start % 8, 0u);  // data 8-byte aligned: the header is space-padded
  ASSERT_TRUE(header.contains("__metadata__"));
  EXPECT_EQ(header["__metadata__"], nlohmann::json(meta));
  for (const auto& [k, v] : header["__metadata__"].items()) EXPECT_TRUE(v.is_string()) << k;

  // Sorted by offset, the tensors tile the data section without gaps or overlaps.
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  std::map<std::string, std::string> dtypes = {
      {"conv.weight", "F32"}, {"half", "F16"},   {"bf16", "BF16"},
      {"longs", "I64"},       {"double", "F64"}, {"ints", "I32"},
      {"shorts", "I16"},      {"chars", "I8"},   {"bytes", "U8"},
      {"mask", "BOOL"},       {"five_d", "F32"}, {"bn.num_batches_tracked", "I64"}};
  for (const auto& [name, t] : sd) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(header.contains(name));
    const auto& entry = header[name];
    EXPECT_EQ(entry["shape"].get<std::vector<int64_t>>(), t.shape);
    if (dtypes.count(name)) {
      EXPECT_EQ(entry["dtype"], dtypes[name]);
    }
    auto offsets = entry["data_offsets"].get<std::vector<uint64_t>>();
    ASSERT_EQ(offsets.size(), 2u);
    EXPECT_EQ(offsets[1] - offsets[0], gather(t).size());
    EXPECT_EQ(std::vector<uint8_t>(bytes.begin() + data_start + offsets[0],
                                   bytes.begin() + data_start + offsets[1]),
              gather(t));
    ranges.emplace_back(offsets[0], offsets[1]);
  }
  EXPECT_EQ(header.size(), sd.size() + 1);
  std::sort(ranges.begin(), ranges.end());
  uint64_t expected_begin = 0;
  for (const auto& [b, e] : ranges) {
    EXPECT_EQ(b, expected_begin);
    expected_begin = e;
  }
  EXPECT_EQ(expected_begin, bytes.size() - data_start);

  auto file = read_weights_file(dir / "sd.safetensors");
  EXPECT_EQ(file.format, WeightsFormat::safetensors);
  expect_same_tensors(sd, file.tensors);
}

TEST(ModuleStateDict, NamesEveryParameterAndBufferInTorchvisionOrder) {
  auto model = models::create_model(models::resolve_model_config({{"name", "resnet18"}}, "test"));
  auto sd = module_state_dict(*model);
  std::set<std::string> expected, got;
  for (const auto& p : model->named_parameters()) expected.insert(p.key());
  for (const auto& b : model->named_buffers()) expected.insert(b.key());
  for (const auto& [name, t] : sd) got.insert(name);
  EXPECT_EQ(got, expected);
  EXPECT_EQ(got.size(), sd.size());
  // torchvision's resnet18.state_dict() starts so: a module's parameters, then its buffers.
  const std::vector<std::string> head = {
      "conv1.weight",         "bn1.weight",      "bn1.bias",
      "bn1.running_mean",     "bn1.running_var", "bn1.num_batches_tracked",
      "layer1.0.conv1.weight"};
  ASSERT_GE(sd.size(), head.size());
  for (size_t i = 0; i < head.size(); ++i) EXPECT_EQ(sd[i].first, head[i]);
  EXPECT_EQ(sd[5].second.dtype, DType::int64);
  EXPECT_EQ(sd.back().first, "fc.bias");
  auto weight = to_torch(sd[0].second, "conv1.weight");
  EXPECT_TRUE(torch::equal(weight, model->named_parameters()["conv1.weight"]));
}

}  // namespace
}  // namespace garbage::io
