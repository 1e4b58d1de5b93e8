#!/usr/bin/python3
"""Writes reference.json: outputs and gradients of Slim's functions computed by PyTorch.

Run with Debian's python3-torch: /usr/bin/python3 make_reference.py [output.json]
The inputs come from a formula (GradCheck.Values in the C# tests), not from a random
generator, so the C# test rebuilds exactly the same inputs and compares what libtorch
returns through Slim's binding with what PyTorch returns here. Every case reduces its
output with fixed non-uniform weights and records the gradients of that reduction.
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

G = 0.6180339887498949


def values(n, scale=1.0, phase=0.0, offset=0.0):
    """scale*(2*frac((i+1)*G + phase) - 1) + offset; bit-identical to the C# GradCheck.Values."""
    out = []
    for i in range(n):
        t = (i + 1) * G + phase
        out.append(scale * (2 * (t - math.floor(t)) - 1) + offset)
    return out


def det(shape, scale=1.0, phase=0.0, offset=0.0, dtype=torch.float64):
    n = 1
    for s in shape:
        n *= s
    return torch.tensor(values(n, scale, phase, offset), dtype=torch.float64).reshape(shape).to(dtype)


def record(t):
    t = t.detach().to(torch.float64).contiguous()
    return {"shape": list(t.shape), "values": [float(v) for v in t.reshape(-1).tolist()]}


cases = {}


def case(name, fn, inputs):
    """Output of fn(*inputs) and the gradients of sum(output * weights) for every input."""
    leaves = [x.clone().requires_grad_(x.is_floating_point()) for x in inputs]
    y = fn(*leaves)
    w = det(list(y.shape), 1.0, 0.37, 0.25, y.dtype)
    (y * w).sum().backward()
    entry = {"output": record(y)}
    for i, leaf in enumerate(leaves):
        if leaf.requires_grad:
            entry[f"grad{i}"] = record(leaf.grad)
    cases[name] = entry


case("conv2d_groups2_stride2", lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=2),
     [det([2, 4, 7, 7]), det([6, 2, 3, 3], 0.5, 0.5), det([6], 0.2, 0.6)])
case("conv2d_depthwise_dilation2", lambda x, w: F.conv2d(x, w, None, stride=1, padding=2, dilation=2, groups=3),
     [det([1, 3, 6, 6]), det([3, 1, 3, 3], 0.5, 0.7)])
case("linear", lambda x, w, b: F.linear(x, w, b), [det([3, 5]), det([4, 5], 0.5, 0.1), det([4], 0.3, 0.2)])


def bn_train(x, w, b):
    mean = torch.zeros(3, dtype=torch.float64)
    var = torch.ones(3, dtype=torch.float64)
    y = F.batch_norm(x, mean, var, w, b, training=True, momentum=0.1, eps=1e-5)
    cases["batch_norm_running"] = {"mean": record(mean), "var": record(var)}
    return y


case("batch_norm_train", bn_train, [det([4, 3, 3, 3], 2.0), det([3], 0.5, 0.1, 1.0), det([3], 0.3, 0.2)])
case("hardswish", F.hardswish, [det([4, 15], 4.5)])
case("max_pool2d_k3_s2_p1", lambda x: F.max_pool2d(x, 3, 2, 1), [det([1, 2, 7, 7])])
case("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, 3), [det([2, 2, 5, 5])])
case("interpolate_bilinear", lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False),
     [det([1, 2, 3, 3])])
case("interpolate_nearest", lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), [det([1, 2, 3, 3])])
case("cross_entropy_label_smoothing",
     lambda x: F.cross_entropy(x, torch.tensor([0, 3, 1, 2, 3]), det([4], 0.4, 0.5, 1.0), label_smoothing=0.1),
     [det([5, 4], 2.0)])
case("bce_with_logits",
     lambda x, t: F.binary_cross_entropy_with_logits(x, t, det([3, 4], 0.5, 0.1, 1.0), pos_weight=det([4], 0.5, 0.2, 1.5)),
     [det([3, 4], 3.0), det([3, 4], 0.5, 0.3, 0.5)])
case("smooth_l1_loss", lambda x, t: F.smooth_l1_loss(x, t, beta=0.5), [det([3, 5]), det([3, 5], 1.0, 0.3)])
case("kl_div", lambda x, t: F.kl_div(x.log_softmax(1), t.softmax(1), reduction="sum"), [det([3, 5]), det([3, 5], 1.0, 0.3)])
case("log_softmax", lambda x: x.log_softmax(1), [det([3, 4], 2.0)])

# Fake quantization (float32, as QAT runs it): forward and the straight-through gradient.
case("fake_quantize_per_tensor",
     lambda x: torch.fake_quantize_per_tensor_affine(x, 0.05, 3, 0, 255),
     [det([4, 10], 8.0, 0.0, 0.0, torch.float32)])
case("fake_quantize_per_channel",
     lambda x: torch.fake_quantize_per_channel_affine(
         x, torch.tensor([0.02, 0.05, 0.1]), torch.tensor([0, 10, -5], dtype=torch.int32), 0, -128, 127),
     [det([3, 12], 8.0, 0.1, 0.0, torch.float32)])


# Optimizer trajectories on a tiny fixed problem: loss = mean((tanh(x W^T + b) - y)^2).
def trajectory(make):
    w = det([3, 4], 0.5, 0.11).requires_grad_()
    b = det([3], 0.2, 0.22).requires_grad_()
    x = det([6, 4], 1.0, 0.33)
    y = det([6, 3], 0.8, 0.44)
    opt = make([w, b])
    steps = []
    for _ in range(5):
        opt.zero_grad(set_to_none=True)
        loss = ((torch.tanh(x @ w.t() + b) - y) ** 2).mean()
        loss.backward()
        opt.step()
        steps.append({"w": record(w), "b": record(b)})
    return steps


optimizers = {
    "sgd_momentum_dampening": lambda p: torch.optim.SGD(p, lr=0.3, momentum=0.9, dampening=0.1),
    "sgd_nesterov_weight_decay": lambda p: torch.optim.SGD(p, lr=0.3, momentum=0.9, nesterov=True, weight_decay=0.01),
    "sgd_plain": lambda p: torch.optim.SGD(p, lr=0.5),
    "adam_weight_decay": lambda p: torch.optim.Adam(p, lr=0.05, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.01),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.1),
}

out = {
    "torch_version": torch.__version__,
    "cases": cases,
    "optimizers": {name: trajectory(make) for name, make in optimizers.items()},
}
path = sys.argv[1] if len(sys.argv) > 1 else "reference.json"
with open(path, "w") as f:
    json.dump(out, f, separators=(",", ":"))
