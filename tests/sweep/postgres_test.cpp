// PostgreSQL storage against a real server (postgres_fixture.hpp): URL forms and password
// sources, masked passwords, concurrent table creation and the schema version, connection loss,
// three worker processes with one killed by SIGKILL, a server restart under running workers, and
// `garbage sweep copy` round trips through the CLI.

#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "../support/run_cli.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/sweep/postgres_storage.hpp"
#include "garbage/sweep/runner.hpp"
#include "garbage/sweep/storage.hpp"
#include "postgres_fixture.hpp"
#include "sweep_fixture.hpp"

namespace fs = std::filesystem;
namespace sweep = garbage::sweep;
using garbage::ConfigError;
using garbage::testing::fork_child;
using garbage::testing::PostgresServer;
using garbage::testing::run_garbage;
using garbage::testing::TempDir;
using garbage::testing::wait_child;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

json space() {
  return {{"lr", {{"distribution", "log_uniform_values"}, {"min", 1e-5}, {"max", 1e-1}}},
          {"num_dense", {{"distribution", "int_uniform"}, {"min", 8}, {"max", 128}}}};
}

double curve(const json& p, int64_t epoch) {
  double lr = std::log10(p["lr"].get<double>()) + 2.5;
  return (0.9 - 0.05 * lr * lr) * (1.0 - std::pow(0.6, static_cast<double>(epoch)));
}

sweep::Storage::Suggest counter() {
  return [](const std::vector<sweep::TrialRecord>& trials) -> std::optional<json> {
    return json{{"x", static_cast<int64_t>(trials.size())}};
  };
}

sweep::ClaimOptions claim(const std::string& worker, int64_t cap) {
  sweep::ClaimOptions c;
  c.worker = worker;
  c.run_cap = cap;
  return c;
}

/// "%2Ftmp%2Fdir": a socket folder as the host part of a URI.
std::string percent_encode(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '/' ? std::string("%2F") : std::string(1, c);
  return out;
}

/// A worker process running `config` on `url`; it logs each trial it starts to `log`.
pid_t start_worker(const std::string& url, const sweep::SweepConfig& config,
                   const sweep::RunOptions& options, const fs::path& log,
                   std::chrono::milliseconds pause) {
  return fork_child([=] {
    sweep::StorageOptions storage_options;
    storage_options.retry_for = 60;
    auto storage = sweep::open_storage(url, storage_options);
    std::ofstream out(log);
    auto replay = garbage::testing::curve_trial(curve, pause);
    sweep::TrialFn trial = [&](sweep::TrialContext& ctx) {
      out << ctx.trial.id << "\n" << std::flush;
      replay(ctx);
    };
    sweep::run_sweep(*storage, config, options, trial);
  });
}

std::multiset<int> trials_started(const fs::path& dir, int workers) {
  std::multiset<int> ran;
  for (int c = 0; c < workers; ++c) {
    std::ifstream in(dir / ("ran-" + std::to_string(c) + ".txt"));
    for (int id; in >> id;) ran.insert(id);
  }
  return ran;
}

/// Every file under `dir` that contains `needle`.
std::vector<std::string> files_containing(const fs::path& dir, const std::string& needle) {
  std::vector<std::string> hits;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.find(needle) != std::string::npos) hits.push_back(entry.path().string());
  }
  return hits;
}

class Postgres : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    pg_ = PostgresServer::get(&why);
    if (!pg_) GTEST_SKIP() << why;
  }
  PostgresServer* pg_ = nullptr;
};

}  // namespace

