// The Gaussian process and Bayesian search: fits, determinism, pending points, and that GP + EI
// beats random search on a synthetic objective with the same budget.

#include <gtest/gtest.h>

#include "garbage/sweep/gp.hpp"
#include "garbage/sweep/suggest.hpp"
#include "sweep_fixture.hpp"

namespace sweep = garbage::sweep;
using nlohmann::json;

namespace {

json mixed_space() {
  return {{"lr", {{"distribution", "log_uniform_values"}, {"min", 1e-5}, {"max", 1e-1}}},
          {"dropout", {{"distribution", "uniform"}, {"min", 0.0}, {"max", 0.9}}},
          {"num_dense", {{"distribution", "int_uniform"}, {"min", 8}, {"max", 128}}},
          {"conv_activation", {{"values", {"relu", "gelu", "silu", "mish"}}}}};
}

/// Synthetic validation accuracy: peaks at lr 3e-3, dropout 0.3, num_dense 64, mish.
double objective(const json& p) {
  double lr = std::log10(p["lr"].get<double>()) + 2.5;
  double dropout = p["dropout"].get<double>() - 0.3;
  double dense = (p["num_dense"].get<double>() - 64.0) / 64.0;
  double act = p["conv_activation"] == "mish" ? 0.0 : p["conv_activation"] == "silu" ? 0.05 : 0.1;
  return 0.9 - 0.08 * lr * lr - 0.6 * dropout * dropout - 0.1 * dense * dense - act;
}

double best_after(const sweep::SweepConfig& s, int budget, uint64_t seed) {
  std::vector<sweep::Observation> history;
  double best = -1e9;
  for (int i = 0; i < budget; ++i) {
    auto p = sweep::suggest(s, history, seed);
    double y = objective(*p);
    best = std::max(best, y);
    history.push_back({*p, sweep::Observation::Kind::done, y});
  }
  return best;
}

}  // namespace

TEST(GaussianProcess, InterpolatesAndIsUncertainAwayFromData) {
  sweep::Matrix x;
  std::vector<double> y;
  for (int i = 0; i <= 10; ++i) {
    double t = i / 10.0;
    x.push_back({t});
    y.push_back(std::sin(6 * t));
  }
  sweep::GaussianProcess gp;
  std::mt19937_64 rng(1);
  gp.fit(x, y, rng);
  double mean = 0, sd = 0;
  gp.predict({0.55}, mean, sd);
  EXPECT_NEAR(mean, std::sin(3.3), 0.05);
  double sd_near = sd;
  // Beyond the data the posterior widens.
  sweep::GaussianProcess sparse;
  sparse.fit({{0.0}, {0.1}}, {0.0, 0.1}, rng);
  sparse.predict({0.9}, mean, sd);
  EXPECT_GT(sd, sd_near);
  EXPECT_GT(gp.log_marginal_likelihood(gp.hyper()),
            gp.log_marginal_likelihood({{std::log(5.0)}, 0.0, std::log(0.5)}));
}

TEST(GaussianProcess, ExpectedImprovement) {
  EXPECT_NEAR(sweep::expected_improvement(1.0, 0.0, 0.5, 0.0), 0.5, 1e-12);
  EXPECT_NEAR(sweep::expected_improvement(0.0, 0.0, 0.5, 0.0), 0.0, 1e-12);
  EXPECT_GT(sweep::expected_improvement(0.5, 1.0, 0.5, 0.0),
            sweep::expected_improvement(0.5, 0.1, 0.5, 0.0));
}

TEST(BayesSearch, SameSeedSameSuggestionsAndPendingPointsAreAvoided) {
  auto s =
      garbage::testing::parse_sweep(garbage::testing::sweep_document("bayes", mixed_space(), 30));
  std::vector<sweep::Observation> history;
  std::mt19937_64 rng(4);
  for (int i = 0; i < 8; ++i) {
    json p = sweep::sample_params(s, rng);
    history.push_back({p, sweep::Observation::Kind::done, objective(p)});
  }
  auto a = sweep::suggest(s, history, 7);
  auto b = sweep::suggest(s, history, 7);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
  // With a's point pending (a worker is training it), the next suggestion goes elsewhere.
  history.push_back({*a, sweep::Observation::Kind::pending, 0});
  auto c = sweep::suggest(s, history, 7);
  EXPECT_NE(sweep::encode_params(s, *c), sweep::encode_params(s, *a));
}

TEST(BayesSearch, BeatsRandomSearchWithTheSameBudget) {
  auto bayes =
      garbage::testing::parse_sweep(garbage::testing::sweep_document("bayes", mixed_space(), 25));
  auto random =
      garbage::testing::parse_sweep(garbage::testing::sweep_document("random", mixed_space(), 25));
  const double optimum = 0.9;
  double regret_bayes = 0, regret_random = 0;
  int wins = 0;
  const std::vector<uint64_t> seeds = {1, 2, 3, 4, 5};
  for (uint64_t seed : seeds) {
    double rb = optimum - best_after(bayes, 25, seed);
    double rr = optimum - best_after(random, 25, seed);
    regret_bayes += rb;
    regret_random += rr;
    wins += rb < rr;
  }
  EXPECT_LT(regret_bayes, 0.5 * regret_random) << regret_bayes << " vs " << regret_random;
  EXPECT_GE(wins, 4);
}

TEST(GridSearch, WalksTheGridOnceThenStops) {
  auto s = garbage::testing::parse_sweep(
      garbage::testing::sweep_document("grid",
                                       {{"conv_activation", {{"values", {"relu", "mish"}}}},
                                        {"batchnorm", {{"values", {true, false}}}}},
                                       10));
  std::vector<sweep::Observation> history;
  for (int i = 0; i < 4; ++i) {
    auto p = sweep::suggest(s, history, 1);
    ASSERT_TRUE(p);
    history.push_back({*p, sweep::Observation::Kind::pending, 0});
  }
  EXPECT_FALSE(sweep::suggest(s, history, 1));
}
