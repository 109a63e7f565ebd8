// PostgreSQL storage on libpq, for workers on many hosts sharing one database.
//
// - Claims: a queued trial is taken with SELECT ... FOR UPDATE SKIP LOCKED (concurrent claimers
//   skip each other's rows); a new trial is only created while holding the sweep's row lock, so
//   counting against run_cap and the suggestion (which reads every trial) see all earlier claims.
// - Hyperband verdicts of one sweep are serialised by an advisory lock, so workers reaching a
//   bracket together decide as if one after the other.
// - Connection loss: every call reconnects with exponential back-off for up to
//   StorageOptions::retry_for seconds. Every write is safe to repeat: epochs are upserts, writes
//   carry the attempt number (a re-queued trial's old attempt is refused), and a claim carries a
//   token so a claim whose COMMIT was cut off is found again instead of made twice.
// - Tables are created under an advisory lock (CREATE TABLE IF NOT EXISTS alone races), with a
//   schema version row; a newer schema refuses this binary.

#include "garbage/sweep/postgres_storage.hpp"

#include <libpq-fe.h>

#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <spdlog/spdlog.h>

#include "garbage/core/errors.hpp"

namespace garbage::sweep {
namespace {

using Clock = std::chrono::steady_clock;

// Arbitrary constants naming this program's advisory locks.
constexpr int64_t kSchemaLock = 0x67617262616765;  // "garbage"
constexpr const char* kJudgeLockPrefix = "garbage-sweep-judge:";

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// A double as PostgreSQL reads it back exactly.
std::string sql_double(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return fmt::format("{}", v);
}

/// The connection is gone (or the server is shutting down): reconnect and try again.
class ConnectionLost : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A deadlock or serialisation failure: the transaction may simply run again.
class TransientFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

bool is_connection_state(const std::string& sqlstate) {
  // 08: connection exception; 57P01-03: admin/crash shutdown, cannot connect now.
  return sqlstate.rfind("08", 0) == 0 || sqlstate == "57P01" || sqlstate == "57P02" ||
         sqlstate == "57P03";
}

class Result {
 public:
  explicit Result(PGresult* r) : r_(r) {}
  ~Result() { PQclear(r_); }
  Result(Result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;

  int rows() const { return PQntuples(r_); }
  bool is_null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  std::string text(int row, int col) const { return PQgetvalue(r_, row, col); }
  int64_t integer(int row, int col) const { return std::stoll(text(row, col)); }
  double real(int row, int col) const { return std::stod(text(row, col)); }

 private:
  PGresult* r_;
};

using Params = std::vector<std::optional<std::string>>;

class Connection {
 public:
  Connection(std::string url, std::string shown) : url_(std::move(url)), shown_(std::move(shown)) {}
  ~Connection() { close(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Connects when not connected. Throws ConnectionLost with libpq's reason.
  void ensure() {
    if (conn_ && PQstatus(conn_) == CONNECTION_OK) return;
    close();
    // Defaults first: a connect_timeout or application_name in the URL overrides them.
    const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char* values[] = {"10", "garbage-sweep", url_.c_str(), nullptr};
    conn_ = PQconnectdbParams(keys, values, 1);
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
      std::string why = conn_ ? PQerrorMessage(conn_) : "out of memory";
      close();
      throw ConnectionLost(trim(why));
    }
    // CREATE TABLE IF NOT EXISTS and friends talk; keep libpq from printing to stderr.
    PQsetNoticeProcessor(
        conn_, [](void*, const char* message) { spdlog::debug("postgresql: {}", message); },
        nullptr);
  }

  void close() {
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
  }

  Result exec(const std::string& sql, const Params& params = {}) {
    ensure();
    std::vector<const char*> raw;
    raw.reserve(params.size());
    for (const auto& p : params) raw.push_back(p ? p->c_str() : nullptr);
    PGresult* r = params.empty() ? PQexec(conn_, sql.c_str())
                                 : PQexecParams(conn_, sql.c_str(), static_cast<int>(raw.size()),
                                                nullptr, raw.data(), nullptr, nullptr, 0);
    Result result(r);
    auto status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    std::string sqlstate = state ? state : "";
    std::string why = trim(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
    if (why.empty()) why = trim(PQerrorMessage(conn_));
    if (PQstatus(conn_) != CONNECTION_OK || is_connection_state(sqlstate)) {
      close();
      throw ConnectionLost(why);
    }
    if (sqlstate == "40001" || sqlstate == "40P01") throw TransientFailure(why);
    throw Error("postgresql " + shown_ + ": " + why + " (in: " + first_line(sql) + ")");
  }

  /// Rolls back whatever is open; the connection may already be gone.
  void rollback_quietly() noexcept {
    if (conn_ && PQstatus(conn_) == CONNECTION_OK) PQclear(PQexec(conn_, "ROLLBACK"));
  }

 private:
  static std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    for (auto& c : s)
      if (c == '\n' || c == '\t') c = ' ';
    return s;
  }
  static std::string first_line(const std::string& sql) {
    auto start = sql.find_first_not_of(" \n");
    auto s = start == std::string::npos ? sql : sql.substr(start);
    return s.substr(0, std::min(s.find('\n'), size_t{60}));
  }

  std::string url_, shown_;
  PGconn* conn_ = nullptr;
};

const char* kCreateTables = R"sql(
CREATE TABLE IF NOT EXISTS garbage_sweeps (
  name TEXT PRIMARY KEY,
  document TEXT NOT NULL,
  created DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS garbage_trials (
  sweep TEXT NOT NULL REFERENCES garbage_sweeps(name) ON DELETE CASCADE,
  id BIGINT NOT NULL,
  params TEXT NOT NULL,
  status TEXT NOT NULL,
  worker TEXT NOT NULL DEFAULT '',
  attempts BIGINT NOT NULL DEFAULT 0,
  claim_token TEXT NOT NULL DEFAULT '',
  created DOUBLE PRECISION NOT NULL,
  heartbeat DOUBLE PRECISION NOT NULL DEFAULT 0,
  ended DOUBLE PRECISION NOT NULL DEFAULT 0,
  value DOUBLE PRECISION,
  run_dir TEXT NOT NULL DEFAULT '',
  note TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (sweep, id)
);
CREATE INDEX IF NOT EXISTS garbage_trials_status ON garbage_trials (sweep, status, id);
CREATE TABLE IF NOT EXISTS garbage_epochs (
  sweep TEXT NOT NULL,
  trial BIGINT NOT NULL,
  epoch BIGINT NOT NULL,
  train_loss DOUBLE PRECISION, train_accuracy DOUBLE PRECISION, val_loss DOUBLE PRECISION,
  val_accuracy DOUBLE PRECISION, seconds DOUBLE PRECISION,
  PRIMARY KEY (sweep, trial, epoch),
  FOREIGN KEY (sweep, trial) REFERENCES garbage_trials(sweep, id) ON DELETE CASCADE
);
)sql";

const char* kTrialColumns =
    "id, params, status, worker, attempts, created, heartbeat, ended, value, run_dir, note";

TrialRecord trial_from_row(const Result& r, int row) {
  TrialRecord t;
  t.id = r.integer(row, 0);
  t.params = json::parse(r.text(row, 1));
  t.status = parse_trial_status(r.text(row, 2));
  t.worker = r.text(row, 3);
  t.attempts = r.integer(row, 4);
  t.created = r.real(row, 5);
  t.heartbeat = r.real(row, 6);
  t.ended = r.real(row, 7);
  if (!r.is_null(row, 8)) t.value = r.real(row, 8);
  t.run_dir = r.text(row, 9);
  t.note = r.text(row, 10);
  return t;
}

std::string random_token() {
  static thread_local std::mt19937_64 rng(std::random_device{}() ^
                                          static_cast<uint64_t>(now_seconds() * 1e6));
  return fmt::format("{:016x}", rng());
}

class PostgresStorage : public Storage {
 public:
  PostgresStorage(const std::string& url, const StorageOptions& options)
      : shown_(redact_url(url)), options_(options), db_(url, shown_) {
    try {
      db_.ensure();
    } catch (const ConnectionLost& e) {
      throw ConfigError("--storage " + shown_ + ": cannot connect: " + e.what());
    }
    with_retry("create tables", [&] { create_tables(); });
  }

