#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "garbage/core/errors.hpp"
#include "garbage/train/replicas.hpp"

using garbage::train::ReplicaPool;

TEST(ReplicaPool, EveryReplicaGetsTheSumInReplicaOrderRoundAfterRound) {
  ReplicaPool pool(3);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::vector<double>> seen(3);
    pool.run([&](int r) {
      std::vector<double> v = {static_cast<double>(r), 10.0 * r + round};
      pool.sum(v);
      std::vector<double> w = {1.0};
      pool.sum(w);  // a second exchange in the same round
      v.push_back(w[0]);
      seen[r] = v;
    });
    for (int r = 0; r < 3; ++r)
      EXPECT_EQ(seen[r], (std::vector<double>{3.0, 30.0 + 3 * round, 3.0})) << r;
  }
}

TEST(ReplicaPool, SumsAddInReplicaOrderWhateverTheArrivalOrder) {
  // 1e16 + 1 - 1e16 is 0 in double when added left to right, 1 in another order.
  ReplicaPool pool(3);
  const double parts[3] = {1e16, 1.0, -1e16};
  for (int round = 0; round < 20; ++round) {
    std::vector<double> results(3);
    pool.run([&](int r) {
      std::vector<double> v = {parts[r]};
      pool.sum(v);
      results[r] = v[0];
    });
    for (double x : results) EXPECT_EQ(x, (1e16 + 1.0) + -1e16);
  }
}

TEST(ReplicaPool, ReplicasRunConcurrentlyOnOneOpenMpThreadEachAndTheCallerGetsItsCountBack) {
  omp_set_num_threads(2);
  ReplicaPool pool(2);
  std::vector<int> threads(2, -1);
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  pool.run([&](int r) {
    threads[r] = omp_get_max_threads();
    ++inside;
    // Each waits for the other inside the task: only concurrent replicas get past this.
    std::vector<double> v = {1.0};
    pool.sum(v);
    if (inside.load() == 2) overlapped = true;
  });
  EXPECT_EQ(threads, (std::vector<int>{1, 1}));
  EXPECT_TRUE(overlapped.load());
  EXPECT_EQ(omp_get_max_threads(), 2);
}

TEST(ReplicaPool, AFailingReplicaStopsTheOthersAndItsErrorReachesTheCaller) {
  ReplicaPool pool(2);
  try {
    pool.run([&](int r) {
      if (r == 1) throw std::runtime_error("replica 1 failed");
      std::vector<double> v = {1.0};
      pool.sum(v);  // would wait for replica 1 forever without the stop
    });
    FAIL() << "the error was swallowed";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "replica 1 failed");
  }
  // The pool still works afterwards.
  std::vector<double> total(2);
  pool.run([&](int r) {
    std::vector<double> v = {2.0};
    pool.sum(v);
    total[r] = v[0];
  });
  EXPECT_EQ(total, (std::vector<double>{4.0, 4.0}));
}

TEST(ReplicaPool, RunsOnlyTheActiveReplicas) {
  ReplicaPool pool(3);
  std::vector<int> ran(3, 0);
  std::vector<double> total(3, -1);
  pool.run(
      [&](int r) {
        ran[r] = 1;
        std::vector<double> v = {5.0};
        pool.sum(v);
        total[r] = v[0];
      },
      2);
  EXPECT_EQ(ran, (std::vector<int>{1, 1, 0}));
  EXPECT_EQ(total, (std::vector<double>{10.0, 10.0, -1}));
  EXPECT_THROW(pool.run([](int) {}, 4), garbage::Error);
  std::vector<double> outside = {1.0};
  EXPECT_THROW(pool.sum(outside), garbage::Error);
}