TEST(SweepStorageUrl, PasswordsAreMaskedWhereverAUrlIsShown) {
  EXPECT_EQ(sweep::redact_url("postgresql://me:s3cret@db.lab:5433/sweeps?sslmode=require"),
            "postgresql://me:***@db.lab:5433/sweeps?sslmode=require");
  EXPECT_EQ(sweep::redact_url("postgres://me@db/sweeps"), "postgres://me@db/sweeps");
  EXPECT_EQ(sweep::redact_url("postgresql://me:p@ss@db/s"), "postgresql://me:***@db/s");
  EXPECT_EQ(sweep::redact_url("postgresql:///s?host=/run/pg&password=s3cret&user=me"),
            "postgresql:///s?host=/run/pg&password=***&user=me");
  EXPECT_EQ(sweep::redact_url("sqlite:///runs/sweeps.db"), "sqlite:///runs/sweeps.db");
  try {
    sweep::open_storage("mysql://me:s3cret@db/x");
    ADD_FAILURE() << "mysql:// accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).find("s3cret"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("postgresql://"), std::string::npos) << e.what();
  }
}

TEST_F(Postgres, UrlFormsPasswordSourcesAndSslmode) {
  TempDir dir("pg-url");
  const std::string db = pg_->fresh_database();
  const std::string port = std::to_string(pg_->port());
  sweep::open_storage(pg_->url(db))->create_sweep("s", {{"k", 1}});
  auto readable = [&](const std::string& url) {
    auto doc = sweep::open_storage(url)->load_sweep("s");
    return doc && *doc == json{{"k", 1}};
  };
  EXPECT_TRUE(readable("postgres://garbage:" + std::string(PostgresServer::kPassword) +
                       "@127.0.0.1:" + port + "/" + db));
  // Unix socket: a percent-encoded folder as host, or ?host=.
  EXPECT_TRUE(readable("postgresql://garbage@" + percent_encode(pg_->socket_dir().string()) + ":" +
                       port + "/" + db));
  EXPECT_TRUE(readable("postgresql:///" + db + "?host=" + pg_->socket_dir().string() +
                       "&port=" + port + "&user=garbage"));
  // sslmode goes to libpq as written: this test server has no TLS.
  EXPECT_TRUE(readable(pg_->url(db) + "?sslmode=disable"));
  try {
    sweep::open_storage(pg_->url(db) + "?sslmode=require");
    ADD_FAILURE() << "sslmode=require accepted by a server without TLS";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("SSL"), std::string::npos) << e.what();
  }

  // The password from nowhere, then PGPASSWORD, then a password file.
  setenv("PGPASSFILE", (dir / "none").c_str(), 1);
  unsetenv("PGPASSWORD");
  EXPECT_THROW(sweep::open_storage(pg_->url(db, false)), ConfigError);
  setenv("PGPASSWORD", PostgresServer::kPassword, 1);
  EXPECT_TRUE(readable(pg_->url(db, false)));
  unsetenv("PGPASSWORD");
  std::ofstream(dir / "pgpass") << "127.0.0.1:" << port
                                << ":*:garbage:" << PostgresServer::kPassword << "\n";
  chmod((dir / "pgpass").c_str(), 0600);
  setenv("PGPASSFILE", (dir / "pgpass").c_str(), 1);
  EXPECT_TRUE(readable(pg_->url(db, false)));
  unsetenv("PGPASSFILE");

  // A wrong password is refused without being shown.
  try {
    sweep::open_storage("postgresql://garbage:Wr0ngPw9@127.0.0.1:" + port + "/" + db);
    ADD_FAILURE() << "wrong password accepted";
  } catch (const ConfigError& e) {
    std::string what = e.what();
    EXPECT_EQ(what.find("Wr0ngPw9"), std::string::npos) << what;
    EXPECT_NE(what.find("garbage:***@127.0.0.1"), std::string::npos) << what;
  }
}