  json create_sweep(const std::string& name, const json& document) override {
    return with_retry("create sweep", [&] {
      Transaction tx(db_);
      db_.exec(
          "INSERT INTO garbage_sweeps(name, document, created) VALUES ($1, $2, $3) "
          "ON CONFLICT (name) DO NOTHING",
          {name, document.dump(), sql_double(now_seconds())});
      auto stored = load_sweep_now(name);
      tx.commit();
      return *stored;
    });
  }

  std::optional<json> load_sweep(const std::string& name) override {
    return with_retry("load sweep", [&] { return load_sweep_now(name); });
  }

  void update_sweep(const std::string& name, const json& document) override {
    with_retry("update sweep", [&] {
      db_.exec("UPDATE garbage_sweeps SET document = $1 WHERE name = $2", {document.dump(), name});
    });
  }

  std::vector<std::string> sweep_names() override {
    return with_retry("list sweeps", [&] {
      auto r = db_.exec("SELECT name FROM garbage_sweeps ORDER BY created, name");
      std::vector<std::string> names;
      for (int i = 0; i < r.rows(); ++i) names.push_back(r.text(i, 0));
      return names;
    });
  }

  std::optional<TrialRecord> claim_trial(const std::string& sweep, const ClaimOptions& options,
                                         const Suggest& suggest) override {
    const std::string token = random_token();
    bool retried = false;
    return with_retry("claim a trial", [&]() -> std::optional<TrialRecord> {
      // A retry after a lost COMMIT: the first try may have claimed a trial already.
      if (retried)
        if (auto mine = trial_with_token(sweep, token)) return mine;
      retried = true;
      Transaction tx(db_);
      auto claimed = claim_queued(sweep, options, token);
      if (!claimed) {
        // Creating a trial: one claimer per sweep at a time, so run_cap and the suggestion
        // see every trial.
        db_.exec("SELECT name FROM garbage_sweeps WHERE name = $1 FOR UPDATE", {sweep});
        reap_now(sweep, options);
        claimed = claim_queued(sweep, options, token);
        if (!claimed) claimed = create_trial(sweep, options, token, suggest);
      }
      if (!claimed) return std::nullopt;
      auto record = trial_by_id(sweep, *claimed);
      tx.commit();
      return record;
    });
  }

