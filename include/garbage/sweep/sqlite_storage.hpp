#pragma once
// The SQLite back end of sweep::Storage (one host; open_storage picks it for sqlite:// URLs).

#include <filesystem>
#include <memory>

#include "garbage/sweep/storage.hpp"

namespace garbage::sweep {

/// Opens (creating it and its tables when needed) the SQLite database `file`.
std::unique_ptr<Storage> open_sqlite_storage(const std::filesystem::path& file);

}  // namespace garbage::sweep
