// Hostile weight files built byte by byte: each of issue 17's attacks is refused with an Error,
// quickly and without a crash or a memory bomb, while the values a file shares stay shared.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "garbage/core/errors.hpp"
#include "garbage/io/pickle.hpp"
#include "garbage/io/printable.hpp"
#include "garbage/io/torch_storage.hpp"
#include "garbage/io/weights_file.hpp"
#include "garbage/io/zip.hpp"
#include "hostile_builders.hpp"

namespace garbage::io {
namespace {

using hostile::Pickle;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string unpickle_error(const Pickle& p) {
  return error_of([&] {
    size_t pos = 0;
    unpickle(p.out.data(), p.out.size(), pos, nullptr, "hostile");
  });
}

std::string weights_error(const std::vector<uint8_t>& bytes) {
  return error_of([&] { read_weights_bytes(bytes, "hostile"); });
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Lists linked through the memo after they were nested: depth counted at insertion would miss
// the chain, and walking or destroying it recursively would overflow the stack.
TEST(HostilePickle, ContainersChangedAfterNestingAreRefused) {
  Pickle p;
  const uint32_t n = 100000;
  for (uint32_t i = 0; i < n; ++i) p.op(']').put(i).op('0');
  for (uint32_t i = 0; i + 1 < n; ++i) p.get(i).get(i + 1).op('a').op('0');
  p.get(0).stop();
  EXPECT_TRUE(contains(unpickle_error(p), "modified after being put in another container"))
      << unpickle_error(p);

  Pickle self;
  self.op(']').put(0).get(0).op('a').stop();
  EXPECT_TRUE(contains(unpickle_error(self), "cannot hold itself")) << unpickle_error(self);
}

TEST(HostilePickle, DeepNestingBuiltInOrderStopsAtTheLimit) {
  Pickle p;
  const uint32_t n = 5000;
  for (uint32_t i = 0; i < n; ++i) p.op(']').put(i).op('0');
  // Innermost first: every list is complete before it is nested, so depth is counted exactly.
  for (uint32_t i = n - 1; i-- > 0;) p.get(i).get(i + 1).op('a').op('0');
  p.get(0).stop();
  EXPECT_TRUE(contains(unpickle_error(p), "nested deeper than 200")) << unpickle_error(p);
}

TEST(HostilePickle, AMillionLevelChainIsWalkedAndDestroyedWithoutRecursion) {
  // Built directly (the unpickler refuses it): the walk must refuse it, teardown must not recurse.
  auto root = std::make_shared<PickleValue>();
  root->kind = PickleValue::Kind::list;
  PickleValue* tail = root.get();
  for (int i = 0; i < 1000000; ++i) {
    auto next = std::make_shared<PickleValue>();
    next->kind = PickleValue::Kind::list;
    tail->items.push_back(next);
    tail = next.get();
  }
  EXPECT_TRUE(contains(error_of([&] { check_all_tensors(root, "chain"); }), "nested deeper"));
  root.reset();  // would overflow the stack if destruction recursed
  SUCCEED();
}

TEST(HostilePickle, OneLongShapeTupleReferencedByManyTensorsIsNotCopied) {
  Pickle p;
  p.mark();
  for (int i = 0; i < 100000; ++i) p.integer(1);
  p.op('t').put(0).op('0');
  p.mark().str("storage").global("torch", "FloatStorage").str("0").str("cpu").integer(1);
  p.op('t').put(1).op('0');
  p.op(']').mark();
  for (int i = 0; i < 10000; ++i) {
    p.global("torch._utils", "_rebuild_tensor_v2").mark().get(1).op('Q').integer(0);
    p.get(0).get(0).op('\x89').op(')').op('t').op('R');
  }
  p.op('e').stop();
  auto bytes = hostile::zip({{"archive/data.pkl", std::string(p.out.begin(), p.out.end())},
                             {"archive/data/0", std::string(4, '\0')}});
  auto start = std::chrono::steady_clock::now();
  auto error = weights_error(bytes);
  EXPECT_TRUE(contains(error, "100000 dimensions (at most 16)")) << error;
  // Copying the tuple per tensor would take 8 GB; refusing it takes milliseconds.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST(HostilePickle, CodecsEncodeOfOneStringIsSharedNotCopied) {
  Pickle p;
  p.str(std::string(100000, 'x')).put(0).op('0');
  p.op(']').mark();
  for (int i = 0; i < 2000; ++i)
    p.global("_codecs", "encode").get(0).str("latin1").op('\x86').op('R');
  p.op('e').stop();
  size_t pos = 0;
  auto list = unpickle(p.out.data(), p.out.size(), pos, nullptr, "codecs");
  ASSERT_EQ(list->items.size(), 2000u);
  EXPECT_EQ(list->items[0]->kind, PickleValue::Kind::bytes);
  EXPECT_EQ(list->items[0]->text.size(), 100000u);
  for (const auto& item : list->items) EXPECT_EQ(item.get(), list->items[0].get());
}

TEST(HostilePickle, AllocationBeyondTheBudgetIsRefused) {
  Pickle p;
  for (int i = 0; i < 2000000; ++i) p.op(']');  // two million lists on the stack
  p.stop();
  EXPECT_LT(pickle_memory_budget(p.out.size()), 2000000u * sizeof(PickleValue));
  EXPECT_TRUE(contains(unpickle_error(p), "MiB of memory")) << unpickle_error(p);
  EXPECT_EQ(pickle_memory_budget(size_t{1} << 40), size_t{512} << 20);
}

/// A zip torch.save file whose state_dict maps `names` to tensors of `numel` floats, all viewing
/// storage "0" (of `storage_numel` floats) through one memoized persistent id.
std::vector<uint8_t> shared_storage_file(const std::vector<std::string>& names, int32_t numel,
                                         int32_t storage_numel, bool memo_key = false) {
  Pickle p;
  p.mark().str("storage").global("torch", "FloatStorage").str("0").str("cpu");
  p.integer(storage_numel).op('t').put(1).op('0');
  if (memo_key) p.str(names.at(0)).put(2).op('0');
  p.global("collections", "OrderedDict").op(')').op('R').mark();
  for (const auto& name : names) {
    if (memo_key)
      p.get(2);
    else
      p.str(name);
    p.global("torch._utils", "_rebuild_tensor_v2").mark().get(1).op('Q').integer(0);
    p.mark().integer(numel).op('t').mark().integer(1).op('t').op('\x89').op(')').op('t').op('R');
  }
  p.op('u').stop();
  return hostile::zip(
      {{"archive/data.pkl", std::string(p.out.begin(), p.out.end())},
       {"archive/data/0", std::string(static_cast<size_t>(storage_numel) * 4, '\0')}});
}

TEST(HostileStateDict, SharedStoragesAreReadOnceButTheirViewsAreCapped) {
  // Tied weights: two tensors viewing one storage are fine, and share it.
  auto tied = read_weights_bytes(shared_storage_file({"a", "b"}, 1000, 1000), "tied");
  ASSERT_EQ(tied.tensors.size(), 2u);
  EXPECT_EQ(tied.tensors[0].second.storage, tied.tensors[1].second.storage);
  // 2000 tensors viewing the same 256 KiB: 500 MiB once copied out, from a file of 400 KiB.
  std::vector<std::string> names;
  for (int i = 0; i < 2000; ++i) names.push_back("t" + std::to_string(i));
  auto error = weights_error(shared_storage_file(names, 65536, 65536));
  EXPECT_TRUE(contains(error, "view more than")) << error;
}

TEST(HostileStateDict, ARepeatedKeyIsRefusedNotCopiedPerReference) {
  auto error = weights_error(shared_storage_file({std::string(4000, 'k'), "x"}, 1, 1, true));
  EXPECT_TRUE(contains(error, "appears twice")) << error;
  auto control = weights_error(shared_storage_file({"conv\x1b[2J.weight"}, 1, 1));
  EXPECT_TRUE(contains(control, "control characters")) << control;
  EXPECT_FALSE(contains(control, "\x1b")) << "escape byte printed verbatim";
  auto long_name = weights_error(shared_storage_file({std::string(5000, 'n')}, 1, 1));
  EXPECT_TRUE(contains(long_name, "too long")) << long_name;
  EXPECT_LT(long_name.size(), 500u) << "the name is quoted whole";
}

TEST(HostileZip, OverlappingAndDuplicateEntriesAreRefused) {
  auto overlap =
      hostile::zip({{"archive/data/0", std::string(1000, 'a')}, {"archive/data/1", "", 0}});
  auto error = error_of([&] { ZipReader(overlap.data(), overlap.size(), "overlap"); });
  EXPECT_TRUE(contains(error, "overlap")) << error;
  auto twice = hostile::zip({{"a", "1"}, {"a", "2"}});
  error = error_of([&] { ZipReader(twice.data(), twice.size(), "twice"); });
  EXPECT_TRUE(contains(error, "appears twice")) << error;
}

TEST(HostileZip, ManyEntriesAreFoundByName) {
  std::vector<hostile::ZipEntrySpec> entries;
  for (int i = 0; i < 50000; ++i) entries.push_back({"archive/data/" + std::to_string(i), "x"});
  auto bytes = hostile::zip(entries);
  ZipReader zip(bytes.data(), bytes.size(), "many");
  ASSERT_EQ(zip.entries().size(), 50000u);
  for (int i = 0; i < 50000; i += 997) {
    const ZipEntry* e = zip.find("archive/data/" + std::to_string(i));
    ASSERT_TRUE(e);
    EXPECT_EQ(e->name, "archive/data/" + std::to_string(i));
  }
  EXPECT_EQ(zip.find("archive/data/50000"), nullptr);
}

TEST(HostileSafetensors, StrictTypesContiguousRangesAndHeaderCap) {
  auto entry = [](const std::string& shape, const std::string& offsets) {
    return R"({"w":{"dtype":"F32","shape":)" + shape + R"(,"data_offsets":)" + offsets + "}}";
  };
  EXPECT_NO_THROW(read_weights_bytes(hostile::safetensors(entry("[2]", "[0,8]"), 8), "ok"));
  for (const char* shape : {"[2.0]", "[true]", "[\"2\"]", "[-2]", "2"})
    EXPECT_TRUE(contains(weights_error(hostile::safetensors(entry(shape, "[0,8]"), 8)), "shape"))
        << shape;
  EXPECT_FALSE(weights_error(hostile::safetensors(entry("[2]", "[0.0,8]"), 8)).empty());
  // Overflowing products of sizes are refused, not wrapped.
  EXPECT_FALSE(weights_error(hostile::safetensors(
                                 entry("[1099511627776,1099511627776,1099511627776]", "[0,8]"), 8))
                   .empty());
  // Ranges: overlapping, leaving a gap, or not reaching the end.
  const std::string two = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  EXPECT_TRUE(contains(weights_error(hostile::safetensors(two, 8)), "contiguous"));
  EXPECT_TRUE(
      contains(weights_error(hostile::safetensors(entry("[2]", "[4,12]"), 12)), "contiguous"));
  EXPECT_TRUE(contains(weights_error(hostile::safetensors(entry("[2]", "[0,8]"), 16)),
                       "after its last tensor"));
  EXPECT_FALSE(weights_error(
                   hostile::safetensors(R"({"__metadata__":{"a":1},"w":{"dtype":"F32","shape":[0],)"
                                        R"("data_offsets":[0,0]}})",
                                        0))
                   .empty());
  // A header length above the format's 100 MB cap, without allocating it.
  auto big = hostile::safetensors("{}", 0);
  uint64_t claimed = 200'000'000;
  for (int i = 0; i < 8; ++i)
    big[static_cast<size_t>(i)] = static_cast<uint8_t>(claimed >> (8 * i));
  big.resize(16, ' ');
  EXPECT_FALSE(weights_error(big).empty());
  EXPECT_TRUE(contains(error_of([&] {
                         std::vector<uint8_t> header(100'000'016, ' ');
                         for (int i = 0; i < 8; ++i)
                           header[static_cast<size_t>(i)] =
                               static_cast<uint8_t>(uint64_t{100'000'008} >> (8 * i));
                         header[8] = '{';
                         read_weights_bytes(header, "huge");
                       }),
                       "100 MB"));
}

TEST(HostileMessages, FileContentIsEscapedAndCut) {
  Pickle p;
  p.global("os\x1b]0;pwned\x07", std::string(5000, 'n') + "\x1b[2J").stop();
  auto error = unpickle_error(p);
  EXPECT_TRUE(contains(error, "refusing to load")) << error;
  EXPECT_FALSE(contains(error, "\x1b"));
  EXPECT_FALSE(contains(error, "\x07"));
  EXPECT_TRUE(contains(error, "os\\x1b]0;pwned\\x07")) << error;
  EXPECT_LT(error.size(), 400u);
  EXPECT_EQ(printable("a\\b\n\xff"), "a\\\\b\\x0a\\xff");
  EXPECT_EQ(printable(std::string(100, 'z'), 10), "zzzzzzzzzz... (100 bytes)");
  EXPECT_TRUE(
      has_control_characters("a\xc2\x9b"
                             "b"));  // UTF-8 CSI
  EXPECT_FALSE(has_control_characters("caf\xc3\xa9.weight"));
}

}  // namespace
}  // namespace garbage::io
