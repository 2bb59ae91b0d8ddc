// A shared object that is not a module: no descriptor.
#include "test_host.h"

__attribute__((constructor)) static void nodesc_ctor() { modtest::tlog().record("nodesc:ctor"); }

extern "C" __attribute__((visibility("default"))) int nodesc_function(void) { return 1; }
