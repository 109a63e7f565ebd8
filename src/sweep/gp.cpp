#include "garbage/sweep/gp.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace garbage::sweep {
namespace {

constexpr double kLogLsMin = -4.6, kLogLsMax = 3.0;  // lengthscales in [0.01, 20]
constexpr double kLogNoiseMin = -11.5, kLogNoiseMax = 0.0;
constexpr double kLogSignalMin = -3.0, kLogSignalMax = 3.0;
const double kLogLsPrior = std::log(0.5);

/// Lower-triangular L with L L^T = a, in place; false when `a` is not positive definite.
bool cholesky(Matrix& a) {
  const size_t n = a.size();
  for (size_t j = 0; j < n; ++j) {
    double d = a[j][j];
    for (size_t k = 0; k < j; ++k) d -= a[j][k] * a[j][k];
    if (!(d > 0)) return false;
    d = std::sqrt(d);
    a[j][j] = d;
    for (size_t i = j + 1; i < n; ++i) {
      double s = a[i][j];
      for (size_t k = 0; k < j; ++k) s -= a[i][k] * a[j][k];
      a[i][j] = s / d;
    }
    for (size_t k = j + 1; k < n; ++k) a[j][k] = 0;
  }
  return true;
}

std::vector<double> forward_solve(const Matrix& l, const std::vector<double>& b) {
  std::vector<double> x(b.size());
  for (size_t i = 0; i < b.size(); ++i) {
    double s = b[i];
    for (size_t k = 0; k < i; ++k) s -= l[i][k] * x[k];
    x[i] = s / l[i][i];
  }
  return x;
}

std::vector<double> backward_solve(const Matrix& l, const std::vector<double>& b) {
  const size_t n = b.size();
  std::vector<double> x(n);
  for (size_t i = n; i-- > 0;) {
    double s = b[i];
    for (size_t k = i + 1; k < n; ++k) s -= l[k][i] * x[k];
    x[i] = s / l[i][i];
  }
  return x;
}

std::vector<double> inverse_lengthscales(const GpHyper& h) {
  std::vector<double> inv(h.log_lengthscales.size());
  for (size_t i = 0; i < inv.size(); ++i) inv[i] = std::exp(-h.log_lengthscales[i]);
  return inv;
}

void clamp_hyper(GpHyper& h) {
  for (auto& l : h.log_lengthscales) l = std::clamp(l, kLogLsMin, kLogLsMax);
  h.log_noise = std::clamp(h.log_noise, kLogNoiseMin, kLogNoiseMax);
  h.log_signal = std::clamp(h.log_signal, kLogSignalMin, kLogSignalMax);
}

/// Coordinate pattern search: cheap, derivative-free, good enough for ~20 hyperparameters.
template <typename F>
GpHyper pattern_search(GpHyper h, const F& objective, int max_passes) {
  double best = objective(h);
  double step = 1.0;
  const size_t n = h.log_lengthscales.size() + 2;
  for (int pass = 0; pass < max_passes && step > 0.05; ++pass) {
    bool improved = false;
    for (size_t i = 0; i < n; ++i) {
      for (double direction : {1.0, -1.0}) {
        GpHyper trial = h;
        double& c = i < n - 2 ? trial.log_lengthscales[i]
                              : (i == n - 2 ? trial.log_signal : trial.log_noise);
        c += direction * step;
        clamp_hyper(trial);
        double value = objective(trial);
        if (value > best + 1e-9) {
          best = value;
          h = trial;
          improved = true;
          break;
        }
      }
    }
    if (!improved) step *= 0.5;
  }
  return h;
}

}  // namespace

double GaussianProcess::kernel(const std::vector<double>& a, const std::vector<double>& b,
                               const std::vector<double>& inv_ls, double signal) const {
  double r2 = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = (a[i] - b[i]) * inv_ls[i];
    r2 += d * d;
  }
  double r = std::sqrt(5.0 * r2);
  return signal * (1.0 + r + r * r / 3.0) * std::exp(-r);
}

bool GaussianProcess::factorise(const GpHyper& h, Matrix& chol, std::vector<double>& alpha) const {
  const size_t n = x_.size();
  auto inv = inverse_lengthscales(h);
  double signal = std::exp(h.log_signal), noise = std::exp(h.log_noise) + 1e-8;
  chol.assign(n, std::vector<double>(n, 0.0));
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < i; ++j) chol[i][j] = chol[j][i] = kernel(x_[i], x_[j], inv, signal);
    chol[i][i] = signal + noise;
  }
  if (!cholesky(chol)) return false;
  alpha = backward_solve(chol, forward_solve(chol, y_));
  return true;
}

