#pragma once
// A small Gaussian-process regressor for Bayesian search: Matérn 5/2 kernel with one lengthscale
// per input (ARD), signal and noise variance fitted by maximising the log marginal likelihood
// (with a weak prior on lengthscales, so a few dozen points cannot overfit 20 of them).
// Hand-written Cholesky: sweeps have at most a few hundred points. Torch-free.

#include <cstdint>
#include <random>
#include <vector>

namespace garbage::sweep {

using Matrix = std::vector<std::vector<double>>;

struct GpHyper {
  std::vector<double> log_lengthscales;
  double log_signal = 0;  ///< log of the kernel variance (targets are standardised)
  double log_noise = -4;  ///< log of the noise variance
};

class GaussianProcess {
 public:
  /// Fits hyperparameters and the posterior to points `x` (rows in [0,1]^d) and targets `y`.
  void fit(const Matrix& x, const std::vector<double>& y, std::mt19937_64& rng);
  /// Posterior mean and standard deviation (in the units of y) at `x`.
  void predict(const std::vector<double>& x, double& mean, double& sd) const;

  /// Log marginal likelihood of the standardised targets under `h` (-inf if the kernel matrix
  /// is not positive definite). Public for tests.
  double log_marginal_likelihood(const GpHyper& h) const;
  const GpHyper& hyper() const { return hyper_; }

 private:
  double kernel(const std::vector<double>& a, const std::vector<double>& b,
                const std::vector<double>& inv_ls, double signal) const;
  bool factorise(const GpHyper& h, Matrix& chol, std::vector<double>& alpha) const;
  double objective(const GpHyper& h) const;

  Matrix x_;
  std::vector<double> y_;  // standardised
  double y_mean_ = 0, y_scale_ = 1;
  GpHyper hyper_;
  Matrix chol_;
  std::vector<double> alpha_, inv_ls_;
};

/// Expected improvement over `best` for maximisation, with exploration margin `xi`.
double expected_improvement(double mean, double sd, double best, double xi = 0.01);

}  // namespace garbage::sweep