  void set_run_dir(const std::string& sweep, int64_t trial, const std::string& dir) override {
    with_retry("set run folder", [&] {
      db_.exec("UPDATE garbage_trials SET run_dir = $1 WHERE sweep = $2 AND id = $3",
               {dir, sweep, std::to_string(trial)});
    });
  }

  bool record_epoch(const std::string& sweep, int64_t trial, const EpochRecord& e,
                    int64_t attempt) override {
    return with_retry("record an epoch", [&] {
      Transaction tx(db_);
      if (!record_epoch_now(sweep, trial, e, attempt)) return false;
      tx.commit();
      return true;
    });
  }

  std::optional<bool> record_epoch_and_judge(const std::string& sweep, int64_t trial,
                                             const EpochRecord& e, int64_t attempt,
                                             const Judge& judge) override {
    return with_retry("record an epoch", [&]() -> std::optional<bool> {
      Transaction tx(db_);
      db_.exec("SELECT pg_advisory_xact_lock(hashtext($1))", {kJudgeLockPrefix + sweep});
      if (!record_epoch_now(sweep, trial, e, attempt)) return std::nullopt;
      bool verdict = judge(trials_now(sweep));
      tx.commit();
      return verdict;
    });
  }

  bool end_trial(const std::string& sweep, int64_t trial, TrialStatus status,
                 std::optional<double> value, const std::string& note, int64_t attempt) override {
    return with_retry("end a trial", [&] {
      Transaction tx(db_);
      auto r = db_.exec(
          "SELECT status, attempts FROM garbage_trials WHERE sweep = $1 AND id = $2 FOR UPDATE",
          {sweep, std::to_string(trial)});
      if (r.rows() == 0) return false;
      auto current = parse_trial_status(r.text(0, 0));
      if (attempt != kAnyAttempt) {
        if (r.integer(0, 1) != attempt) return false;
        if (current == status) return true;  // a retried write that went through before
        if (current != TrialStatus::running) return false;
      }
      end_trial_now(sweep, trial, status, value, note);
      tx.commit();
      return true;
    });
  }

  void heartbeat(const std::string& sweep, const std::string& worker) override {
    with_retry("heartbeat", [&] {
      db_.exec(
          "UPDATE garbage_trials SET heartbeat = $1 WHERE sweep = $2 AND worker = $3 AND "
          "status = 'running'",
          {sql_double(now_seconds()), sweep, worker});
    });
  }

