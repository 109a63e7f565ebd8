// What both storage back ends share: trial status names, worker ids, URL dispatch and masking,
// and copying a sweep from one storage to another.

#include "garbage/sweep/storage.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "garbage/core/errors.hpp"
#include "garbage/sweep/postgres_storage.hpp"
#include "garbage/sweep/sqlite_storage.hpp"

namespace garbage::sweep {
namespace {

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

bool is_postgres_url(const std::string& url) {
  return starts_with(url, "postgresql://") || starts_with(url, "postgres://");
}

/// Replaces the value of every `password=` query parameter with ***.
std::string redact_query(std::string query) {
  for (size_t at = 0; (at = query.find("password=", at)) != std::string::npos;) {
    bool whole_key = at == 0 || query[at - 1] == '?' || query[at - 1] == '&';
    at += 9;
    if (!whole_key) continue;
    size_t end = query.find('&', at);
    query.replace(at, (end == std::string::npos ? query.size() : end) - at, "***");
  }
  return query;
}

}  // namespace

std::string to_string(TrialStatus s) {
  switch (s) {
    case TrialStatus::queued:
      return "queued";
    case TrialStatus::running:
      return "running";
    case TrialStatus::finished:
      return "finished";
    case TrialStatus::stopped:
      return "stopped";
    case TrialStatus::failed:
      return "failed";
  }
  return "?";
}

TrialStatus parse_trial_status(const std::string& s) {
  for (auto status : {TrialStatus::queued, TrialStatus::running, TrialStatus::finished,
                      TrialStatus::stopped, TrialStatus::failed})
    if (to_string(status) == s) return status;
  throw Error("sweep storage: unknown trial status \"" + s + "\"");
}

std::string this_worker_id() {
  return host_name() + ":" + std::to_string(getpid());
}

bool worker_is_gone(const std::string& worker) {
  auto colon = worker.rfind(':');
  if (colon == std::string::npos || worker.substr(0, colon) != host_name()) return false;
  long pid = std::strtol(worker.c_str() + colon + 1, nullptr, 10);
  if (pid <= 0) return false;
  return kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

std::string redact_url(const std::string& url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  size_t authority = scheme_end + 3;
  size_t authority_end = url.find_first_of("/?", authority);
  if (authority_end == std::string::npos) authority_end = url.size();
  std::string out = url.substr(0, authority);
  std::string host_part = url.substr(authority, authority_end - authority);
  auto at = host_part.rfind('@');
  if (at != std::string::npos) {
    auto colon = host_part.find(':');
    if (colon != std::string::npos && colon < at)
      host_part = host_part.substr(0, colon + 1) + "***" + host_part.substr(at);
  }
  out += host_part;
  std::string rest = url.substr(authority_end);
  auto q = rest.find('?');
  if (q != std::string::npos) rest = rest.substr(0, q) + redact_query(rest.substr(q));
  return out + rest;
}

std::unique_ptr<Storage> open_storage(const std::string& url, const StorageOptions& options) {
  const std::string scheme = "sqlite:///";
  if (starts_with(url, scheme))
    return open_sqlite_storage(url.substr(scheme.size()));  // "sqlite:////abs.db" -> "/abs.db"
  if (is_postgres_url(url)) return open_postgres_storage(url, options);
  if (url.find("://") == std::string::npos &&
      (url.size() > 3 &&
       (url.substr(url.size() - 3) == ".db" || url.find(".sqlite") != std::string::npos)))
    return open_sqlite_storage(url);
  throw ConfigError("--storage " + redact_url(url) +
                    ": expected sqlite:///relative.db, sqlite:////absolute.db or "
                    "postgresql://USER[:PASSWORD]@HOST[:PORT]/DB");
}

int64_t copy_sweep(Storage& from, Storage& to, const std::string& name) {
  auto document = from.load_sweep(name);
  if (!document) throw ConfigError("no sweep named " + name + " in the source storage");
  json stored = to.create_sweep(name, *document);
  if (stored != *document)
    throw ConfigError("sweep " + name +
                      " already exists in the destination storage with a different config");
  auto rows = from.trials(name);
  to.import_trials(name, rows);
  return static_cast<int64_t>(rows.size());
}

}  // namespace garbage::sweep
