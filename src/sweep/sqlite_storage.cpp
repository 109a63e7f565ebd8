// SQLite storage: one file, WAL mode so readers (reports) never block workers, a busy timeout so
// workers queue for the write lock instead of failing, and BEGIN IMMEDIATE for claims so the
// decision "which trial runs next" is made by one process at a time.

#include "garbage/sweep/sqlite_storage.hpp"

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>

#include <spdlog/spdlog.h>

#include "garbage/core/errors.hpp"

namespace garbage::sweep {
namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS sweeps (
  name TEXT PRIMARY KEY,
  document TEXT NOT NULL,
  created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
  sweep TEXT NOT NULL,
  id INTEGER NOT NULL,
  params TEXT NOT NULL,
  status TEXT NOT NULL,
  worker TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  created REAL NOT NULL,
  heartbeat REAL NOT NULL DEFAULT 0,
  ended REAL NOT NULL DEFAULT 0,
  value REAL,
  run_dir TEXT NOT NULL DEFAULT '',
  note TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (sweep, id)
);
CREATE TABLE IF NOT EXISTS epochs (
  sweep TEXT NOT NULL,
  trial INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  train_loss REAL, train_accuracy REAL, val_loss REAL, val_accuracy REAL, seconds REAL,
  PRIMARY KEY (sweep, trial, epoch)
);
)sql";