  int reap_stale(const std::string& sweep, const ClaimOptions& options) override {
    return with_retry("re-queue stale trials", [&] {
      Transaction tx(db_);
      int n = reap_now(sweep, options);
      tx.commit();
      return n;
    });
  }

  std::vector<TrialRecord> trials(const std::string& sweep) override {
    return with_retry("read trials", [&] {
      // One snapshot for the trials and their epochs.
      Transaction tx(db_, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      auto out = trials_now(sweep);
      tx.commit();
      return out;
    });
  }

  void import_trials(const std::string& sweep, const std::vector<TrialRecord>& rows) override {
    with_retry("import trials", [&] {
      Transaction tx(db_);
      if (db_.exec("SELECT name FROM garbage_sweeps WHERE name = $1 FOR UPDATE", {sweep}).rows() ==
          0)
        throw ConfigError("sweep " + sweep + " does not exist in " + shown_);
      if (db_.exec("SELECT 1 FROM garbage_trials WHERE sweep = $1 LIMIT 1", {sweep}).rows() > 0)
        throw ConfigError("sweep " + sweep + " already has trials in " + shown_);
      for (const auto& t : rows) {
        db_.exec(
            "INSERT INTO garbage_trials(sweep, id, params, status, worker, attempts, created, "
            "heartbeat, ended, value, run_dir, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
            "$10, $11, $12)",
            {sweep, std::to_string(t.id), t.params.dump(), to_string(t.status), t.worker,
             std::to_string(t.attempts), sql_double(t.created), sql_double(t.heartbeat),
             sql_double(t.ended),
             t.value ? std::optional<std::string>(sql_double(*t.value)) : std::nullopt, t.run_dir,
             t.note});
        for (const auto& e : t.epochs) upsert_epoch(sweep, t.id, e);
      }
      tx.commit();
    });
  }

 private:
  /// BEGIN ... COMMIT; rolled back when left without commit().
  class Transaction {
   public:
    explicit Transaction(Connection& db, const char* begin = "BEGIN") : db_(db) { db_.exec(begin); }
    ~Transaction() {
      if (!done_) db_.rollback_quietly();
    }
    void commit() {
      db_.exec("COMMIT");
      done_ = true;
    }

   private:
    Connection& db_;
    bool done_ = false;
  };

  /// Runs `fn` (one transaction or statement), reconnecting with back-off while the connection
  /// is lost, for at most options_.retry_for seconds. Calls are serialised: one connection.
  template <typename F>
  auto with_retry(const char* what, F fn) -> decltype(fn()) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto deadline = Clock::now() + std::chrono::duration<double>(options_.retry_for);
    double delay = 0.1;
    bool warned = false;
    for (;;) {
      try {
        auto finish = [&] {
          if (warned) spdlog::info("sweep storage {}: connection is back", shown_);
        };
        if constexpr (std::is_void_v<decltype(fn())>) {
          fn();
          finish();
          return;
        } else {
          auto out = fn();
          finish();
          return out;
        }
      } catch (const TransientFailure&) {
        continue;  // deadlock victim or serialisation failure: run it again at once
      } catch (const ConnectionLost& e) {
        if (Clock::now() >= deadline)
          throw StorageUnavailable(fmt::format(
              "sweep storage {}: {}: the database is unreachable (gave up after {} s): {}", shown_,
              what, options_.retry_for, e.what()));
        if (!warned)
          spdlog::warn("sweep storage {}: {}: connection lost ({}); reconnecting for up to {} s",
                       shown_, what, e.what(), options_.retry_for);
        warned = true;
        std::this_thread::sleep_for(std::chrono::duration<double>(delay));
        delay = std::min(delay * 2, 5.0);
      }
    }
  }

  void create_tables() {
    Transaction tx(db_);
    // Two workers starting at once would both see "table missing" without this lock.
    db_.exec("SELECT pg_advisory_xact_lock(" + std::to_string(kSchemaLock) + ")");
    db_.exec(
        "CREATE TABLE IF NOT EXISTS garbage_schema (id INTEGER PRIMARY KEY CHECK (id = 1), "
        "version INTEGER NOT NULL)");
    db_.exec("INSERT INTO garbage_schema(id, version) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
             {std::to_string(kPostgresSchemaVersion)});
    int version =
        static_cast<int>(db_.exec("SELECT version FROM garbage_schema WHERE id = 1").integer(0, 0));
    if (version > kPostgresSchemaVersion)
      throw ConfigError(fmt::format(
          "--storage {}: the sweep tables have schema version {}, newer than this garbage "
          "binary's ({}); use a newer garbage binary with this database",
          shown_, version, kPostgresSchemaVersion));
    db_.exec(kCreateTables);
    tx.commit();
  }

