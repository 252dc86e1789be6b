"""Runs torchvision/PyTorch on weights saved by contrastream (test/models/torchParity.test.ts).

    python3 torch_parity.py jobs.json

jobs.json is a list of {dir, input, model, stem, featureDim (or null), shape [N, H, W, C], train}.
For each job: reads <dir>/model.json + its .bin (HWIO conv kernels, [in, out] linear weights),
builds the same network in PyTorch, runs an eval-mode forward on the input (NHWC float32) and,
if `train`, a training-mode forward followed by the BN running statistics. Prints one JSON list.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision


def cnn6(in_ch, dim):
    layers = []
    c = in_ch
    for out, stride in [(32, 1), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1)]:
        layers += [nn.Conv2d(c, out, 3, stride, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
        c = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if dim is not None:
        layers.append(nn.Linear(c, dim))
    return nn.Sequential(*layers)


def cnn6_name(name):
    """conv3.weight -> 6.weight, bn3.running_mean -> 7.running_mean, fc.bias -> 20.bias."""
    head, rest = name.split('.', 1)
    if head == 'fc':
        return f'20.{rest}'
    i = int(head[-1]) - 1
    return f'{3 * i + (0 if head.startswith("conv") else 1)}.{rest}'


def run(job):
    n, h, w, c = job['shape']
    fdim = job['featureDim']
    model, stem, ckpt = job['model'], job['stem'], job['dir']
    manifest = json.load(open(os.path.join(ckpt, 'model.json')))
    group = manifest['weightsManifest'][0]
    raw = open(os.path.join(ckpt, group['paths'][0]), 'rb').read()
    weights, off = {}, 0
    for spec in group['weights']:
        size = int(np.prod(spec['shape'])) if spec['shape'] else 1
        weights[spec['name']] = np.frombuffer(raw, dtype=np.float32, count=size, offset=off).reshape(spec['shape'])
        off += 4 * size

    if model == 'convNet6':
        net = cnn6(c, fdim)
        rename = cnn6_name
    else:
        net = getattr(torchvision.models, model)(num_classes=fdim or 1000)
        if stem == 'cifar':
            net.conv1 = nn.Conv2d(c, 64, 3, 1, 1, bias=False)
            net.maxpool = nn.Identity()
        if fdim is None:
            net.fc = nn.Identity()
        rename = lambda s: s
    state = {}
    for name, arr in weights.items():
        t = torch.from_numpy(arr.copy())
        if t.ndim == 4:
            t = t.permute(3, 2, 0, 1)  # HWIO -> OIHW
        elif t.ndim == 2:
            t = t.t()  # [in, out] -> [out, in]
        state[rename(name)] = t
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith('num_batches_tracked')]
    assert not missing and not unexpected, (missing, unexpected)

    x = torch.from_numpy(np.fromfile(job['input'], dtype=np.float32).reshape(n, h, w, c)).permute(0, 3, 1, 2).contiguous()
    out = {'params': sum(p.numel() for p in net.parameters())}
    with torch.no_grad():
        net.eval()
        out['eval'] = net(x).flatten().tolist()
        if job['train']:
            net.train()
            out['train'] = net(x).flatten().tolist()
            sd = net.state_dict()
            inv = {rename(k): k for k in weights}
            out['running'] = {inv[k]: v.flatten().tolist() for k, v in sd.items()
                              if k.endswith('running_mean') or k.endswith('running_var')}
    return out


def main():
    torch.set_num_threads(1)
    jobs = json.load(open(sys.argv[1]))
    print(json.dumps([run(j) for j in jobs]))


if __name__ == '__main__':
    main()