class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK)
      throw Error("sqlite: " + std::string(sqlite3_errmsg(db)) + " in: " + sql);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Statement& bind(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  Statement& bind(int i, std::optional<double> v) {
    if (v) return bind(i, *v);
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  /// True while a row is available.
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw Error("sqlite: " + std::string(sqlite3_errmsg(db_)));
  }
  void run() {
    while (step()) {
    }
  }
  std::string text(int col) const {
    auto* p = sqlite3_column_text(stmt_, col);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

class SqliteStorage : public Storage {
 public:
  explicit SqliteStorage(const std::filesystem::path& file) : file_(file) {
    if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
    if (sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
        SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw Error(file.string() + ": cannot open sweep storage: " + msg);
    }
    // Waiting beats failing: claims are short, but a suggestion can take a second.
    sqlite3_busy_timeout(db_, 60000);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec("BEGIN IMMEDIATE");
    try {
      exec(kSchema);
      exec("COMMIT");
    } catch (...) {
      exec_noexcept("ROLLBACK");
      throw;
    }
  }
  ~SqliteStorage() override { sqlite3_close(db_); }

  json create_sweep(const std::string& name, const json& document) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Transaction tx(*this);
    if (auto stored = load_sweep_locked(name)) return *stored;
    Statement(db_, "INSERT INTO sweeps(name, document, created) VALUES (?, ?, ?)")
        .bind(1, name)
        .bind(2, document.dump())
        .bind(3, now_seconds())
        .run();
    tx.commit();
    return document;
  }

  std::optional<json> load_sweep(const std::string& name) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return load_sweep_locked(name);
  }

  void update_sweep(const std::string& name, const json& document) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Statement(db_, "UPDATE sweeps SET document = ? WHERE name = ?")
        .bind(1, document.dump())
        .bind(2, name)
        .run();
  }

  std::vector<std::string> sweep_names() override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> names;
    Statement st(db_, "SELECT name FROM sweeps ORDER BY created");
    while (st.step()) names.push_back(st.text(0));
    return names;
  }

  std::optional<TrialRecord> claim_trial(const std::string& sweep, const ClaimOptions& options,
                                         const Suggest& suggest) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Transaction tx(*this);
    reap_locked(sweep, options);
    const double now = now_seconds();
    std::optional<int64_t> id;
    {
      Statement st(
          db_, "SELECT id FROM trials WHERE sweep = ? AND status = 'queued' ORDER BY id LIMIT 1");
      st.bind(1, sweep);
      if (st.step()) id = st.integer(0);
    }
    if (id) {
      Statement(db_,
                "UPDATE trials SET status = 'running', worker = ?, attempts = attempts + 1, "
                "heartbeat = ?, note = '' WHERE sweep = ? AND id = ?")
          .bind(1, options.worker)
          .bind(2, now)
          .bind(3, sweep)
          .bind(4, *id)
          .run();
    } else {
      auto all = trials_locked(sweep);
      if (static_cast<int64_t>(all.size()) >= options.run_cap) return std::nullopt;
      auto params = suggest(all);
      if (!params) return std::nullopt;
      id = all.empty() ? 1 : all.back().id + 1;
      Statement(
          db_,
          "INSERT INTO trials(sweep, id, params, status, worker, attempts, created, heartbeat) "
          "VALUES (?, ?, ?, 'running', ?, 1, ?, ?)")
          .bind(1, sweep)
          .bind(2, *id)
          .bind(3, params->dump())
          .bind(4, options.worker)
          .bind(5, now)
          .bind(6, now)
          .run();
    }
    tx.commit();
    for (auto& t : trials_locked(sweep))
      if (t.id == *id) return t;
    throw Error("sqlite: claimed trial " + std::to_string(*id) + " vanished");
  }

  void set_run_dir(const std::string& sweep, int64_t trial, const std::string& dir) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Statement(db_, "UPDATE trials SET run_dir = ? WHERE sweep = ? AND id = ?")
        .bind(1, dir)
        .bind(2, sweep)
        .bind(3, trial)
        .run();
  }

  bool record_epoch(const std::string& sweep, int64_t trial, const EpochRecord& e,
                    int64_t attempt) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Transaction tx(*this);
    if (!record_epoch_locked(sweep, trial, e, attempt)) return false;
    tx.commit();
    return true;
  }

  std::optional<bool> record_epoch_and_judge(const std::string& sweep, int64_t trial,
                                             const EpochRecord& e, int64_t attempt,
                                             const Judge& judge) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Transaction tx(*this);  // BEGIN IMMEDIATE: no other writer until the verdict is in
    if (!record_epoch_locked(sweep, trial, e, attempt)) return std::nullopt;
    bool verdict = judge(trials_locked(sweep));
    tx.commit();
    return verdict;
  }

  bool end_trial(const std::string& sweep, int64_t trial, TrialStatus status,
                 std::optional<double> value, const std::string& note, int64_t attempt) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Transaction tx(*this);
    auto row = attempt_of(sweep, trial);
    if (!row) return false;
    if (attempt != kAnyAttempt) {
      if (row->second != attempt) return false;
      if (row->first == status) return true;  // a repeated write
      if (row->first != TrialStatus::running) return false;
    }
    end_trial_locked(sweep, trial, status, value, note);
    tx.commit();
    return true;
  }

  void import_trials(const std::string& sweep, const std::vector<TrialRecord>& rows) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Transaction tx(*this);
    if (!load_sweep_locked(sweep))
      throw ConfigError("sweep " + sweep + " does not exist in " + file_.string());
    if (!trials_locked(sweep).empty())
      throw ConfigError("sweep " + sweep + " already has trials in " + file_.string());
    for (const auto& t : rows) {
      Statement(db_,
                "INSERT INTO trials(sweep, id, params, status, worker, attempts, created, "
                "heartbeat, ended, value, run_dir, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "?)")
          .bind(1, sweep)
          .bind(2, t.id)
          .bind(3, t.params.dump())
          .bind(4, to_string(t.status))
          .bind(5, t.worker)
          .bind(6, t.attempts)
          .bind(7, t.created)
          .bind(8, t.heartbeat)
          .bind(9, t.ended)
          .bind(10, t.value)
          .bind(11, t.run_dir)
          .bind(12, t.note)
          .run();
      for (const auto& e : t.epochs) insert_epoch(sweep, t.id, e);
    }
    tx.commit();
  }

  void heartbeat(const std::string& sweep, const std::string& worker) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Statement(
        db_,
        "UPDATE trials SET heartbeat = ? WHERE sweep = ? AND worker = ? AND status = 'running'")
        .bind(1, now_seconds())
        .bind(2, sweep)
        .bind(3, worker)
        .run();
  }

  int reap_stale(const std::string& sweep, const ClaimOptions& options) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Transaction tx(*this);
    int n = reap_locked(sweep, options);
    tx.commit();
    return n;
  }

  std::vector<TrialRecord> trials(const std::string& sweep) override {
    std::lock_guard<std::mutex> lock(mutex_);
    // A read transaction gives one consistent snapshot of trials and epochs.
    exec("BEGIN");
    try {
      auto out = trials_locked(sweep);
      exec("COMMIT");
      return out;
    } catch (...) {
      exec_noexcept("ROLLBACK");
      throw;
    }
  }

 private:
  /// (status, attempts) of a trial, nullopt when it does not exist.
  std::optional<std::pair<TrialStatus, int64_t>> attempt_of(const std::string& sweep,
                                                            int64_t trial) {
    Statement st(db_, "SELECT status, attempts FROM trials WHERE sweep = ? AND id = ?");
    st.bind(1, sweep).bind(2, trial);
    if (!st.step()) return std::nullopt;
    return std::make_pair(parse_trial_status(st.text(0)), st.integer(1));
  }

  bool record_epoch_locked(const std::string& sweep, int64_t trial, const EpochRecord& e,
                           int64_t attempt) {
    auto row = attempt_of(sweep, trial);
    if (!row) return false;
    if (attempt != kAnyAttempt && (row->first != TrialStatus::running || row->second != attempt))
      return false;
    insert_epoch(sweep, trial, e);
    Statement(db_, "UPDATE trials SET heartbeat = ? WHERE sweep = ? AND id = ?")
        .bind(1, now_seconds())
        .bind(2, sweep)
        .bind(3, trial)
        .run();
    return true;
  }

  void insert_epoch(const std::string& sweep, int64_t trial, const EpochRecord& e) {
    Statement(db_,
              "INSERT OR REPLACE INTO epochs(sweep, trial, epoch, train_loss, train_accuracy, "
              "val_loss, val_accuracy, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(1, sweep)
        .bind(2, trial)
        .bind(3, e.epoch)
        .bind(4, e.train_loss)
        .bind(5, e.train_accuracy)
        .bind(6, e.val_loss)
        .bind(7, e.val_accuracy)
        .bind(8, e.seconds)
        .run();
  }

  class Transaction {
   public:
    explicit Transaction(SqliteStorage& s) : s_(s) { s_.exec("BEGIN IMMEDIATE"); }
    ~Transaction() {
      if (!done_) s_.exec_noexcept("ROLLBACK");
    }
    void commit() {
      s_.exec("COMMIT");
      done_ = true;
    }

   private:
    SqliteStorage& s_;
    bool done_ = false;
  };

  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      throw Error(file_.string() + ": sqlite: " + msg);
    }
  }
  void exec_noexcept(const std::string& sql) noexcept {
    sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  }

  std::optional<json> load_sweep_locked(const std::string& name) {
    Statement st(db_, "SELECT document FROM sweeps WHERE name = ?");
    st.bind(1, name);
    if (!st.step()) return std::nullopt;
    return json::parse(st.text(0));
  }

  void end_trial_locked(const std::string& sweep, int64_t trial, TrialStatus status,
                        std::optional<double> value, const std::string& note) {
    if (status == TrialStatus::queued) {
      Statement(db_, "DELETE FROM epochs WHERE sweep = ? AND trial = ?")
          .bind(1, sweep)
          .bind(2, trial)
          .run();
      Statement(db_,
                "UPDATE trials SET status = 'queued', worker = '', value = NULL, note = ? "
                "WHERE sweep = ? AND id = ?")
          .bind(1, note)
          .bind(2, sweep)
          .bind(3, trial)
          .run();
      return;
    }
    Statement(db_,
              "UPDATE trials SET status = ?, value = ?, note = ?, ended = ?, heartbeat = ? "
              "WHERE sweep = ? AND id = ?")
        .bind(1, to_string(status))
        .bind(2, value)
        .bind(3, note)
        .bind(4, now_seconds())
        .bind(5, now_seconds())
        .bind(6, sweep)
        .bind(7, trial)
        .run();
  }

  int reap_locked(const std::string& sweep, const ClaimOptions& options) {
    struct Lost {
      int64_t id, attempts;
      std::string why;
    };
    std::vector<Lost> lost;
    const double now = now_seconds();
    {
      Statement st(db_,
                   "SELECT id, worker, heartbeat, attempts FROM trials WHERE sweep = ? AND "
                   "status = 'running'");
      st.bind(1, sweep);
      while (st.step()) {
        std::string worker = st.text(1);
        double age = now - st.real(2);
        if (worker_is_gone(worker))
          lost.push_back({st.integer(0), st.integer(3), "worker " + worker + " exited"});
        else if (age > options.stale_after)
          lost.push_back(
              {st.integer(0), st.integer(3),
               "worker " + worker + " silent for " + std::to_string(static_cast<int>(age)) + " s"});
      }
    }
    for (const auto& t : lost) {
      bool retry = t.attempts < options.max_attempts;
      spdlog::warn(
          "sweep {}: trial {}: {}; {}", sweep, t.id, t.why,
          retry ? "re-queued" : "failed after " + std::to_string(t.attempts) + " attempts");
      end_trial_locked(sweep, t.id, retry ? TrialStatus::queued : TrialStatus::failed, std::nullopt,
                       t.why);
    }
    return static_cast<int>(lost.size());
  }

  std::vector<TrialRecord> trials_locked(const std::string& sweep) {
    std::vector<TrialRecord> out;
    std::map<int64_t, size_t> index;
    {
      Statement st(db_,
                   "SELECT id, params, status, worker, attempts, created, heartbeat, ended, value, "
                   "run_dir, note FROM trials WHERE sweep = ? ORDER BY id");
      st.bind(1, sweep);
      while (st.step()) {
        TrialRecord t;
        t.id = st.integer(0);
        t.params = json::parse(st.text(1));
        t.status = parse_trial_status(st.text(2));
        t.worker = st.text(3);
        t.attempts = st.integer(4);
        t.created = st.real(5);
        t.heartbeat = st.real(6);
        t.ended = st.real(7);
        if (!st.is_null(8)) t.value = st.real(8);
        t.run_dir = st.text(9);
        t.note = st.text(10);
        index[t.id] = out.size();
        out.push_back(std::move(t));
      }
    }
    Statement st(db_,
                 "SELECT trial, epoch, train_loss, train_accuracy, val_loss, val_accuracy, seconds "
                 "FROM epochs WHERE sweep = ? ORDER BY trial, epoch");
    st.bind(1, sweep);
    while (st.step()) {
      auto it = index.find(st.integer(0));
      if (it == index.end()) continue;
      out[it->second].epochs.push_back(
          {st.integer(1), st.real(2), st.real(3), st.real(4), st.real(5), st.real(6)});
    }
    return out;
  }

  std::filesystem::path file_;
  sqlite3* db_ = nullptr;
  std::mutex mutex_;
};

}  // namespace

std::unique_ptr<Storage> open_sqlite_storage(const std::filesystem::path& file) {
  if (file.empty()) throw ConfigError("--storage: no database file");
  return std::make_unique<SqliteStorage>(file);
}

}  // namespace garbage::sweep
