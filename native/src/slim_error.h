// Error reporting of libslimnative.
#pragma once
#include "slim_common.h"

// The message of the calling thread's last failed call, or null when the last call succeeded.
SLIM_API const char* slim_last_error();
