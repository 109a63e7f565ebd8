#include "entry_image.hpp"
#include "harness.hpp"

GARBAGE_FUZZ_HARNESS(image)
