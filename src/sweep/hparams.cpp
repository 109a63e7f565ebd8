#include "garbage/sweep/hparams.hpp"

#include "garbage/report/tensorboard.hpp"

namespace garbage::sweep {

struct TrialSession::Writer {
  explicit Writer(const std::filesystem::path& dir) : events(dir) {}
  report::EventWriter events;
};

namespace {

report::HParamDomain domain_of(const Parameter& p) {
  report::HParamDomain d;
  d.name = p.name;
  switch (p.distribution) {
    case Distribution::constant:
    case Distribution::categorical:
      d.values = p.values;
      break;
    case Distribution::normal:
      break;  // unbounded: no domain
    default:
      d.interval = std::make_pair(p.min, p.max);
  }
  return d;
}

}  // namespace

std::string metric_tag(const SweepConfig& sweep) {
  return "epoch/" + sweep.metric;
}

void write_hparams_experiment(const SweepConfig& sweep, const std::filesystem::path& dir) {
  std::vector<report::HParamDomain> domains;
  for (const auto& p : sweep.parameters) domains.push_back(domain_of(p));
  report::EventWriter events(dir);
  events.hparams_experiment(domains, {metric_tag(sweep)});
  events.flush();
}

TrialSession::TrialSession(const std::filesystem::path& run_dir, const TrialRecord& trial)
    : writer_(std::make_unique<Writer>(run_dir / "tb")) {
  writer_->events.hparams_session_start(trial.params, "");
  writer_->events.flush();
}

TrialSession::~TrialSession() = default;

void TrialSession::end(report::SessionStatus status) {
  writer_->events.hparams_session_end(status);
  writer_->events.flush();
}

}  // namespace garbage::sweep
