"""PyTorch reference for `npm run bench:step`.

Trains the same network, batch and loss as bench/step.ts for a fixed number of steps and
prints one JSON line: {"model": ..., "batch": ..., "ms_per_step": median, "threads": ...}.

    /usr/bin/python3 bench/step_torch.py --model cnn6 --batch 64 --steps 20 --threads 2

Loss: NT-Xent (SimCLR) over the batch read as B/2 positive pairs (rows i and i+B/2),
temperature 0.5, on L2-normalised 128-d features. Optimizer: SGD, momentum 0.9,
weight decay 5e-4, lr 0.05. BN in training mode.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def cnn6(in_ch=3, dim=128):
    layers = []
    spec = [(32, 1), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1)]
    c = in_ch
    for out, stride in spec:
        layers += [nn.Conv2d(c, out, 3, stride, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
        c = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, dim)]
    return nn.Sequential(*layers)


def resnet18_cifar(dim=128):
    m = torchvision.models.resnet18(num_classes=dim)
    m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    m.maxpool = nn.Identity()
    return m


def nt_xent(z, temperature=0.5):
    z = F.normalize(z, dim=1)
    n2 = z.shape[0]
    n = n2 // 2
    sim = z @ z.t() / temperature
    sim = sim.masked_fill(torch.eye(n2, dtype=torch.bool), float("-inf"))
    target = torch.cat([torch.arange(n, n2), torch.arange(0, n)])
    return F.cross_entropy(sim, target)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="cnn6", choices=["cnn6", "resnet18cifar"])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = cnn6() if a.model == "cnn6" else resnet18_cifar()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(a.batch, 3, a.size, a.size)
    times = []
    for step in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = nt_xent(model(x))
        loss.backward()
        opt.step()
        loss.item()
        if step >= a.warmup:
            times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({"model": a.model, "batch": a.batch, "ms_per_step": statistics.median(times),
                      "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