  std::optional<json> load_sweep_now(const std::string& name) {
    auto r = db_.exec("SELECT document FROM garbage_sweeps WHERE name = $1", {name});
    if (r.rows() == 0) return std::nullopt;
    return json::parse(r.text(0, 0));
  }

  std::optional<TrialRecord> trial_by_id(const std::string& sweep, int64_t id) {
    auto r = db_.exec(std::string("SELECT ") + kTrialColumns +
                          " FROM garbage_trials WHERE sweep = $1 AND id = $2",
                      {sweep, std::to_string(id)});
    if (r.rows() == 0) return std::nullopt;
    return trial_from_row(r, 0);
  }

  std::optional<TrialRecord> trial_with_token(const std::string& sweep, const std::string& token) {
    auto r = db_.exec(std::string("SELECT ") + kTrialColumns +
                          " FROM garbage_trials WHERE sweep = $1 AND claim_token = $2 AND "
                          "status = 'running'",
                      {sweep, token});
    if (r.rows() == 0) return std::nullopt;
    return trial_from_row(r, 0);
  }

  /// Takes the oldest queued trial nobody else is taking right now.
  std::optional<int64_t> claim_queued(const std::string& sweep, const ClaimOptions& options,
                                      const std::string& token) {
    auto r = db_.exec(
        "SELECT id FROM garbage_trials WHERE sweep = $1 AND status = 'queued' ORDER BY id "
        "LIMIT 1 FOR UPDATE SKIP LOCKED",
        {sweep});
    if (r.rows() == 0) return std::nullopt;
    int64_t id = r.integer(0, 0);
    db_.exec(
        "UPDATE garbage_trials SET status = 'running', worker = $1, attempts = attempts + 1, "
        "heartbeat = $2, note = '', claim_token = $3 WHERE sweep = $4 AND id = $5",
        {options.worker, sql_double(now_seconds()), token, sweep, std::to_string(id)});
    return id;
  }

  /// Below run_cap, a new trial from `suggest`; the caller holds the sweep's row lock.
  std::optional<int64_t> create_trial(const std::string& sweep, const ClaimOptions& options,
                                      const std::string& token, const Suggest& suggest) {
    auto all = trials_now(sweep);
    if (static_cast<int64_t>(all.size()) >= options.run_cap) return std::nullopt;
    auto params = suggest(all);
    if (!params) return std::nullopt;
    int64_t id = all.empty() ? 1 : all.back().id + 1;
    const std::string now = sql_double(now_seconds());
    db_.exec(
        "INSERT INTO garbage_trials(sweep, id, params, status, worker, attempts, claim_token, "
        "created, heartbeat) VALUES ($1, $2, $3, 'running', $4, 1, $5, $6, $6)",
        {sweep, std::to_string(id), params->dump(), options.worker, token, now});
    return id;
  }

  /// True when the epoch was stored (the attempt is the trial's running attempt).
  bool record_epoch_now(const std::string& sweep, int64_t trial, const EpochRecord& e,
                        int64_t attempt) {
    auto r = db_.exec(
        "SELECT status, attempts FROM garbage_trials WHERE sweep = $1 AND id = $2 FOR UPDATE",
        {sweep, std::to_string(trial)});
    if (r.rows() == 0) return false;
    if (attempt != kAnyAttempt && (r.text(0, 0) != "running" || r.integer(0, 1) != attempt))
      return false;
    upsert_epoch(sweep, trial, e);
    db_.exec("UPDATE garbage_trials SET heartbeat = $1 WHERE sweep = $2 AND id = $3",
             {sql_double(now_seconds()), sweep, std::to_string(trial)});
    return true;
  }

