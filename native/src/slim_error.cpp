#include "slim_error.h"

namespace {
thread_local std::string g_error;
thread_local bool g_has_error = false;
}  // namespace

namespace slim {
void set_error(const std::string& msg) {
  g_error = msg;
  g_has_error = true;
}
void clear_error() { g_has_error = false; }
}  // namespace slim

// The one export without SLIM_TRY: it must not clear the error it reports, and cannot throw.
SLIM_API const char* slim_last_error() { return g_has_error ? g_error.c_str() : nullptr; }
