// The fused kernels' loops for the avx512 instruction set (flags in CMakeLists.txt).
#define GARBAGE_LOOPS_TABLE table_avx512
#define GARBAGE_LOOPS_ISA "avx512"
#include "loops.inc"
