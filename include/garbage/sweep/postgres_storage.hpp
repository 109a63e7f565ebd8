#pragma once
// The PostgreSQL back end of sweep::Storage (many hosts, one database; open_storage picks it for
// postgresql:// and postgres:// URLs). Built on libpq.

#include <memory>
#include <string>

#include "garbage/sweep/storage.hpp"

namespace garbage::sweep {

/// The schema version this binary writes; a database with a newer one is refused.
constexpr int kPostgresSchemaVersion = 1;

/// Connects to `url` (a libpq URI), creates the tables when needed (safe when several workers
/// start at once) and checks the schema version. Throws ConfigError when the server cannot be
/// reached or its schema is newer than this binary's.
std::unique_ptr<Storage> open_postgres_storage(const std::string& url,
                                               const StorageOptions& options = {});

}  // namespace garbage::sweep
