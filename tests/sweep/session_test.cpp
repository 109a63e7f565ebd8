// What a `garbage sweep` invocation means (sweep/session.hpp), without the binary: create or
// continue, the same-sweep check, joining, run options, which sweep a report is about.

#include <fstream>

#include <gtest/gtest.h>

#include "garbage/core/errors.hpp"
#include "garbage/sweep/session.hpp"
#include "sweep_fixture.hpp"

namespace sweep = garbage::sweep;
using garbage::ConfigError;
using garbage::testing::TempDir;
using nlohmann::json;

namespace {

json lr_space() {
  return {{"lr", {{"distribution", "log_uniform_values"}, {"min", 1e-4}, {"max", 1e-2}}}};
}

/// Writes `doc` as dir/name and returns a request to create the sweep from it.
sweep::SessionOptions request(const TempDir& dir, const json& doc,
                              const std::string& file = "my_sweep.json") {
  std::ofstream(dir / file) << doc.dump(2);
  sweep::SessionOptions o;
  o.config_file = (dir / file).string();
  o.storage_url = "sqlite:///" + (dir / "s.db").string();
  return o;
}

/// The message of the ConfigError `f` throws ("" when it throws none).
template <typename F>
std::string config_error(F f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(SweepSession, CreatesThenContinuesAndOnlyRunCapMayChange) {
  TempDir dir("session");
  json doc = garbage::testing::sweep_document("bayes", lr_space(), 5);
  auto o = request(dir, doc);
  o.overrides = {"data.subset=0.5"};
  o.max_epochs = 4;
  auto storage = sweep::open_storage(o.storage_url);
  auto first = sweep::open_session(*storage, o);
  EXPECT_EQ(first.name, "my_sweep");  // the file's stem: it has no `name`
  EXPECT_EQ(first.config.epochs(), 4);
  EXPECT_DOUBLE_EQ(first.config.base["data"]["subset"].get<double>(), 0.5);
  EXPECT_EQ(*storage->load_sweep("my_sweep"), first.config.document);

  // The same request continues the stored sweep.
  auto again = sweep::open_session(*storage, o);
  EXPECT_EQ(again.config.document, first.config.document);

  // A new run_cap is stored; anything else is refused, naming the first difference.
  doc["run_cap"] = 9;
  auto grown = request(dir, doc);
  grown.overrides = o.overrides;
  grown.max_epochs = 4;
  sweep::open_session(*storage, grown);
  EXPECT_EQ((*storage->load_sweep("my_sweep"))["run_cap"], 9);
  auto changed = grown;
  changed.max_epochs = 3;
  std::string what = config_error([&] { sweep::open_session(*storage, changed); });
  EXPECT_NE(what.find("already exists"), std::string::npos) << what;
  EXPECT_NE(what.find("/base/train/epochs"), std::string::npos) << what;
  EXPECT_NE(what.find("--worker"), std::string::npos) << what;

  // A `name` in the file wins over the stem; --name over both.
  doc["name"] = "named";
  auto named = request(dir, doc, "other.json");
  EXPECT_EQ(sweep::open_session(*storage, named).name, "named");
  named.name = "explicit";
  EXPECT_EQ(sweep::open_session(*storage, named).name, "explicit");
}

TEST(SweepSession, CheckSameSweepIgnoresRunCapOnly) {
  json a = {{"run_cap", 3}, {"method", "bayes"}, {"parameters", {{"lr", 1}}}};
  json b = a;
  b["run_cap"] = 30;
  EXPECT_NO_THROW(sweep::check_same_sweep("s", "sqlite:///x.db", a, b));
  b["parameters"]["lr"] = 2;
  std::string what =
      config_error([&] { sweep::check_same_sweep("s", "postgresql://me:pw@h/db", a, b); });
  EXPECT_NE(what.find("/parameters/lr"), std::string::npos) << what;
  EXPECT_EQ(what.find(":pw@"), std::string::npos) << what;  // the URL is shown masked
}

TEST(SweepSession, JoiningNeedsAStoredSweepAndNoCreateOptions) {
  TempDir dir("session");
  auto created = request(dir, garbage::testing::sweep_document("random", lr_space(), 3));
  auto storage = sweep::open_storage(created.storage_url);
  auto session = sweep::open_session(*storage, created);

  sweep::SessionOptions join;
  join.storage_url = created.storage_url;
  join.join = true;
  EXPECT_NE(config_error([&] { sweep::open_session(*storage, join); }).find("--name"),
            std::string::npos);
  join.name = "nope";
  EXPECT_NE(config_error([&] { sweep::open_session(*storage, join); }).find("no sweep named nope"),
            std::string::npos);
  join.name = session.name;
  auto joined = sweep::open_session(*storage, join);
  EXPECT_EQ(joined.config.document, session.config.document);
  EXPECT_EQ(joined.run.name, session.name);
  join.overrides = {"seed=3"};
  EXPECT_NE(config_error([&] { sweep::open_session(*storage, join); }).find("only apply"),
            std::string::npos);
}

TEST(SweepSession, OptionChecksAndRunOptions) {
  sweep::SessionOptions o;
  EXPECT_NE(config_error([&] { sweep::check_session_options(o); }).find("--config"),
            std::string::npos);
  o.config_file = "x.json";
  o.workers = 0;
  EXPECT_NE(config_error([&] { sweep::check_session_options(o); }).find("--workers"),
            std::string::npos);
  o.workers = 3;
  o.threads = 6;
  o.time_budget = 60;
  o.stale_after = 30;
  o.data_root = "/data";
  auto run = sweep::make_run_options(o, "s1");
  EXPECT_EQ(run.name, "s1");
  EXPECT_EQ(run.workers, 3);
  EXPECT_EQ(run.threads, 6);
  EXPECT_EQ(run.time_budget, 60);
  EXPECT_EQ(run.stale_after, 30);
  EXPECT_EQ(run.data_root, "/data");
  EXPECT_EQ(run.out_root, std::filesystem::path("runs/sweeps/s1"));
  o.out = "elsewhere";
  EXPECT_EQ(sweep::make_run_options(o, "s1").out_root, std::filesystem::path("elsewhere"));
}

TEST(SweepSession, ReportNameIsTheOnlySweepOrAStoredOne) {
  TempDir dir("session");
  auto storage = sweep::open_storage("sqlite:///" + (dir / "s.db").string());
  EXPECT_NE(config_error([&] { sweep::resolve_sweep_name(*storage, "", "u"); }).find("0 sweeps"),
            std::string::npos);
  storage->create_sweep("one", json::object());
  EXPECT_EQ(sweep::resolve_sweep_name(*storage, "", "u"), "one");
  EXPECT_EQ(sweep::resolve_sweep_name(*storage, "one", "u"), "one");
  storage->create_sweep("two", json::object());
  EXPECT_NE(config_error([&] { sweep::resolve_sweep_name(*storage, "", "u"); }).find("--name"),
            std::string::npos);
  std::string what = config_error([&] { sweep::resolve_sweep_name(*storage, "three", "u"); });
  EXPECT_NE(what.find("no sweep named three"), std::string::npos) << what;
  EXPECT_NE(what.find("one, two"), std::string::npos) << what;
}