TEST_F(Postgres, TablesAreCreatedOnceByWorkersStartingTogetherAndANewerSchemaIsRefused) {
  const std::string db = pg_->fresh_database();
  const std::string url = pg_->url(db);
  const auto start = Clock::now() + 400ms;
  std::vector<pid_t> children;
  for (int i = 0; i < 6; ++i)
    children.push_back(fork_child([&] {
      std::this_thread::sleep_until(start);
      sweep::open_storage(url)->create_sweep("s", {{"k", 1}});
    }));
  for (pid_t pid : children) EXPECT_EQ(wait_child(pid), 0);
  EXPECT_EQ(sweep::open_storage(url)->sweep_names(), (std::vector<std::string>{"s"}));

  pg_->admin(
      "UPDATE garbage_schema SET version = " + std::to_string(sweep::kPostgresSchemaVersion + 1),
      db);
  try {
    sweep::open_storage(url);
    ADD_FAILURE() << "a newer schema was accepted";
  } catch (const ConfigError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("schema version " + std::to_string(sweep::kPostgresSchemaVersion + 1)),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("newer garbage binary"), std::string::npos) << what;
    EXPECT_EQ(what.find(PostgresServer::kPassword), std::string::npos) << what;
  }
}

TEST_F(Postgres, ALostConnectionIsRetriedForABoundedTime) {
  const std::string url = pg_->url(pg_->fresh_database());
  sweep::StorageOptions patient;
  patient.retry_for = 60;
  auto s = sweep::open_storage(url, patient);
  s->create_sweep("s", json::object());
  ASSERT_TRUE(s->claim_trial("s", claim("w:1", 3), counter()));

  pg_->stop();
  std::thread back([&] {
    std::this_thread::sleep_for(1s);
    pg_->start();
  });
  auto t0 = Clock::now();
  EXPECT_TRUE(s->record_epoch("s", 1, {1, 0.1, 0.2, 0.3, 0.4, 1.0}, 1));  // waits for the server
  back.join();
  EXPECT_GE(seconds_since(t0), 0.9);
  EXPECT_EQ(s->trials("s").at(0).epochs.size(), 1u);

  sweep::StorageOptions impatient;
  impatient.retry_for = 1;
  auto quick = sweep::open_storage(url, impatient);
  pg_->stop();
  t0 = Clock::now();
  EXPECT_THROW(quick->heartbeat("s", "w:1"), sweep::StorageUnavailable);
  EXPECT_LT(seconds_since(t0), 15.0);
  pg_->start();
  EXPECT_NO_THROW(quick->heartbeat("s", "w:1"));
}

