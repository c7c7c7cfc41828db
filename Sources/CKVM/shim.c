/* CKVM is header-only (CKVM.h); SwiftPM needs one translation unit to build the target. */
#include "CKVM.h"
