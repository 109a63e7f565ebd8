// The one piece of the sweep that needs the trainer.

#include "garbage/config/train_config.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/report/tensorboard.hpp"
#include "garbage/sweep/hparams.hpp"
#include "garbage/sweep/runner.hpp"
#include "garbage/train/trainer.hpp"

namespace garbage::sweep {

void train_trial(TrialContext& ctx) {
  train::TrainRequest request;
  request.config = config::make_train_config(ctx.train_doc);
  request.out_dir = ctx.run_dir;
  request.data_root = ctx.data_root;
  request.log_file = ctx.log_file;
  request.hooks.on_epoch = [&ctx](const train::EpochMetrics& m) {
    EpochRecord e;
    e.epoch = m.epoch;
    e.train_loss = m.train_loss;
    e.train_accuracy = m.train_accuracy;
    e.val_loss = m.val_loss;
    e.val_accuracy = m.val_accuracy;
    e.seconds = m.seconds;
    return ctx.on_epoch(e);
  };
  if (!request.config.tensorboard) {
    train::run_training(request);
    return;
  }
  TrialSession session(ctx.run_dir, ctx.trial);
  try {
    train::run_training(request);
  } catch (const Interrupted&) {
    throw;  // the trial goes on later: its session stays open
  } catch (...) {
    session.end(report::SessionStatus::failure);
    throw;
  }
  session.end(report::SessionStatus::success);
}

}  // namespace garbage::sweep
