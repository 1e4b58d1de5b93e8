#include "slim_dist.h"

#include <torch/torch.h>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef SLIM_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif

#include <chrono>
#include <cstring>
#include <vector>

namespace {
struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
};

Group* G(slim_process_group pg) {
  if (pg == nullptr) throw std::invalid_argument("process group is null (disposed?)");
  return static_cast<Group*>(pg);
}

std::vector<at::Tensor> Tensors(slim_tensor* tensors, int32_t count) {
  if (count < 1) throw std::invalid_argument("a collective needs at least one tensor");
  std::vector<at::Tensor> v;
  v.reserve(count);
  for (int32_t i = 0; i < count; i++) v.push_back(*tensors[i]);
  return v;
}

#ifdef SLIM_WITH_GLOO
// Sums `t` over the group, in place; Gloo wants a dense contiguous tensor, which every caller here passes.
void SumInPlace(Group* g, at::Tensor& t) {
  std::vector<at::Tensor> v{t};
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp(c10d::ReduceOp::SUM);
  g->pg->allreduce(v, o)->wait();
}

// y = Σ_ranks x. Every rank's x feeds every rank's y, so dL/dx on one rank is the sum over the ranks of their dL/dy:
// the backward is the same all-reduce applied to the gradient.
struct AllReduceSum : public torch::autograd::Function<AllReduceSum> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input, int64_t group) {
    // The group as an integer: saved_data holds IValues, and a raw pointer is not one.
    ctx->saved_data["group"] = group;
    auto out = input.clone(at::MemoryFormat::Contiguous);
    SumInPlace(reinterpret_cast<Group*>(group), out);
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto* g = reinterpret_cast<Group*>(ctx->saved_data["group"].toInt());
    // Autograd materializes a missing gradient as zeros (materialize_grads), so every rank joins this all-reduce.
    auto grad = grads[0].clone(at::MemoryFormat::Contiguous);
    SumInPlace(g, grad);
    return {grad, at::Tensor()};
  }
};
#endif
}  // namespace

SLIM_API int32_t slim_dist_has_backend(const char* backend) {
  SLIM_TRY
  std::string b(backend == nullptr ? "" : backend);
#ifdef SLIM_WITH_GLOO
  if (b == "gloo") return 1;
#endif
  return 0;
  SLIM_CATCH(-1)
}

SLIM_API slim_process_group slim_dist_new_gloo(int32_t store_kind, const char* address, int32_t port, int32_t rank,
                                               int32_t world_size, int64_t timeout_ms, const char* interface_host) {
  SLIM_TRY
#ifdef SLIM_WITH_GLOO
  if (world_size < 1 || rank < 0 || rank >= world_size)
    throw std::invalid_argument("rank " + std::to_string(rank) + " is not in 0.." + std::to_string(world_size - 1));
  auto timeout = std::chrono::milliseconds(timeout_ms);
  auto group = std::make_unique<Group>();
  if (store_kind == 0) {
    group->store = c10::make_intrusive<c10d::FileStore>(address, world_size);
  } else {
    c10d::TCPStoreOptions o;
    o.port = static_cast<std::uint16_t>(port);
    o.isServer = rank == 0;
    o.numWorkers = world_size;
    o.waitWorkers = true;
    o.timeout = timeout;
    group->store = c10::make_intrusive<c10d::TCPStore>(address, o);
  }
  group->store->setTimeout(timeout);
  auto options = c10d::ProcessGroupGloo::Options::create();
  options->timeout = timeout;
  options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(interface_host));
  group->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(group->store, rank, world_size, options);
  return group.release();
#else
  throw std::runtime_error("this libslimnative was built without Gloo (install libgloo-dev and rebuild native/)");
#endif
  SLIM_CATCH(nullptr)
}

SLIM_API int32_t slim_dist_dispose(slim_process_group pg) {
  SLIM_TRY
  delete static_cast<Group*>(pg);
  return 0;
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_dist_rank(slim_process_group pg) {
  SLIM_TRY
  return G(pg)->pg->getRank();
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_dist_world_size(slim_process_group pg) {
  SLIM_TRY
  return G(pg)->pg->getSize();
  SLIM_CATCH(-1)
}

SLIM_API int32_t slim_dist_all_reduce(slim_process_group pg, slim_tensor* tensors, int32_t count, int32_t op) {
  SLIM_TRY
  c10d::ReduceOp::RedOpType ops[] = {c10d::ReduceOp::SUM, c10d::ReduceOp::PRODUCT, c10d::ReduceOp::MIN, c10d::ReduceOp::MAX};
  if (op < 0 || op > 3) throw std::invalid_argument("reduce op " + std::to_string(op) + " is not sum, product, min or max");
  auto v = Tensors(tensors, count);
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp(ops[op]);
  G(pg)->pg->allreduce(v, o)->wait();
  return 0;
  SLIM_CATCH(-1)
}

SLIM_API slim_tensor slim_dist_all_reduce_autograd(slim_process_group pg, slim_tensor input) {
  SLIM_TRY
#ifdef SLIM_WITH_GLOO
  auto* g = G(pg);
  return new at::Tensor(AllReduceSum::apply(*input, reinterpret_cast<int64_t>(g)));
#else
  throw std::runtime_error("this libslimnative was built without Gloo (install libgloo-dev and rebuild native/)");
#endif
  SLIM_CATCH(nullptr)
}

SLIM_API int32_t slim_dist_broadcast(slim_process_group pg, slim_tensor* tensors, int32_t count, int32_t root) {
  SLIM_TRY
  auto v = Tensors(tensors, count);
  c10d::BroadcastOptions o;
  o.rootRank = root;
  // Gloo broadcasts one tensor per call.
  for (auto& t : v) {
    std::vector<at::Tensor> one{t};
    G(pg)->pg->broadcast(one, o)->wait();
  }
  return 0;
  SLIM_CATCH(-1)
}

SLIM_API slim_tensor slim_dist_all_gather(slim_process_group pg, slim_tensor input) {
  SLIM_TRY
  auto* g = G(pg);
  std::vector<at::Tensor> in{*input};
  std::vector<at::Tensor> out;
  for (int i = 0; i < g->pg->getSize(); i++) out.push_back(at::empty_like(*input));
  std::vector<std::vector<at::Tensor>> outs{out};
  g->pg->allgather(outs, in)->wait();
  return new at::Tensor(at::stack(outs[0]));
  SLIM_CATCH(nullptr)
}

SLIM_API int32_t slim_dist_barrier(slim_process_group pg) {
  SLIM_TRY
  G(pg)->pg->barrier()->wait();
  return 0;
  SLIM_CATCH(-1)
}
