// libtorch's global state (seed, thread count, grad mode) and the live-tensor counters are
// process-wide: tests run one at a time so their assertions see only their own work.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
