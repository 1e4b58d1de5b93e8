// torch.distributed's process groups (c10d) for data-parallel work: Gloo over TCP on CPU tensors.
// A process group is created over a rendezvous store (a shared file or rank 0's TCP store) and
// runs collectives in place on the tensors given; each call waits for its work to finish.
#pragma once
#include "slim_common.h"

typedef void* slim_process_group;

// Whether this build has the backend: 1 yes, 0 no ("gloo", "nccl").
SLIM_API int32_t slim_dist_has_backend(const char* backend);
// A Gloo process group. store_kind 0: a FileStore at `address` (a path all ranks share);
// 1: a TCPStore at `address`:`port`, served by rank 0. `interface_host` is the address the
// ranks talk over (e.g. "127.0.0.1"). Waits up to timeout_ms for every rank.
SLIM_API slim_process_group slim_dist_new_gloo(int32_t store_kind, const char* address, int32_t port, int32_t rank,
                                               int32_t world_size, int64_t timeout_ms, const char* interface_host);
SLIM_API int32_t slim_dist_dispose(slim_process_group pg);
SLIM_API int32_t slim_dist_rank(slim_process_group pg);
SLIM_API int32_t slim_dist_world_size(slim_process_group pg);
// op: 0 sum, 1 product, 2 min, 3 max. In place on every tensor.
SLIM_API int32_t slim_dist_all_reduce(slim_process_group pg, slim_tensor* tensors, int32_t count, int32_t op);
// The sum over the ranks as a differentiable op (torch.distributed.nn.functional.all_reduce): a new tensor, `input`
// untouched; its backward sums the incoming gradient over the group, so every rank must run backward through it
// (in the same order as its other collectives) and the group must outlive that backward pass.
SLIM_API slim_tensor slim_dist_all_reduce_autograd(slim_process_group pg, slim_tensor input);
// In place: every rank ends with root's values.
SLIM_API int32_t slim_dist_broadcast(slim_process_group pg, slim_tensor* tensors, int32_t count, int32_t root);
// Every rank's `input` (same shape everywhere) stacked along a new first dimension [world, ...].
SLIM_API slim_tensor slim_dist_all_gather(slim_process_group pg, slim_tensor input);
SLIM_API int32_t slim_dist_barrier(slim_process_group pg);
