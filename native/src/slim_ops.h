// Calls any ATen operator through the c10 dispatcher, the way TorchScript does: the caller
// looks the operator up once by its schema name ("aten::conv2d", overload ""), pushes the
// arguments onto the calling thread's stack, calls it, and reads the returns back.
// Arguments left off the end take the schema's defaults; an int where the schema wants a
// float, or a single int where it wants int[N], is widened as PyTorch's own binding does.
#pragma once
#include "slim_common.h"

typedef void* slim_op;

// The operator handle for name/overload, or null with an error naming the operator.
SLIM_API slim_op slim_op_find(const char* name, const char* overload);
// The operator's schema as text (for error messages and docs).
SLIM_API const char* slim_op_schema(slim_op op);

SLIM_API int32_t slim_stack_clear();
SLIM_API int32_t slim_stack_push_tensor(slim_tensor t);  // null pushes None
SLIM_API int32_t slim_stack_push_none();
SLIM_API int32_t slim_stack_push_int(int64_t v);
SLIM_API int32_t slim_stack_push_double(double v);
SLIM_API int32_t slim_stack_push_bool(int32_t v);
SLIM_API int32_t slim_stack_push_string(const char* v);
SLIM_API int32_t slim_stack_push_int_list(const int64_t* v, int32_t n);
SLIM_API int32_t slim_stack_push_double_list(const double* v, int32_t n);
SLIM_API int32_t slim_stack_push_tensor_list(const slim_tensor* v, int32_t n);
// A Tensor?[] list (as aten::index takes); null entries are None.
SLIM_API int32_t slim_stack_push_optional_tensor_list(const slim_tensor* v, int32_t n);
SLIM_API int32_t slim_stack_push_device(int32_t type, int32_t index);
SLIM_API int32_t slim_stack_push_generator(void* generator);

// Every push returns 0, or -1 with an error (out of memory, a null list entry).
// Calls op with the stack; returns the number of returns left on the stack, or -1 on error.
SLIM_API int32_t slim_op_call(slim_op op);

// Kinds of returns: 0 None, 1 Tensor, 2 int, 3 float, 4 bool, 5 Tensor[], 6 other.
SLIM_API int32_t slim_stack_kind(int32_t i);
SLIM_API slim_tensor slim_stack_tensor(int32_t i);
SLIM_API int64_t slim_stack_int(int32_t i);
SLIM_API double slim_stack_double(int32_t i);
SLIM_API int32_t slim_stack_list_length(int32_t i);
SLIM_API slim_tensor slim_stack_list_tensor(int32_t i, int32_t j);
