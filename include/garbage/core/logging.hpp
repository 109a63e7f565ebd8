#pragma once

namespace garbage {

/// Console logging on stderr; verbose adds debug lines, quiet keeps warnings and errors only.
void setup_logging(bool verbose, bool quiet);

}  // namespace garbage
