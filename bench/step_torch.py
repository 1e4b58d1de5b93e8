#!/usr/bin/python3
"""One training step (forward, backward, SGD step) of the MobileNet-like stack that
bench/Slim.Bench times, in PyTorch, for comparison. Usage: step_torch.py [--threads 2] [--warmup 5] [--steps 20]"""
import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def mobilenet_like():
    layers = [nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU()]
    for cin, cout, stride in [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2)]:
        layers += [nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(),
                   nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10)]
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    a = ap.parse_args()
    # Debian's build starts with one thread; set it explicitly, as the C# side does.
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = mobilenet_like().train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(8, 3, 160, 160)
    y = torch.arange(8)

    def step():
        # set_to_none matches the C# zero_grad, which drops the gradients.
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    wall, cpu = [], []
    for _ in range(a.steps):
        c0 = time.process_time()
        t0 = time.perf_counter()
        step()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    print(f"python threads={torch.get_num_threads()} steps={a.steps} median_ms={statistics.median(wall):.2f} "
          f"min_ms={min(wall):.2f} cpu_median_ms={statistics.median(cpu):.2f} op_us={op_overhead():.2f}")


def op_overhead():
    """Microseconds per operator call on 4-element tensors (median of 15 batches of 3x2000 calls)."""
    a = torch.ones(4)
    b = torch.ones(4)
    batches = []
    for _ in range(15):
        t0 = time.perf_counter()
        for _ in range(2000):
            c = a + b
            d = c.relu()
            e = d * 2.0
        batches.append((time.perf_counter() - t0) * 1e6 / 6000)
    return statistics.median(batches)


if __name__ == "__main__":
    main()
