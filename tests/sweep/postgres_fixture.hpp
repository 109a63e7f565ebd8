#pragma once
// A real PostgreSQL server for the sweep storage tests: initdb + pg_ctl from the Debian
// `postgresql` package (/usr/lib/postgresql/<version>/bin), in a temporary folder, on a free
// loopback port and a unix socket in that folder; run as the `postgres` user through runuser
// when the tests run as root (initdb refuses root). One server per test process, started on
// first use and stopped when the process exits. Superuser `garbage`, password kPassword over TCP
// (scram-sha-256), trust over the socket (where the fixture's own psql commands connect).

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>

namespace garbage::testing {

class PostgresServer {
 public:
  static constexpr const char* kPassword = "pw-Qx7!secret";
  static constexpr const char* kUser = "garbage";

  /// The process's server, started on first call; nullptr (and `why_not`) when the server
  /// binaries are not installed. Throws when they are installed but the server does not start.
  static PostgresServer* get(std::string* why_not) {
    static std::unique_ptr<PostgresServer> server;
    static std::string missing;
    static bool tried = false;
    if (!tried) {
      tried = true;
      std::string bin = find_bin();
      if (bin.empty())
        missing =
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (install the "
            "Debian package `postgresql`: scripts/setup.sh does)";
      else if (geteuid() == 0 && runuser().empty())
        missing = "runuser not found (needed to run initdb as `postgres` when root)";
      else
        server.reset(new PostgresServer(bin));
    }
    if (why_not) *why_not = missing;
    return server.get();
  }

  ~PostgresServer() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  int port() const { return port_; }
  const std::filesystem::path& socket_dir() const { return dir_; }

  /// postgresql://garbage:PASSWORD@127.0.0.1:PORT/db
  std::string url(const std::string& db, bool with_password = true) const {
    return std::string("postgresql://") + kUser +
           (with_password ? std::string(":") + kPassword : "") +
           "@127.0.0.1:" + std::to_string(port_) + "/" + db;
  }

  /// A new empty database; returns its name.
  std::string fresh_database() {
    static int counter = 0;
    std::string name = "sweeps_" + std::to_string(getpid()) + "_" + std::to_string(++counter);
    admin("CREATE DATABASE " + name);
    return name;
  }

  /// Runs one SQL command as the superuser over the socket (database `db`), with psql.
  void admin(const std::string& sql, const std::string& db = "postgres") const {
    sh(bin_ + "/psql -q -v ON_ERROR_STOP=1 -h " + dir_.string() + " -p " + std::to_string(port_) +
       " -U " + kUser + " -d " + db + " -c \"" + sql + "\" >>" + (dir_ / "psql.log").string() +
       " 2>&1");
  }

  void start() {
    pg_ctl("-l " + (dir_ / "server.log").string() + " -w -t 60 -o \"-p " + std::to_string(port_) +
           " -k " + dir_.string() +
           " -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
           " -c full_page_writes=off -c max_connections=60\" start");
  }
  void stop() { pg_ctl("-m fast -w -t 60 stop", false); }
  void restart() {
    stop();
    start();
  }

 private:
  explicit PostgresServer(std::string bin) : bin_(std::move(bin)) {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() /
           ("garbage-pg-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "pw") << kPassword << "\n";
    if (geteuid() == 0) sh("chown -R postgres: " + dir_.string());
    port_ = free_port();
    as_server_user(bin_ + "/initdb -D " + (dir_ / "data").string() + " -U " + kUser +
                   " --pwfile=" + (dir_ / "pw").string() +
                   " --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-sync >" +
                   (dir_ / "initdb.log").string() + " 2>&1");
    start();
  }

  static std::string find_bin() {
    std::string best;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
      auto bin = entry.path() / "bin";
      if (std::filesystem::exists(bin / "initdb") && std::filesystem::exists(bin / "pg_ctl") &&
          (best.empty() || std::stoi(entry.path().filename().string()) >
                               std::stoi(std::filesystem::path(best).parent_path().filename())))
        best = bin.string();
    }
    return best;
  }

  static std::string runuser() {
    for (const char* p : {"/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"})
      if (std::filesystem::exists(p)) return p;
    return "";
  }

  static int free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      close(fd);
      throw std::runtime_error("postgres fixture: no free port");
    }
    int port = ntohs(addr.sin_port);
    close(fd);
    return port;
  }

  static void sh(const std::string& cmd, bool must = true) {
    int rc = std::system(cmd.c_str());
    if (must && rc != 0) throw std::runtime_error("postgres fixture: failed: " + cmd);
  }

  void as_server_user(const std::string& cmd, bool must = true) const {
    // cd: the server user may not be allowed into the test's working folder.
    std::string inner = "cd " + dir_.string() + " && " + cmd;
    if (geteuid() == 0)
      sh(runuser() + " -u postgres -- sh -c '" + inner + "'", must);
    else
      sh("sh -c '" + inner + "'", must);
  }

  void pg_ctl(const std::string& args, bool must = true) const {
    as_server_user(bin_ + "/pg_ctl -D " + (dir_ / "data").string() + " " + args + " >>" +
                       (dir_ / "pg_ctl.log").string() + " 2>&1",
                   must);
  }

  std::string bin_;
  std::filesystem::path dir_;
  int port_ = 0;
};

}  // namespace garbage::testing