TEST_F(Postgres, ThreeWorkersOneKilledWithSigkillMidTrial) {
  TempDir dir("pg-kill");
  const std::string url = pg_->url(pg_->fresh_database());
  auto config =
      garbage::testing::parse_sweep(garbage::testing::sweep_document("random", space(), 12));
  auto storage = sweep::open_storage(url);
  storage->create_sweep("k", config.document);
  std::vector<pid_t> workers;
  for (int c = 0; c < 3; ++c) {
    sweep::RunOptions o;
    o.name = "k";
    o.out_root = dir / "runs";
    o.heartbeat_every = 0.1;
    o.stale_after = 1.0;
    // Workers on "other hosts": only their heartbeat can tell that one died.
    o.worker = "host-" + std::to_string(c) + ":" + std::to_string(c + 1);
    workers.push_back(
        start_worker(url, config, o, dir / ("ran-" + std::to_string(c) + ".txt"), 60ms));
  }
  std::optional<int64_t> victim;
  for (auto t0 = Clock::now(); !victim && seconds_since(t0) < 20;) {
    for (const auto& t : storage->trials("k"))
      if (t.worker == "host-0:1" && t.status == sweep::TrialStatus::running && t.epochs.size() >= 2)
        victim = t.id;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(victim) << "worker 0 never got into a trial";
  kill(workers[0], SIGKILL);
  EXPECT_EQ(wait_child(workers[0]), -1);
  EXPECT_EQ(wait_child(workers[1]), 0);
  EXPECT_EQ(wait_child(workers[2]), 0);

  auto trials = storage->trials("k");
  ASSERT_EQ(trials.size(), 12u);  // run_cap held
  for (const auto& t : trials) {
    EXPECT_EQ(t.status, sweep::TrialStatus::finished) << "trial " << t.id << ": " << t.note;
    EXPECT_EQ(t.epochs.size(), 9u) << "trial " << t.id;
    EXPECT_EQ(t.attempts, t.id == *victim ? 2 : 1) << "trial " << t.id;
  }
  EXPECT_NE(trials.at(*victim - 1).worker, "host-0:1");  // finished by a survivor
  auto ran = trials_started(dir.path(), 3);
  EXPECT_EQ(ran.size(), 13u);
  for (int id = 1; id <= 12; ++id)
    EXPECT_EQ(ran.count(id), id == *victim ? 2u : 1u) << "trial " << id;
}

TEST_F(Postgres, ServerRestartWhileWorkersRunLosesNoResult) {
  TempDir dir("pg-restart");
  const std::string url = pg_->url(pg_->fresh_database());
  auto config =
      garbage::testing::parse_sweep(garbage::testing::sweep_document("bayes", space(), 12));
  auto storage = sweep::open_storage(url);
  storage->create_sweep("r", config.document);
  std::vector<pid_t> workers;
  for (int c = 0; c < 3; ++c) {
    sweep::RunOptions o;
    o.name = "r";
    o.out_root = dir / "runs";
    o.heartbeat_every = 0.1;
    workers.push_back(
        start_worker(url, config, o, dir / ("ran-" + std::to_string(c) + ".txt"), 40ms));
  }
  for (auto t0 = Clock::now(); seconds_since(t0) < 20;) {
    int started = 0;
    for (const auto& t : storage->trials("r")) started += t.epochs.empty() ? 0 : 1;
    if (started >= 3) break;
    std::this_thread::sleep_for(10ms);
  }
  auto t0 = Clock::now();
  pg_->restart();
  const double outage = seconds_since(t0);
  for (pid_t pid : workers) EXPECT_EQ(wait_child(pid), 0);

  auto trials = storage->trials("r");
  ASSERT_EQ(trials.size(), 12u);
  size_t epochs = 0;
  for (const auto& t : trials) {
    EXPECT_EQ(t.status, sweep::TrialStatus::finished) << "trial " << t.id << ": " << t.note;
    EXPECT_EQ(t.epochs.size(), 9u) << "trial " << t.id;
    EXPECT_EQ(t.attempts, 1) << "trial " << t.id;
    epochs += t.epochs.size();
  }
  EXPECT_EQ(trials_started(dir.path(), 3).size(), 12u);  // nothing ran twice
  std::printf("[restart] server down %.2f s; %zu trials finished, %zu epochs stored\n", outage,
              trials.size(), epochs);
}

TEST_F(Postgres, SweepCopyRoundTripAndTheCliNeverShowsThePassword) {
  TempDir dir("pg-copy");
  const std::string db = pg_->fresh_database();
  const std::string pg_url = pg_->url(db);
  const std::string a = "sqlite:///" + (dir / "a.db").string();
  const std::string b = "sqlite:///" + (dir / "b.db").string();
  auto config =
      garbage::testing::parse_sweep(garbage::testing::sweep_document("random", space(), 4));
  {
    auto storage = sweep::open_storage(a);
    storage->create_sweep("c", config.document);
    sweep::RunOptions o;
    o.name = "c";
    o.out_root = dir / "runs";
    auto replay = garbage::testing::curve_trial(curve);
    sweep::TrialFn trial = [&](sweep::TrialContext& ctx) {
      if (ctx.trial.id == 3) throw garbage::Error("training diverged: loss is nan");
      replay(ctx);
    };
    sweep::run_sweep(*storage, config, o, trial);
  }
  auto there = run_garbage("sweep copy --from " + a + " --to " + pg_url + " --name c");
  ASSERT_EQ(there.code, 0) << there.output;
  auto back = run_garbage("sweep copy --from " + pg_url + " --to " + b + " --name c");
  ASSERT_EQ(back.code, 0) << back.output;
  for (const auto& out : {there.output, back.output}) {
    EXPECT_EQ(out.find(PostgresServer::kPassword), std::string::npos) << out;
    EXPECT_NE(out.find("garbage:***@"), std::string::npos) << out;
  }
  auto from = sweep::open_storage(a), to = sweep::open_storage(b);
  EXPECT_EQ(*to->load_sweep("c"), *from->load_sweep("c"));
  auto original = from->trials("c"), copied = to->trials("c");
  ASSERT_EQ(copied.size(), original.size());
  for (size_t i = 0; i < original.size(); ++i) {
    const auto &x = original[i], &y = copied[i];
    EXPECT_EQ(y.id, x.id);
    EXPECT_EQ(y.params, x.params);
    EXPECT_EQ(y.status, x.status);
    EXPECT_EQ(y.worker, x.worker);
    EXPECT_EQ(y.attempts, x.attempts);
    EXPECT_EQ(y.created, x.created);
    EXPECT_EQ(y.heartbeat, x.heartbeat);
    EXPECT_EQ(y.ended, x.ended);
    EXPECT_EQ(y.value, x.value);
    EXPECT_EQ(y.run_dir, x.run_dir);
    EXPECT_EQ(y.note, x.note);
    ASSERT_EQ(y.epochs.size(), x.epochs.size());
    for (size_t e = 0; e < x.epochs.size(); ++e) {
      EXPECT_EQ(y.epochs[e].epoch, x.epochs[e].epoch);
      EXPECT_EQ(y.epochs[e].val_accuracy, x.epochs[e].val_accuracy);
      EXPECT_EQ(y.epochs[e].val_loss, x.epochs[e].val_loss);
      EXPECT_EQ(y.epochs[e].seconds, x.epochs[e].seconds);
    }
  }
  EXPECT_EQ(original.at(2).status, sweep::TrialStatus::failed);
  // Copying onto a sweep that has trials already is refused.
  auto again = run_garbage("sweep copy --from " + a + " --to " + pg_url + " --name c");
  EXPECT_EQ(again.code, 2) << again.output;
  EXPECT_NE(again.output.find("already has trials"), std::string::npos) << again.output;
  EXPECT_EQ(again.output.find(PostgresServer::kPassword), std::string::npos) << again.output;
}

TEST_F(Postgres, ARealSweepOnPostgresKeepsThePasswordOutOfLogsReportsAndRunFolders) {
  TempDir dir("pg-cli");
  garbage::testing::write_synthetic_dataset(dir / "data", 3, 8, 32);
  json base = garbage::testing::tiny_train_document(dir / "data", 1);
  json doc = {{"method", "random"},
              {"metric", {{"name", "val_accuracy"}, {"goal", "maximize"}}},
              {"parameters", {{"num_dense", {{"values", {8, 16}}}}}},
              {"run_cap", 2},
              {"base", base}};
  std::ofstream(dir / "sweep.json") << doc.dump(2);
  const std::string storage = " --storage " + pg_->url(pg_->fresh_database());
  auto create = run_garbage("sweep --config " + (dir / "sweep.json").string() +
                            " --name cli --create-only" + storage);
  ASSERT_EQ(create.code, 0) << create.output;
  auto run = run_garbage("sweep --name cli --worker --out " + (dir / "runs").string() + storage);
  ASSERT_EQ(run.code, 0) << run.output;
  auto report = run_garbage("sweep report --name cli --out " + (dir / "report").string() + storage);
  ASSERT_EQ(report.code, 0) << report.output;
  for (const auto& out : {create.output, run.output, report.output}) {
    EXPECT_EQ(out.find(PostgresServer::kPassword), std::string::npos) << out;
  }
  EXPECT_NE(create.output.find("garbage:***@127.0.0.1"), std::string::npos) << create.output;
  EXPECT_TRUE(fs::exists(dir / "runs" / "trial-001" / "metrics.csv"));
  EXPECT_TRUE(fs::exists(dir / "report" / "report.json"));
  EXPECT_EQ(files_containing(dir / "runs", PostgresServer::kPassword), std::vector<std::string>{});
  EXPECT_EQ(files_containing(dir / "report", PostgresServer::kPassword),
            std::vector<std::string>{});
}
