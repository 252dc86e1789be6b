"""Reference for bench/augment.ts: two-view SimCLR augmentation with torchvision.

Same transforms as contrastream's bench pipeline, applied to every JPEG of a folder:
  RandomResizedCrop(96, scale=(0.2, 1.0)) -> RandomHorizontalFlip()
  -> RandomApply([ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8) -> RandomGrayscale(p=0.2)
  -> ToTensor() -> Normalize(ImageNet mean/std)
twice per image (two views), through a DataLoader with `--workers` worker processes
(default 2) and batch size `--batch` (default 256), collated into [B, 3, 96, 96] tensors.

Prints one JSON line: {"images_per_s": ..., "images": N, "seconds": ..., "workers": W,
"cpu_ms_per_image": ..., ...}; CPU time is read from /proc for the main process and the
DataLoader worker processes (user + system), so it does not depend on how loaded the machine is.
The first pass over the folder is a warm-up (page cache, worker start); `--passes` timed
passes follow and the best one is reported.

With --serve it runs one timed pass per line "pass" read from stdin (printing one JSON line
each) until "quit", so that a caller can interleave its own passes with these (bench/augment.ts
does, to compare under the same machine load).

Usage: /usr/bin/python3 bench/augment_torchvision.py DIR [--workers 2] [--batch 256] [--passes 2] [--serve]
"""
import argparse
import json
import os
import sys
import time

import torch
import torchvision.transforms as T
from PIL import Image
from torch.utils.data import DataLoader, Dataset


class TwoViews:
    def __init__(self, transform):
        self.transform = transform

    def __call__(self, img):
        return self.transform(img), self.transform(img)


class JpegFolder(Dataset):
    def __init__(self, root, transform):
        self.files = sorted(
            os.path.join(root, f) for f in os.listdir(root) if f.lower().endswith((".jpg", ".jpeg"))
        )
        self.transform = transform

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        with open(self.files[i], "rb") as fh:
            img = Image.open(fh).convert("RGB")  # decode once
        return self.transform(img)


def cpu_seconds(pids):
    """user + system CPU seconds of the given processes, from /proc/<pid>/stat."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--serve", action="store_true")
    args = ap.parse_args()

    # Workers are single-threaded torch processes (DataLoader sets 1 thread in each); the
    # main process only receives collated batches.
    torch.set_num_threads(1)
    view = T.Compose(
        [
            T.RandomResizedCrop(args.size, scale=(0.2, 1.0)),
            T.RandomHorizontalFlip(),
            T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            T.RandomGrayscale(p=0.2),
            T.ToTensor(),
            T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        ]
    )
    ds = JpegFolder(args.root, TwoViews(view))
    if len(ds) == 0:
        print(f"no JPEG files in {args.root}", file=sys.stderr)
        sys.exit(2)
    loader = DataLoader(
        ds,
        batch_size=args.batch,
        shuffle=True,
        num_workers=args.workers,
        drop_last=False,
        persistent_workers=args.workers > 0,
    )


    def one_pass():
        n = 0
        it = iter(loader)
        pids = [os.getpid()] + [w.pid for w in getattr(it, "_workers", [])]
        c0 = cpu_seconds(pids)
        t0 = time.perf_counter()
        for v1, v2 in it:
            assert v1.shape[1:] == (3, args.size, args.size)
            n += v1.shape[0]
        dt = time.perf_counter() - t0
        return n, dt, cpu_seconds(pids) - c0

    one_pass()  # warm-up
    info = {"workers": args.workers, "batch": args.batch, "torch": torch.__version__, "torchvision": __import__("torchvision").__version__}
    if args.serve:
        print(json.dumps({"ready": True, **info}), flush=True)
        for line in sys.stdin:
            if line.strip() != "pass":
                break
            n, dt, cpu = one_pass()
            print(json.dumps({"images_per_s": n / dt, "images": n, "seconds": dt, "cpu_ms_per_image": 1000 * cpu / n, **info}), flush=True)
        return
    best = None
    for _ in range(args.passes):
        n, dt, cpu = one_pass()
        if best is None or n / dt > best[0] / best[1]:
            best = (n, dt, cpu)
    n, dt, cpu = best
    print(
        json.dumps(
            {
                "images_per_s": n / dt,
                "images": n,
                "seconds": dt,
                "workers": args.workers,
                "cpu_ms_per_image": 1000 * cpu / n,
                "batch": args.batch,
                "torch": torch.__version__,
                "torchvision": __import__("torchvision").__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
