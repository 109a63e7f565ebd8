// The fused kernels' loops for the avx2 instruction set (flags in CMakeLists.txt).
#define GARBAGE_LOOPS_TABLE table_avx2
#define GARBAGE_LOOPS_ISA "avx2"
#include "loops.inc"