  void upsert_epoch(const std::string& sweep, int64_t trial, const EpochRecord& e) {
    db_.exec(
        "INSERT INTO garbage_epochs(sweep, trial, epoch, train_loss, train_accuracy, val_loss, "
        "val_accuracy, seconds) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
        "ON CONFLICT (sweep, trial, epoch) DO UPDATE SET train_loss = EXCLUDED.train_loss, "
        "train_accuracy = EXCLUDED.train_accuracy, val_loss = EXCLUDED.val_loss, "
        "val_accuracy = EXCLUDED.val_accuracy, seconds = EXCLUDED.seconds",
        {sweep, std::to_string(trial), std::to_string(e.epoch), sql_double(e.train_loss),
         sql_double(e.train_accuracy), sql_double(e.val_loss), sql_double(e.val_accuracy),
         sql_double(e.seconds)});
  }

  void end_trial_now(const std::string& sweep, int64_t trial, TrialStatus status,
                     std::optional<double> value, const std::string& note) {
    const std::string id = std::to_string(trial);
    if (status == TrialStatus::queued) {
      db_.exec("DELETE FROM garbage_epochs WHERE sweep = $1 AND trial = $2", {sweep, id});
      db_.exec(
          "UPDATE garbage_trials SET status = 'queued', worker = '', claim_token = '', "
          "value = NULL, note = $1 WHERE sweep = $2 AND id = $3",
          {note, sweep, id});
      return;
    }
    const std::string now = sql_double(now_seconds());
    db_.exec(
        "UPDATE garbage_trials SET status = $1, value = $2, note = $3, ended = $4, heartbeat = $4 "
        "WHERE sweep = $5 AND id = $6",
        {to_string(status), value ? std::optional<std::string>(sql_double(*value)) : std::nullopt,
         note, now, sweep, id});
  }

  int reap_now(const std::string& sweep, const ClaimOptions& options) {
    auto r = db_.exec(
        "SELECT id, worker, heartbeat, attempts FROM garbage_trials WHERE sweep = $1 AND "
        "status = 'running' FOR UPDATE SKIP LOCKED",
        {sweep});
    const double now = now_seconds();
    int lost = 0;
    for (int i = 0; i < r.rows(); ++i) {
      const int64_t id = r.integer(i, 0), attempts = r.integer(i, 3);
      const std::string worker = r.text(i, 1);
      const double age = now - r.real(i, 2);
      std::string why;
      if (worker_is_gone(worker))
        why = "worker " + worker + " exited";
      else if (age > options.stale_after)
        why = "worker " + worker + " silent for " + std::to_string(static_cast<int>(age)) + " s";
      else
        continue;
      bool retry = attempts < options.max_attempts;
      spdlog::warn("sweep {}: trial {}: {}; {}", sweep, id, why,
                   retry ? "re-queued" : "failed after " + std::to_string(attempts) + " attempts");
      end_trial_now(sweep, id, retry ? TrialStatus::queued : TrialStatus::failed, std::nullopt,
                    why);
      ++lost;
    }
    return lost;
  }

  std::vector<TrialRecord> trials_now(const std::string& sweep) {
    std::vector<TrialRecord> out;
    std::map<int64_t, size_t> index;
    auto r = db_.exec(std::string("SELECT ") + kTrialColumns +
                          " FROM garbage_trials WHERE sweep = $1 ORDER BY id",
                      {sweep});
    for (int i = 0; i < r.rows(); ++i) {
      index[r.integer(i, 0)] = out.size();
      out.push_back(trial_from_row(r, i));
    }
    auto e = db_.exec(
        "SELECT trial, epoch, train_loss, train_accuracy, val_loss, val_accuracy, seconds FROM "
        "garbage_epochs WHERE sweep = $1 ORDER BY trial, epoch",
        {sweep});
    for (int i = 0; i < e.rows(); ++i) {
      auto it = index.find(e.integer(i, 0));
      if (it == index.end()) continue;
      out[it->second].epochs.push_back(
          {e.integer(i, 1), e.real(i, 2), e.real(i, 3), e.real(i, 4), e.real(i, 5), e.real(i, 6)});
    }
    return out;
  }

  std::string shown_;  ///< the URL with its password masked: the only form that is printed
  StorageOptions options_;
  Connection db_;
  std::mutex mutex_;
};

}  // namespace

std::unique_ptr<Storage> open_postgres_storage(const std::string& url,
                                               const StorageOptions& options) {
  return std::make_unique<PostgresStorage>(url, options);
}

}  // namespace garbage::sweep
