"""PyTorch reference for `npm run bench:kernels` (the 6-conv CNN training step).

Same network, batch, loss and optimizer as bench/kernels.ts and bench/step_torch.py (whose
model and loss it imports): cnn6, batch 64, 32x32x3, NT-Xent at temperature 0.5, SGD momentum
0.9, weight decay 5e-4. Prints one JSON line with the median and the minimum ms per step; on a
shared machine the minimum is the better estimate of the unloaded time.

    /usr/bin/python3 bench/step_torch_cnn.py --steps 20 --threads 2
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
from step_torch import cnn6, nt_xent  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = cnn6()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(a.batch, 3, 32, 32)
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
    print(json.dumps({"ms_median": statistics.median(times), "ms_min": min(times),
                      "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