double GaussianProcess::log_marginal_likelihood(const GpHyper& h) const {
  Matrix chol;
  std::vector<double> alpha;
  if (!factorise(h, chol, alpha)) return -std::numeric_limits<double>::infinity();
  double fit = 0, logdet = 0;
  for (size_t i = 0; i < y_.size(); ++i) fit += y_[i] * alpha[i], logdet += std::log(chol[i][i]);
  return -0.5 * fit - logdet - 0.5 * static_cast<double>(y_.size()) * std::log(2 * M_PI);
}

double GaussianProcess::objective(const GpHyper& h) const {
  double prior = 0;
  for (double l : h.log_lengthscales) prior -= 0.5 * (l - kLogLsPrior) * (l - kLogLsPrior);
  prior -= 0.5 * h.log_signal * h.log_signal;
  return log_marginal_likelihood(h) + prior;
}

void GaussianProcess::fit(const Matrix& x, const std::vector<double>& y, std::mt19937_64& rng) {
  x_ = x;
  const size_t n = y.size(), d = x.empty() ? 0 : x[0].size();
  y_mean_ = 0;
  for (double v : y) y_mean_ += v / static_cast<double>(n);
  double var = 0;
  for (double v : y) var += (v - y_mean_) * (v - y_mean_) / static_cast<double>(n);
  y_scale_ = var > 1e-24 ? std::sqrt(var) : 1.0;
  y_.resize(n);
  for (size_t i = 0; i < n; ++i) y_[i] = (y[i] - y_mean_) / y_scale_;

  // Start from the best of a small grid of shared lengthscales and noise levels, plus random
  // ARD starts; refine the best few by pattern search.
  std::vector<std::pair<double, GpHyper>> starts;
  for (double ls : {0.1, 0.25, 0.5, 1.0, 2.0})
    for (double noise : {1e-4, 1e-2, 0.1}) {
      GpHyper h{std::vector<double>(d, std::log(ls)), 0.0, std::log(noise)};
      starts.push_back({objective(h), h});
    }
  std::uniform_real_distribution<double> uniform(std::log(0.05), std::log(2.0));
  for (int r = 0; r < 2; ++r) {
    GpHyper h{std::vector<double>(d), 0.0, std::log(1e-2)};
    for (auto& l : h.log_lengthscales) l = uniform(rng);
    starts.push_back({objective(h), h});
  }
  std::sort(starts.begin(), starts.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  const size_t refine = n > 120 ? 1 : 3;
  const int passes = n > 120 ? 8 : 25;
  double best = -std::numeric_limits<double>::infinity();
  hyper_ = starts[0].second;
  for (size_t i = 0; i < std::min(refine, starts.size()); ++i) {
    GpHyper h = pattern_search(
        starts[i].second, [this](const GpHyper& g) { return objective(g); }, passes);
    double value = objective(h);
    if (value > best) best = value, hyper_ = h;
  }
  // A larger noise floor rescues a degenerate kernel matrix (duplicate points).
  while (!factorise(hyper_, chol_, alpha_) && hyper_.log_noise < kLogNoiseMax)
    hyper_.log_noise += 1.0;
  inv_ls_ = inverse_lengthscales(hyper_);
}

void GaussianProcess::predict(const std::vector<double>& x, double& mean, double& sd) const {
  const size_t n = x_.size();
  double signal = std::exp(hyper_.log_signal);
  std::vector<double> k(n);
  for (size_t i = 0; i < n; ++i) k[i] = kernel(x, x_[i], inv_ls_, signal);
  double m = 0;
  for (size_t i = 0; i < n; ++i) m += k[i] * alpha_[i];
  auto v = forward_solve(chol_, k);
  double var = signal;
  for (double vi : v) var -= vi * vi;
  mean = m * y_scale_ + y_mean_;
  sd = std::sqrt(std::max(var, 1e-12)) * y_scale_;
}

double expected_improvement(double mean, double sd, double best, double xi) {
  if (sd <= 0) return std::max(0.0, mean - best - xi);
  double z = (mean - best - xi) / sd;
  double cdf = 0.5 * std::erfc(-z / std::sqrt(2.0));
  double pdf = std::exp(-0.5 * z * z) / std::sqrt(2 * M_PI);
  return (mean - best - xi) * cdf + sd * pdf;
}

}  // namespace garbage::sweep
