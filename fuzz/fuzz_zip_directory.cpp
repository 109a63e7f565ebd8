#include "entry_io.hpp"
#include "harness.hpp"

GARBAGE_FUZZ_HARNESS(zip_directory)
