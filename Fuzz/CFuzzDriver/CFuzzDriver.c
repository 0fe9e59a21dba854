// Declarations only: LLVMFuzzerRunDriver comes from libFuzzer at link time.
#include "CFuzzDriver.h"
