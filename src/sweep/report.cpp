#include "garbage/sweep/report.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <spdlog/fmt/fmt.h>

#include "garbage/core/json_io.hpp"
#include "garbage/report/plots.hpp"
#include "garbage/sweep/forest.hpp"
#include "garbage/sweep/runner.hpp"

namespace garbage::sweep {
namespace fs = std::filesystem;
namespace {

bool has_value(const TrialRecord& t) {
  return t.value && std::isfinite(*t.value) &&
         (t.status == TrialStatus::finished || t.status == TrialStatus::stopped);
}

std::vector<const TrialRecord*> ranked(const SweepConfig& sweep,
                                       const std::vector<TrialRecord>& trials) {
  std::vector<const TrialRecord*> out;
  for (const auto& t : trials) out.push_back(&t);
  std::stable_sort(out.begin(), out.end(), [&](const TrialRecord* a, const TrialRecord* b) {
    if (has_value(*a) != has_value(*b)) return has_value(*a);
    return has_value(*a) && sweep.better(*a->value, *b->value);
  });
  return out;
}

std::string compact(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return fmt::format("{:.4g}", v.get<double>());
  return v.dump();
}

std::string params_text(const SweepConfig& sweep, const json& params) {
  std::string out;
  for (const auto& p : sweep.parameters)
    if (p.dims() > 0 && params.contains(p.name))
      out += (out.empty() ? "" : " ") + p.name + "=" + compact(params[p.name]);
  return out;
}

std::vector<ParameterStats> parameter_stats(const SweepConfig& sweep,
                                            const std::vector<const TrialRecord*>& done) {
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  for (const auto* t : done) {
    x.push_back(encode_params(sweep, t->params));
    y.push_back(*t->value);
  }
  std::vector<double> column_importance(static_cast<size_t>(sweep.dims()), 0.0);
  if (!x.empty()) column_importance = forest_importance(x, y, {});
  auto column = [&](size_t c) {
    std::vector<double> out;
    for (const auto& row : x) out.push_back(row[c]);
    return out;
  };
  std::vector<ParameterStats> out;
  size_t at = 0;
  for (const auto& p : sweep.parameters) {
    if (p.dims() == 0) continue;
    ParameterStats s;
    s.name = p.name;
    if (p.dims() == 1) {
      s.importance = column_importance[at];
      s.correlations.push_back({p.name, pearson(column(at), y)});
    } else {
      for (size_t i = 0; i < p.values.size(); ++i) {
        s.importance += column_importance[at + i];
        s.correlations.push_back({p.name + "=" + compact(p.values[i]), pearson(column(at + i), y)});
      }
    }
    at += static_cast<size_t>(p.dims());
    out.push_back(std::move(s));
  }
  std::stable_sort(out.begin(), out.end(), [](const ParameterStats& a, const ParameterStats& b) {
    return a.importance > b.importance;
  });
  return out;
}

json nan_to_null(double v) {
  return std::isfinite(v) ? json(v) : json(nullptr);
}

std::string format_table(const std::string& name, const SweepConfig& sweep,
                         const std::vector<const TrialRecord*>& order,
                         const std::vector<ParameterStats>& stats, int64_t epochs) {
  std::map<TrialStatus, int> counts;
  for (const auto* t : order) ++counts[t->status];
  std::ostringstream out;
  out << fmt::format(
      "sweep {}: {} trials ({} finished, {} stopped, {} failed, {} running/queued), "
      "{} epochs trained; {} ({})\n",
      name, order.size(), counts[TrialStatus::finished], counts[TrialStatus::stopped],
      counts[TrialStatus::failed], counts[TrialStatus::running] + counts[TrialStatus::queued],
      epochs, sweep.metric, sweep.goal == Goal::maximize ? "maximize" : "minimize");
  out << fmt::format("{:>4} {:>5} {:<8} {:>6} {:>12}  {}\n", "rank", "trial", "status", "epochs",
                     sweep.metric, "parameters");
  int rank = 0;
  for (const auto* t : order)
    out << fmt::format("{:>4} {:>5} {:<8} {:>6} {:>12}  {}\n",
                       has_value(*t) ? std::to_string(++rank) : "-", t->id, to_string(t->status),
                       t->epochs.size(), t->value ? fmt::format("{:.4f}", *t->value) : "-",
                       params_text(sweep, t->params));
  out << fmt::format("\n{:<32} {:>10} {:>11}\n", "parameter", "importance", "correlation");
  for (const auto& s : stats)
    for (size_t i = 0; i < s.correlations.size(); ++i) {
      const auto& [label, corr] = s.correlations[i];
      out << fmt::format("{:<32} {:>10} {:>11}\n", label,
                         i == 0 ? fmt::format("{:.3f}", s.importance) : "",
                         std::isfinite(corr) ? fmt::format("{:+.3f}", corr) : "n/a");
    }
  return out.str();
}

}  // namespace

SweepReport build_report(const std::string& name, const SweepConfig& sweep,
                         const std::vector<TrialRecord>& trials) {
  SweepReport report;
  auto order = ranked(sweep, trials);
  std::vector<const TrialRecord*> done;
  for (const auto* t : order)
    if (has_value(*t)) done.push_back(t);
  report.parameters = parameter_stats(sweep, done);
  int64_t epochs = 0;
  json rows = json::array();
  for (const auto* t : order) {
    epochs += static_cast<int64_t>(t->epochs.size());
    json curve = json::array();
    for (const auto& e : t->epochs) curve.push_back(e.metric(sweep.metric));
    rows.push_back({{"trial", t->id},
                    {"status", to_string(t->status)},
                    {"value", t->value ? json(*t->value) : json(nullptr)},
                    {"epochs", t->epochs.size()},
                    {"params", t->params},
                    {"curve", curve},
                    {"run_dir", t->run_dir},
                    {"note", t->note}});
  }
  json params = json::array();
  for (const auto& s : report.parameters) {
    json corr = json::object();
    for (const auto& [label, c] : s.correlations) corr[label] = nan_to_null(c);
    params.push_back({{"name", s.name}, {"importance", s.importance}, {"correlation", corr}});
  }
  if (!done.empty()) {
    report.best_config = apply_params(sweep, done.front()->params);
    (*report.best_config)["name"] = name + "-best";
  }
  report.data = {{"sweep", name},
                 {"metric", sweep.metric},
                 {"goal", sweep.goal == Goal::maximize ? "maximize" : "minimize"},
                 {"method", to_string(sweep.method)},
                 {"run_cap", sweep.run_cap},
                 {"epochs_trained", epochs},
                 {"best", done.empty() ? json(nullptr) : rows[0]},
                 {"trials", rows},
                 {"parameters", params}};
  report.text = format_table(name, sweep, order, report.parameters, epochs);
  return report;
}

void write_report_files(const SweepReport& report, const SweepConfig& sweep,
                        const std::vector<TrialRecord>& trials, const fs::path& dir) {
  fs::create_directories(dir);
  write_json_atomic(dir / "report.json", report.data);
  if (report.best_config) write_json_atomic(dir / "best_config.json", *report.best_config);

  std::vector<const TrialRecord*> done;
  for (const auto& t : trials)
    if (has_value(t)) done.push_back(&t);

  // Parallel coordinates: one axis per searched parameter (a one-hot categorical becomes one
  // axis with its choices spread evenly), then the metric.
  std::vector<report::Axis> axes;
  std::vector<std::vector<double>> encoded;
  for (const auto* t : done) encoded.push_back(encode_params(sweep, t->params));
  size_t column = 0;
  for (const auto& p : sweep.parameters) {
    if (p.dims() == 0) continue;
    report::Axis axis{p.name, {}, {}};
    if (p.dims() == 1) {
      for (const auto& row : encoded) axis.positions.push_back(row[column]);
      if (p.distribution == Distribution::categorical) {
        json probe = json::object();
        for (const auto& v : p.values) {
          for (const auto& q : sweep.parameters)
            probe[q.name] = q.values.empty() ? json(q.min) : q.values[0];
          probe[p.name] = v;
          axis.ticks.push_back({encode_params(sweep, probe)[column], compact(v)});
        }
      } else {
        json lo = decode_params(sweep, std::vector<double>(sweep.dims(), 0.0));
        json hi = decode_params(sweep, std::vector<double>(sweep.dims(), 1.0));
        axis.ticks = {{0.0, compact(lo[p.name])}, {1.0, compact(hi[p.name])}};
      }
    } else {
      const size_t k = p.values.size();
      for (const auto& row : encoded) {
        size_t choice = 0;
        for (size_t i = 1; i < k; ++i)
          if (row[column + i] > row[column + choice]) choice = i;
        axis.positions.push_back(static_cast<double>(choice) / static_cast<double>(k - 1));
      }
      for (size_t i = 0; i < k; ++i)
        axis.ticks.push_back(
            {static_cast<double>(i) / static_cast<double>(k - 1), compact(p.values[i])});
    }
    column += static_cast<size_t>(p.dims());
    axes.push_back(std::move(axis));
  }
  std::vector<double> values;
  for (const auto* t : done) values.push_back(*t->value);
  if (!values.empty()) {
    double lo = *std::min_element(values.begin(), values.end());
    double hi = *std::max_element(values.begin(), values.end());
    report::Axis metric{
        sweep.metric, {}, {{0.0, fmt::format("{:.3f}", lo)}, {1.0, fmt::format("{:.3f}", hi)}}};
    for (double v : values) metric.positions.push_back(hi > lo ? (v - lo) / (hi - lo) : 0.5);
    axes.push_back(std::move(metric));
  }
  report::write_parallel_coordinates_png(dir / "parallel_coordinates.png", axes, values,
                                         sweep.goal == Goal::maximize,
                                         "sweep " + report.data.at("sweep").get<std::string>());

  // Metric versus trial number, by status, with the best so far.
  std::vector<double> x, y, best_line;
  std::vector<int> group;
  double best = NAN;
  for (const auto& t : trials) {
    if (!t.value) continue;
    x.push_back(static_cast<double>(t.id));
    y.push_back(*t.value);
    group.push_back(t.status == TrialStatus::finished  ? 0
                    : t.status == TrialStatus::stopped ? 1
                                                       : 2);
    if (has_value(t) && sweep.better(*t.value, best)) best = *t.value;
    best_line.push_back(best);
  }
  report::write_scatter_png(dir / "metric_vs_trial.png", x, y, group,
                            {"finished", "stopped", "other"}, best_line,
                            sweep.metric + " per trial", "trial", sweep.metric);
}

}  // namespace garbage::sweep
