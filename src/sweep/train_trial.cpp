// The one piece of the sweep that needs the trainer.

#include "garbage/config/train_config.hpp"
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
  train::run_training(request);
}

}  // namespace garbage::sweep
