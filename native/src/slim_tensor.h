// Tensor handles: creation from host memory, metadata, data access, autograd, global state.
// dtype codes are c10::ScalarType values (Byte=0, Char=1, Int=3, Long=4, Float=6, Double=7, Bool=11);
// device type codes are c10::DeviceType values (CPU=0, CUDA=1).
#pragma once
#include "slim_common.h"

SLIM_API int32_t slim_tensor_dispose(slim_tensor t);
// A second handle to the same tensor (shares storage and autograd identity).
SLIM_API slim_tensor slim_tensor_alias(slim_tensor t);
// Copies ndim sizes of host data into a new CPU tensor of the given dtype.
SLIM_API slim_tensor slim_tensor_from_data(const void* data, const int64_t* shape, int32_t ndim, int32_t dtype);
// Copies the tensor's elements (converted to a contiguous CPU tensor) into dst; nbytes must match.
SLIM_API int32_t slim_tensor_copy_data(slim_tensor t, void* dst, int64_t nbytes);
// Pointer to the elements of a contiguous CPU tensor (null with an error otherwise).
SLIM_API void* slim_tensor_data_ptr(slim_tensor t);
SLIM_API int32_t slim_tensor_ndim(slim_tensor t);
SLIM_API int32_t slim_tensor_sizes(slim_tensor t, int64_t* out, int32_t capacity);
SLIM_API int32_t slim_tensor_dtype(slim_tensor t);
SLIM_API int32_t slim_tensor_device(slim_tensor t, int32_t* type, int32_t* index);
SLIM_API int64_t slim_tensor_numel(slim_tensor t);
SLIM_API int32_t slim_tensor_requires_grad(slim_tensor t);
SLIM_API int32_t slim_tensor_set_requires_grad(slim_tensor t, int32_t value);
SLIM_API int32_t slim_tensor_is_leaf(slim_tensor t);
// The accumulated gradient, or null without an error when there is none.
SLIM_API slim_tensor slim_tensor_grad(slim_tensor t);
// Replaces (or with null, clears) the accumulated gradient.
SLIM_API int32_t slim_tensor_set_grad(slim_tensor t, slim_tensor grad);
SLIM_API int32_t slim_tensor_backward(slim_tensor t, slim_tensor grad, int32_t retain_graph, int32_t create_graph);
SLIM_API double slim_tensor_item_double(slim_tensor t);
SLIM_API int64_t slim_tensor_item_int64(slim_tensor t);
// Identity of the underlying TensorImpl, for telling aliases apart.
SLIM_API void* slim_tensor_impl(slim_tensor t);

SLIM_API int32_t slim_grad_set_enabled(int32_t enabled);  // returns the previous state
SLIM_API int32_t slim_grad_is_enabled();
SLIM_API int32_t slim_manual_seed(int64_t seed);
SLIM_API int32_t slim_set_num_threads(int32_t n);
SLIM_API int32_t slim_get_num_threads();
SLIM_API int32_t slim_cuda_is_available();
SLIM_API int32_t slim_cuda_device_count();
SLIM_API const char* slim_torch_version();

// glibc's mallopt(param, value): returns 1 when applied, 0 when glibc refused the value, -1
// with an error where the C library is not glibc. Slim uses it to keep freed tensor memory
// in the heap (see NativeMethods.Resolve): without it every training step hands its large
// activation buffers back to the kernel and page-faults them in again.
SLIM_API int32_t slim_mallopt(int32_t param, int32_t value);

typedef void* slim_generator;
// A CPU random generator seeded with seed, usable wherever an op takes Generator?.
SLIM_API slim_generator slim_generator_new(int64_t seed);
SLIM_API int32_t slim_generator_dispose(slim_generator g);
