"""PyTorch mirror of lcr-verify's default architectures (README "Binary networks"), for speed comparisons:
one PyTorch CPU training step (batch 128, AdamW, cross-entropy, clipped STE), per architecture.

  mlp:    flatten -> fc0 784x384 (real) -> BN -> sign -> fc1 384x384 (binary) -> BN -> sign -> head 384x10 (real)
  cnn:    conv0 1->32 3x3 (real) -> maxpool2 -> BN -> [sign -> conv 3x3 binary -> maxpool2 -> BN] x2 (32->64->128)
          -> flatten (128*3*3) -> sign -> head (real)
  resnet: stem 1->16 3x3 (real) -> BN -> hardtanh -> units hardtanh(BN(conv3x3_bin(sign p)) + shortcut(p)),
          stages [16,32,64], 2 units each; downsampling shortcut real 1x1 stride-2 conv + BN;
          global avg pool -> BN -> linear
Binary weights: sign(w) forward, clipped identity backward; no scaling (the project's default).

Timing: --warmup steps, then --reps timed steps per architecture; prints median/min/max ms as one JSON line.
Usage: python scripts/torch_step.py [--threads 2] [--reps 20] [--arch mlp,cnn,resnet]   (pip install torch; the CPU
build is enough), then `cargo bench --bench train_step` right after, on an otherwise idle machine, and compare
medians of the same sitting (absolute figures drift between machines and days).
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x.abs() <= 1).to(g.dtype)


sign = SignSTE.apply


class BinLinear(nn.Linear):
    def forward(self, x):
        return F.linear(x, sign(self.weight), self.bias)


class BinConv(nn.Conv2d):
    def forward(self, x):
        return F.conv2d(x, sign(self.weight), self.bias, self.stride, self.padding)


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc0, self.bn0 = nn.Linear(784, 384), nn.BatchNorm1d(384)
        self.fc1, self.bn1 = BinLinear(384, 384), nn.BatchNorm1d(384)
        self.head = nn.Linear(384, 10)

    def forward(self, x):
        h = self.bn0(self.fc0(x.flatten(1)))
        h = self.bn1(self.fc1(sign(h)))
        return self.head(sign(h))


class Cnn(nn.Module):
    def __init__(self, widths=(32, 64, 128)):
        super().__init__()
        self.stem = nn.Conv2d(1, widths[0], 3, padding=1)
        self.norms = nn.ModuleList([nn.BatchNorm2d(w) for w in widths])
        self.convs = nn.ModuleList([BinConv(widths[k - 1], widths[k], 3, padding=1) for k in range(1, len(widths))])
        self.head = nn.Linear(widths[-1] * 3 * 3, 10)

    def forward(self, x):
        h = self.norms[0](F.max_pool2d(self.stem(x), 2))
        for conv, bn in zip(self.convs, self.norms[1:]):
            h = bn(F.max_pool2d(conv(sign(h)), 2))
        return self.head(sign(h.flatten(1)))


class Unit(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv, self.bn = BinConv(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, p):
        short = p if self.down is None else self.down(p)
        return F.hardtanh(self.bn(self.conv(sign(p))) + short)


class ResNet(nn.Module):
    def __init__(self, widths=(16, 32, 64), blocks=2):
        super().__init__()
        self.stem, self.stem_bn = nn.Conv2d(1, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0])
        units, c = [], widths[0]
        for s, w in enumerate(widths):
            for u in range(blocks):
                units.append(Unit(c, w, 2 if s > 0 and u == 0 else 1))
                c = w
        self.units = nn.Sequential(*units)
        self.head_bn, self.head = nn.BatchNorm1d(c), nn.Linear(c, 10)

    def forward(self, x):
        p = F.hardtanh(self.stem_bn(self.stem(x)))
        p = self.units(p)
        return self.head(self.head_bn(p.mean((2, 3))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--arch", default="mlp,cnn,resnet")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    out = {"torch": torch.__version__, "threads": a.threads, "batch": a.batch}
    for name in a.arch.split(","):
        model = {"mlp": Mlp, "cnn": Cnn, "resnet": ResNet}[name]()
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=0.0)
        x = torch.randn(a.batch, 1, 28, 28)
        y = torch.randint(0, 10, (a.batch,))
        times = []
        for i in range(a.warmup + a.reps):
            t = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            with torch.no_grad():
                for m in model.modules():
                    if isinstance(m, (BinLinear, BinConv)):
                        m.weight.clamp_(-1, 1)
            if i >= a.warmup:
                times.append((time.perf_counter() - t) * 1e3)
        out[name] = {"median_ms": round(statistics.median(times), 2), "min_ms": round(min(times), 2),
                     "max_ms": round(max(times), 2)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
