#include "slim_ops.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/torch.h>

namespace {
thread_local std::vector<c10::IValue> g_stack;

// Widens an argument to what the schema declares, as PyTorch's Python binding does.
c10::IValue coerce(const c10::Argument& arg, c10::IValue v) {
  auto type = arg.type();
  if (auto opt = type->cast<c10::OptionalType>()) {
    if (v.isNone()) return v;
    type = opt->getElementType();
  }
  auto kind = type->kind();
  if (kind == c10::TypeKind::FloatType && v.isInt()) return c10::IValue(static_cast<double>(v.toInt()));
  if (kind == c10::TypeKind::IntType && v.isBool()) return c10::IValue(static_cast<int64_t>(v.toBool()));
  if (kind == c10::TypeKind::ListType) {
    auto elem = type->castRaw<c10::ListType>()->getElementType();
    if (elem->kind() == c10::TypeKind::IntType && v.isInt()) {
      int64_t n = arg.N() ? *arg.N() : 1;
      return c10::IValue(std::vector<int64_t>(static_cast<size_t>(n), v.toInt()));
    }
    if (elem->kind() == c10::TypeKind::FloatType && v.isDouble()) {
      int64_t n = arg.N() ? *arg.N() : 1;
      return c10::IValue(std::vector<double>(static_cast<size_t>(n), v.toDouble()));
    }
  }
  return v;
}
}  // namespace

SLIM_API slim_op slim_op_find(const char* name, const char* overload) {
  SLIM_TRY
  auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
  TORCH_CHECK(handle.has_value(), "no operator ", name, (overload[0] ? "." : ""), overload,
              " in this libtorch (", TORCH_VERSION_MAJOR, ".", TORCH_VERSION_MINOR, ")");
  return new c10::OperatorHandle(*handle);
  SLIM_CATCH(nullptr)
}

SLIM_API const char* slim_op_schema(slim_op op) {
  SLIM_TRY
  thread_local std::string text;
  std::ostringstream s;
  s << static_cast<c10::OperatorHandle*>(op)->schema();
  text = s.str();
  return text.c_str();
  SLIM_CATCH(nullptr)
}

