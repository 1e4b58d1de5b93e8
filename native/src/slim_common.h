// Shared by every export of libslimnative: the visibility macro, the error slot and the
// one catch macro. Every exported function body is wrapped in SLIM_TRY/SLIM_CATCH so no
// C++ exception ever crosses the C ABI; the message is kept for slim_last_error().
#pragma once
#include <cstdint>
#include <string>

#define SLIM_API extern "C" __attribute__((visibility("default")))

namespace slim {
// Records msg as the calling thread's last error and sets the error flag.
void set_error(const std::string& msg);
// Clears the calling thread's error flag; every export calls it on entry.
void clear_error();
}  // namespace slim

// Returns `fail` from the enclosing function after recording the message.
#define SLIM_TRY slim::clear_error(); try {
#define SLIM_CATCH(fail)                                               \
  }                                                                    \
  catch (const c10::Error& e) {                                        \
    slim::set_error(e.what_without_backtrace());                       \
    return fail;                                                       \
  }                                                                    \
  catch (const std::exception& e) {                                    \
    slim::set_error(e.what());                                         \
    return fail;                                                       \
  }                                                                    \
  catch (...) {                                                        \
    slim::set_error("unknown native exception");                       \
    return fail;                                                       \
  }

// Opaque handle types. A Tensor handle owns one at::Tensor (a reference-counted pointer).
namespace at { class Tensor; }
typedef at::Tensor* slim_tensor;
