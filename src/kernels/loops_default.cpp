// The fused kernels' loops for the default instruction set (flags in CMakeLists.txt).
#define GARBAGE_LOOPS_TABLE table_default
#define GARBAGE_LOOPS_ISA "default"
#include "loops.inc"
