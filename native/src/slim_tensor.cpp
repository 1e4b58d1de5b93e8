#include "slim_tensor.h"

#include <torch/torch.h>
#include <ATen/CPUGeneratorImpl.h>
#include <cstring>
#ifdef __GLIBC__
#include <malloc.h>
#endif

SLIM_API int32_t slim_tensor_dispose(slim_tensor t) {
  SLIM_TRY
  delete t;
  return 0;
  SLIM_CATCH(-1)
}

SLIM_API slim_tensor slim_tensor_alias(slim_tensor t) {
  SLIM_TRY
  return new at::Tensor(*t);
  SLIM_CATCH(nullptr)
}

SLIM_API slim_tensor slim_tensor_from_data(const void* data, const int64_t* shape, int32_t ndim, int32_t dtype) {
  SLIM_TRY
  std::vector<int64_t> sizes(shape, shape + ndim);
  auto opts = at::TensorOptions().dtype(static_cast<c10::ScalarType>(dtype));
  auto t = at::empty(sizes, opts);
  if (t.nbytes() > 0) std::memcpy(t.data_ptr(), data, t.nbytes());
  return new at::Tensor(std::move(t));
  SLIM_CATCH(nullptr)
}

SLIM_API int32_t slim_tensor_copy_data(slim_tensor t, void* dst, int64_t nbytes) {
  SLIM_TRY
  at::NoGradGuard guard;
  auto c = t->to(at::kCPU).contiguous();
  TORCH_CHECK(static_cast<int64_t>(c.nbytes()) == nbytes, "copy_data: tensor has ", c.nbytes(),
              " bytes but the destination has ", nbytes);
  if (nbytes > 0) std::memcpy(dst, c.data_ptr(), nbytes);
  return 0;
  SLIM_CATCH(-1)
}

SLIM_API void* slim_tensor_data_ptr(slim_tensor t) {
  SLIM_TRY
  TORCH_CHECK(t->device().is_cpu() && t->is_contiguous(), "data_ptr needs a contiguous CPU tensor");
  return t->data_ptr();
  SLIM_CATCH(nullptr)
}

SLIM_API int32_t slim_tensor_ndim(slim_tensor t) {
  SLIM_TRY
  return static_cast<int32_t>(t->dim());
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_tensor_sizes(slim_tensor t, int64_t* out, int32_t capacity) {
  SLIM_TRY
  auto s = t->sizes();
  TORCH_CHECK(static_cast<int32_t>(s.size()) <= capacity, "sizes: buffer too small");
  for (size_t i = 0; i < s.size(); i++) out[i] = s[i];
  return static_cast<int32_t>(s.size());
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_tensor_dtype(slim_tensor t) {
  SLIM_TRY
  return static_cast<int32_t>(t->scalar_type());
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_tensor_device(slim_tensor t, int32_t* type, int32_t* index) {
  SLIM_TRY
  auto d = t->device();
  *type = static_cast<int32_t>(d.type());
  *index = d.has_index() ? d.index() : -1;
  return 0;
  SLIM_CATCH(-1)
}

SLIM_API int64_t slim_tensor_numel(slim_tensor t) {
  SLIM_TRY
  return t->numel();
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_tensor_requires_grad(slim_tensor t) {
  SLIM_TRY
  return t->requires_grad() ? 1 : 0;
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_tensor_set_requires_grad(slim_tensor t, int32_t value) {
  SLIM_TRY
  t->set_requires_grad(value != 0);
  return 0;
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_tensor_is_leaf(slim_tensor t) {
  SLIM_TRY
  return t->is_leaf() ? 1 : 0;
  SLIM_CATCH(-1)
}

SLIM_API slim_tensor slim_tensor_grad(slim_tensor t) {
  SLIM_TRY
  const auto& g = t->grad();
  if (!g.defined()) return nullptr;
  return new at::Tensor(g);
  SLIM_CATCH(nullptr)
}

SLIM_API int32_t slim_tensor_set_grad(slim_tensor t, slim_tensor grad) {
  SLIM_TRY
  t->mutable_grad() = grad ? *grad : at::Tensor();
  return 0;
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_tensor_backward(slim_tensor t, slim_tensor grad, int32_t retain_graph, int32_t create_graph) {
  SLIM_TRY
  at::Tensor g = grad ? *grad : at::Tensor();
  c10::optional<bool> retain;
  if (retain_graph) retain = true;
  t->backward(g, retain, create_graph != 0);
  return 0;
  SLIM_CATCH(-1)
}

SLIM_API double slim_tensor_item_double(slim_tensor t) {
  SLIM_TRY
  return t->item<double>();
  SLIM_CATCH(0.0)
}

SLIM_API int64_t slim_tensor_item_int64(slim_tensor t) {
  SLIM_TRY
  return t->item<int64_t>();
  SLIM_CATCH(0)
}

SLIM_API void* slim_tensor_impl(slim_tensor t) {
  SLIM_TRY
  return t->unsafeGetTensorImpl();
  SLIM_CATCH(nullptr)
}

SLIM_API int32_t slim_grad_set_enabled(int32_t enabled) {
  SLIM_TRY
  bool prev = at::GradMode::is_enabled();
  at::GradMode::set_enabled(enabled != 0);
  return prev ? 1 : 0;
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_grad_is_enabled() {
  SLIM_TRY
  return at::GradMode::is_enabled() ? 1 : 0;
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_manual_seed(int64_t seed) {
  SLIM_TRY
  torch::manual_seed(static_cast<uint64_t>(seed));
  return 0;
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_set_num_threads(int32_t n) {
  SLIM_TRY
  at::set_num_threads(n);
  return 0;
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_get_num_threads() {
  SLIM_TRY
  return at::get_num_threads();
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_cuda_is_available() {
  SLIM_TRY
  return torch::cuda::is_available() ? 1 : 0;
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_cuda_device_count() {
  SLIM_TRY
  return static_cast<int32_t>(torch::cuda::device_count());
  SLIM_CATCH(-1)
}

SLIM_API const char* slim_torch_version() {
  SLIM_TRY
  static const std::string v = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) +
                               "." + std::to_string(TORCH_VERSION_PATCH);
  return v.c_str();
  SLIM_CATCH(nullptr)
}

SLIM_API slim_generator slim_generator_new(int64_t seed) {
  SLIM_TRY
  return new at::Generator(at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed)));
  SLIM_CATCH(nullptr)
}

SLIM_API int32_t slim_generator_dispose(slim_generator g) {
  SLIM_TRY
  delete static_cast<at::Generator*>(g);
  return 0;
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_mallopt(int32_t param, int32_t value) {
  SLIM_TRY
#ifdef __GLIBC__
  return mallopt(param, value);
#else
  TORCH_CHECK(false, "mallopt needs glibc");
#endif
  SLIM_CATCH(-1)
}
