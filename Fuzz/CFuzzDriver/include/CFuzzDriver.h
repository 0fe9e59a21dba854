#ifndef STAMPEDE_CFUZZDRIVER_H
#define STAMPEDE_CFUZZDRIVER_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (libclang_rt.fuzzer, linked by -sanitize=fuzzer): parses the libFuzzer
/// command line and fuzzes `callback`. Called from the target's own `main`, because SwiftPM
/// names an executable's entry point itself and libFuzzer's `main` cannot take its place.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