SLIM_API int32_t slim_stack_clear() {
  SLIM_TRY
  g_stack.clear();
  return 0;
  SLIM_CATCH(-1)
}
SLIM_API int32_t slim_stack_push_tensor(slim_tensor t) {
  SLIM_TRY
  if (t) g_stack.emplace_back(*t); else g_stack.emplace_back();
  return 0;
  SLIM_CATCH(-1)
}
SLIM_API int32_t slim_stack_push_none() {
  SLIM_TRY
  g_stack.emplace_back();
  return 0;
  SLIM_CATCH(-1)
}
SLIM_API int32_t slim_stack_push_int(int64_t v) {
  SLIM_TRY
  g_stack.emplace_back(v);
  return 0;
  SLIM_CATCH(-1)
}
SLIM_API int32_t slim_stack_push_double(double v) {
  SLIM_TRY
  g_stack.emplace_back(v);
  return 0;
  SLIM_CATCH(-1)
}
SLIM_API int32_t slim_stack_push_bool(int32_t v) {
  SLIM_TRY
  g_stack.emplace_back(v != 0);
  return 0;
  SLIM_CATCH(-1)
}
SLIM_API int32_t slim_stack_push_string(const char* v) {
  SLIM_TRY
  TORCH_CHECK(v != nullptr, "string argument is null");
  g_stack.emplace_back(std::string(v));
  return 0;
  SLIM_CATCH(-1)
}
SLIM_API int32_t slim_stack_push_int_list(const int64_t* v, int32_t n) {
  SLIM_TRY
  g_stack.emplace_back(std::vector<int64_t>(v, v + n));
  return 0;
  SLIM_CATCH(-1)
}
SLIM_API int32_t slim_stack_push_double_list(const double* v, int32_t n) {
  SLIM_TRY
  g_stack.emplace_back(std::vector<double>(v, v + n));
  return 0;
  SLIM_CATCH(-1)
}
SLIM_API int32_t slim_stack_push_tensor_list(const slim_tensor* v, int32_t n) {
  SLIM_TRY
  std::vector<at::Tensor> list;
  list.reserve(n);
  for (int32_t i = 0; i < n; i++) {
    TORCH_CHECK(v[i] != nullptr, "tensor list entry ", i, " is null (a Tensor[] argument cannot hold None)");
    list.push_back(*v[i]);
  }
  g_stack.emplace_back(std::move(list));
  return 0;
  SLIM_CATCH(-1)
}
SLIM_API int32_t slim_stack_push_optional_tensor_list(const slim_tensor* v, int32_t n) {
  SLIM_TRY
  c10::List<c10::optional<at::Tensor>> list;
  for (int32_t i = 0; i < n; i++) {
    if (v[i]) list.push_back(*v[i]); else list.push_back(c10::nullopt);
  }
  g_stack.emplace_back(std::move(list));
  return 0;
  SLIM_CATCH(-1)
}
SLIM_API int32_t slim_stack_push_device(int32_t type, int32_t index) {
  SLIM_TRY
  g_stack.emplace_back(c10::Device(static_cast<c10::DeviceType>(type), static_cast<c10::DeviceIndex>(index)));
  return 0;
  SLIM_CATCH(-1)
}
SLIM_API int32_t slim_stack_push_generator(void* generator) {
  SLIM_TRY
  if (generator) g_stack.emplace_back(*static_cast<at::Generator*>(generator)); else g_stack.emplace_back();
  return 0;
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_op_call(slim_op op) {
  SLIM_TRY
  auto* handle = static_cast<c10::OperatorHandle*>(op);
  const auto& schema = handle->schema();
  const auto& args = schema.arguments();
  TORCH_CHECK(g_stack.size() <= args.size(), schema.name(), " takes ", args.size(), " arguments but was given ",
              g_stack.size(), "; schema: ", schema);
  for (size_t i = 0; i < g_stack.size(); i++) g_stack[i] = coerce(args[i], std::move(g_stack[i]));
  for (size_t i = g_stack.size(); i < args.size(); i++) {
    TORCH_CHECK(args[i].default_value().has_value(), schema.name(), ": argument '", args[i].name(),
                "' has no default and was not given; schema: ", schema);
    g_stack.push_back(*args[i].default_value());
  }
  handle->callBoxed(g_stack);
  return static_cast<int32_t>(g_stack.size());
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_stack_kind(int32_t i) {
  SLIM_TRY
  TORCH_CHECK(i >= 0 && static_cast<size_t>(i) < g_stack.size(), "stack index out of range");
  const auto& v = g_stack[i];
  if (v.isNone()) return 0;
  if (v.isTensor()) return 1;
  if (v.isInt()) return 2;
  if (v.isDouble()) return 3;
  if (v.isBool()) return 4;
  if (v.isTensorList()) return 5;
  return 6;
  SLIM_CATCH(-1)
}

SLIM_API slim_tensor slim_stack_tensor(int32_t i) {
  SLIM_TRY
  TORCH_CHECK(i >= 0 && static_cast<size_t>(i) < g_stack.size(), "stack index out of range");
  const auto& t = g_stack[i].toTensor();
  if (!t.defined()) return nullptr;
  return new at::Tensor(t);
  SLIM_CATCH(nullptr)
}

SLIM_API int64_t slim_stack_int(int32_t i) {
  SLIM_TRY
  TORCH_CHECK(i >= 0 && static_cast<size_t>(i) < g_stack.size(), "stack index out of range");
  const auto& v = g_stack[i];
  if (v.isBool()) return v.toBool() ? 1 : 0;
  return v.toInt();
  SLIM_CATCH(0)
}

SLIM_API double slim_stack_double(int32_t i) {
  SLIM_TRY
  TORCH_CHECK(i >= 0 && static_cast<size_t>(i) < g_stack.size(), "stack index out of range");
  const auto& v = g_stack[i];
  if (v.isInt()) return static_cast<double>(v.toInt());
  return v.toDouble();
  SLIM_CATCH(0.0)
}

SLIM_API int32_t slim_stack_list_length(int32_t i) {
  SLIM_TRY
  TORCH_CHECK(i >= 0 && static_cast<size_t>(i) < g_stack.size(), "stack index out of range");
  return static_cast<int32_t>(g_stack[i].toTensorList().size());
  SLIM_CATCH(-1)
}

SLIM_API slim_tensor slim_stack_list_tensor(int32_t i, int32_t j) {
  SLIM_TRY
  TORCH_CHECK(i >= 0 && static_cast<size_t>(i) < g_stack.size(), "stack index out of range");
  auto list = g_stack[i].toTensorList();
  TORCH_CHECK(j >= 0 && static_cast<size_t>(j) < list.size(), "list index out of range");
  return new at::Tensor(list.get(j));
  SLIM_CATCH(nullptr)
}
