#include "garbage/core/runtime.hpp"

#include <cstdlib>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace {

#if defined(__GLIBC__)
TEST(RetainFreedMemory, EnvironmentSettingsAreRespected) {
  setenv("MALLOC_TOP_PAD_", "0", 1);
  EXPECT_TRUE(garbage::malloc_configured_by_environment());
  EXPECT_FALSE(garbage::retain_freed_memory());
  unsetenv("MALLOC_TOP_PAD_");
}

TEST(RetainFreedMemory, OptOutLeavesMallocAlone) {
  setenv("GARBAGE_MALLOC", "system", 1);
  EXPECT_FALSE(garbage::retain_freed_memory());
  unsetenv("GARBAGE_MALLOC");
}

TEST(RetainFreedMemory, LargeBlocksStayInTheHeapAfterFree) {
  if (garbage::malloc_configured_by_environment())
    GTEST_SKIP() << "malloc is configured by the environment";
  unsetenv("GARBAGE_MALLOC");
  ASSERT_TRUE(garbage::retain_freed_memory());
  constexpr size_t kBlock = size_t{96} << 20;  // above glibc's largest mmap threshold (32 MiB)
  const struct mallinfo2 before = mallinfo2();
  void* block = std::malloc(kBlock);
  ASSERT_NE(block, nullptr);
  static_cast<volatile char*>(block)[kBlock - 1] = 1;
  const struct mallinfo2 held = mallinfo2();
  EXPECT_EQ(held.hblks, before.hblks) << "the block was mmapped";
  EXPECT_GE(held.arena, before.arena + kBlock);
  std::free(block);
  const struct mallinfo2 after = mallinfo2();
  EXPECT_GE(after.arena, before.arena + kBlock) << "the heap was trimmed after free";
  EXPECT_GE(after.fordblks, kBlock) << "the freed block is not available for reuse";
}

// A sweep trial or a micro-batch replica trains on a thread of its own. In a per-thread arena
// (64 MiB heaps, unmapped when they fall empty) the freed blocks would go back to the kernel.
TEST(RetainFreedMemory, BlocksFreedByOtherThreadsStayInTheHeap) {
  if (garbage::malloc_configured_by_environment())
    GTEST_SKIP() << "malloc is configured by the environment";
  unsetenv("GARBAGE_MALLOC");
  ASSERT_TRUE(garbage::retain_freed_memory());
  constexpr size_t kBlock = size_t{40} << 20;
  size_t held = 0, after = 0;
  std::thread([&] {
    std::vector<void*> blocks;
    for (int i = 0; i < 4; ++i) {
      blocks.push_back(std::malloc(kBlock));
      if (blocks.back()) static_cast<volatile char*>(blocks.back())[kBlock - 1] = 1;
    }
    held = mallinfo2().arena;
    for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) std::free(*it);
    after = mallinfo2().arena;
  }).join();
  EXPECT_GE(held, 4 * kBlock);
  EXPECT_GE(after, held) << "the thread's freed blocks went back to the kernel";
}
#endif

}  // namespace
