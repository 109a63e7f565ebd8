// The search space: parameters to and from [0,1]^dims, prior sampling, grid enumeration.

#include "garbage/sweep/space.hpp"

#include <algorithm>
#include <cmath>

#include "garbage/core/errors.hpp"

namespace garbage::sweep {

bool Parameter::ordinal() const {
  if (distribution != Distribution::categorical) return false;
  bool numbers =
      std::all_of(values.begin(), values.end(), [](const json& v) { return v.is_number(); });
  bool bools =
      std::all_of(values.begin(), values.end(), [](const json& v) { return v.is_boolean(); });
  return numbers || bools;
}

int Parameter::dims() const {
  if (distribution == Distribution::constant) return 0;
  if (distribution == Distribution::categorical && !ordinal())
    return static_cast<int>(values.size());
  return 1;
}

int SweepConfig::dims() const {
  int d = 0;
  for (const auto& p : parameters) d += p.dims();
  return d;
}

namespace {

json number_json(double v, bool integral) {
  return integral ? json(static_cast<int64_t>(std::llround(v))) : json(v);
}

double quantize(const Parameter& p, double v) {
  v = std::clamp(v, p.min, p.max);
  switch (p.distribution) {
    case Distribution::int_uniform:
      return std::round(v);
    case Distribution::q_uniform: {
      double r = std::round(v / p.q) * p.q;
      // Rounding can step outside the range; step back inside it.
      if (r > p.max + 1e-12) r -= p.q;
      if (r < p.min - 1e-12) r += p.q;
      return r;
    }
    default:
      return v;
  }
}

bool q_integral(const Parameter& p) {
  return p.distribution == Distribution::int_uniform ||
         (p.distribution == Distribution::q_uniform && std::floor(p.q) == p.q &&
          std::floor(p.min) == p.min);
}

/// Indexes of categorical choices in ascending order (ordinal encoding).
std::vector<size_t> ordinal_order(const Parameter& p) {
  std::vector<size_t> order(p.values.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    auto value = [&](size_t i) {
      return p.values[i].is_boolean() ? (p.values[i].get<bool>() ? 1.0 : 0.0)
                                      : p.values[i].get<double>();
    };
    return value(a) < value(b);
  });
  return order;
}

size_t choice_index(const Parameter& p, const json& value) {
  for (size_t i = 0; i < p.values.size(); ++i)
    if (p.values[i] == value) return i;
  // 32.0 read back from storage must still match 32.
  if (value.is_number())
    for (size_t i = 0; i < p.values.size(); ++i)
      if (p.values[i].is_number() && p.values[i].get<double>() == value.get<double>()) return i;
  throw Error("sweep parameter " + p.name + ": " + value.dump() + " is not one of its choices");
}

double to_unit(const Parameter& p, double v) {
  if (p.distribution == Distribution::normal)
    return std::clamp((v - (p.mu - 3 * p.sigma)) / (6 * p.sigma), 0.0, 1.0);
  if (p.log_scale()) return (std::log(v) - std::log(p.min)) / (std::log(p.max) - std::log(p.min));
  return (v - p.min) / (p.max - p.min);
}

double from_unit(const Parameter& p, double u) {
  u = std::clamp(u, 0.0, 1.0);
  if (p.distribution == Distribution::normal) return p.mu - 3 * p.sigma + u * 6 * p.sigma;
  if (p.log_scale()) return std::exp(std::log(p.min) + u * (std::log(p.max) - std::log(p.min)));
  return quantize(p, p.min + u * (p.max - p.min));
}

}  // namespace

json sample_params(const SweepConfig& sweep, std::mt19937_64& rng) {
  json out = json::object();
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (const auto& p : sweep.parameters) {
    switch (p.distribution) {
      case Distribution::constant:
        out[p.name] = p.values[0];
        break;
      case Distribution::categorical:
        out[p.name] = p.values[std::uniform_int_distribution<size_t>(0, p.values.size() - 1)(rng)];
        break;
      case Distribution::int_uniform:
        out[p.name] = std::uniform_int_distribution<int64_t>(static_cast<int64_t>(p.min),
                                                             static_cast<int64_t>(p.max))(rng);
        break;
      case Distribution::normal:
        out[p.name] = std::normal_distribution<double>(p.mu, p.sigma)(rng);
        break;
      default:
        out[p.name] = number_json(from_unit(p, unit(rng)), q_integral(p));
    }
  }
  return out;
}

std::vector<double> encode_params(const SweepConfig& sweep, const json& params) {
  std::vector<double> x;
  x.reserve(sweep.dims());
  for (const auto& p : sweep.parameters) {
    if (p.distribution == Distribution::constant) continue;
    const json& v = params.at(p.name);
    if (p.distribution == Distribution::categorical) {
      size_t index = choice_index(p, v);
      if (p.ordinal()) {
        auto order = ordinal_order(p);
        size_t rank = std::find(order.begin(), order.end(), index) - order.begin();
        x.push_back(p.values.size() > 1 ? static_cast<double>(rank) / (p.values.size() - 1) : 0.5);
      } else {
        for (size_t i = 0; i < p.values.size(); ++i) x.push_back(i == index ? 1.0 : 0.0);
      }
      continue;
    }
    x.push_back(to_unit(p, v.get<double>()));
  }
  return x;
}

json decode_params(const SweepConfig& sweep, const std::vector<double>& x) {
  json out = json::object();
  size_t at = 0;
  for (const auto& p : sweep.parameters) {
    if (p.distribution == Distribution::constant) {
      out[p.name] = p.values[0];
    } else if (p.distribution == Distribution::categorical && p.ordinal()) {
      auto order = ordinal_order(p);
      auto rank = static_cast<size_t>(
          std::llround(std::clamp(x[at++], 0.0, 1.0) * static_cast<double>(p.values.size() - 1)));
      out[p.name] = p.values[order[rank]];
    } else if (p.distribution == Distribution::categorical) {
      size_t best = 0;
      for (size_t i = 1; i < p.values.size(); ++i)
        if (x[at + i] > x[at + best]) best = i;
      at += p.values.size();
      out[p.name] = p.values[best];
    } else {
      out[p.name] = number_json(from_unit(p, x[at++]), q_integral(p));
    }
  }
  return out;
}

std::vector<json> grid_points(const SweepConfig& sweep) {
  std::vector<json> points = {json::object()};
  for (const auto& p : sweep.parameters) {
    std::vector<json> choices;
    switch (p.distribution) {
      case Distribution::constant:
      case Distribution::categorical:
        choices = p.values;
        break;
      case Distribution::int_uniform:
        for (auto v = static_cast<int64_t>(p.min); v <= static_cast<int64_t>(p.max); ++v)
          choices.push_back(v);
        break;
      case Distribution::q_uniform:
        for (double v = p.min; v <= p.max + 1e-9; v += p.q)
          choices.push_back(number_json(v, q_integral(p)));
        break;
      default:
        throw ConfigError("parameters." + p.name + ": grid search needs discrete values, not a " +
                          to_string(p.distribution) + " distribution");
    }
    std::vector<json> next;
    for (const auto& point : points)
      for (const auto& c : choices) {
        json q = point;
        q[p.name] = c;
        next.push_back(std::move(q));
      }
    points = std::move(next);
    if (points.size() > 1000000)
      throw ConfigError("parameters: the grid has over a million points");
  }
  return points;
}

}  // namespace garbage::sweep
