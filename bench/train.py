"""Training and evaluation of the classifier, as plain functions.

Images stay on the device as uint8 tensors; augmentation (random crop with zero padding, horizontal flip)
runs there in batch.  On CUDA the forward/backward runs under bf16 autocast with channels_last memory; on
the CPU it is plain fp32.  No host synchronisation happens inside an epoch.
"""
import contextlib
import time

import numpy as np
import torch
import torch.nn.functional as F

from bench.models import build_classifier


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        from bench.errors import ConfigError

        raise ConfigError(f"device {name!r} asked for, but torch sees no CUDA device; use device=cpu or auto")
    return torch.device(name)


def autocast(device: torch.device):
    """bf16 autocast on CUDA, nothing on the CPU (fp32 there is faster and exact)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def seeded(seed: int, device: torch.device):
    """Run a block under torch's global RNGs seeded with ``seed``, restoring them afterwards."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


def augment(x: torch.Tensor, pad: int, flip: bool) -> torch.Tensor:
    """Random crop (zero padding ``pad``) and horizontal flip of a uint8 batch N x C x H x W, on its device."""
    n, c, h, w = x.shape
    if pad > 0:
        xp = F.pad(x, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (n, 1, 1, 1), device=x.device)
        dx = torch.randint(0, 2 * pad + 1, (n, 1, 1, 1), device=x.device)
        rows = dy + torch.arange(h, device=x.device).view(1, 1, h, 1)
        cols = dx + torch.arange(w, device=x.device).view(1, 1, 1, w)
        flat = xp.reshape(n, c, -1)
        x = flat.gather(2, (rows * (w + 2 * pad) + cols).expand(n, c, h, w).reshape(n, c, -1)).view(n, c, h, w)
    if flip:
        mask = torch.rand(n, 1, 1, 1, device=x.device) < 0.5
        x = torch.where(mask, x.flip(3), x)
    return x


def channel_stats(x: np.ndarray):
    """Per-channel mean and std of uint8 images N x C x H x W, in [0, 1] units."""
    xf = x.reshape(x.shape[0], x.shape[1], -1).astype(np.float64) / 255.0
    return xf.mean(axis=(0, 2)).tolist(), np.maximum(xf.std(axis=(0, 2)), 1e-3).tolist()


def train_classifier(cfg, x: torch.Tensor, y: torch.Tensor, num_classes: int, seed: int, mean, std,
                     dropout: float = 0.0, progress=None):
    """Build a fresh classifier and train it on (x, y) with the config's schedule. Returns (model, seconds).

    ``x`` uint8 N x C x H x W and ``y`` int64, both on the training device. A last batch of one image is
    dropped (BatchNorm cannot normalise a single 1x1 map).
    """
    device = x.device
    start = time.perf_counter()
    with seeded(seed, device):
        model = build_classifier(cfg.arch, num_classes, x.shape[1], cfg.width, dropout, mean, std).to(device)
        if device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(cfg.lr_milestones), cfg.lr_gamma)
        model.train()
        n = len(y)
        for _ in range(cfg.epochs):
            perm = torch.randperm(n, device=device)
            for i in range(0, n, cfg.batch_size):
                idx = perm[i:i + cfg.batch_size]
                if len(idx) < 2:
                    continue
                xb = augment(x[idx], cfg.crop_pad, cfg.hflip)
                with autocast(device):
                    loss = F.cross_entropy(model(xb), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            sched.step()
            if progress is not None:
                progress.update(1)
    model.eval().requires_grad_(False)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return model, time.perf_counter() - start


@torch.no_grad()
def predict(model, x: torch.Tensor, batch_size: int = 1024, what: str = "logits") -> torch.Tensor:
    """Concatenated ``what`` (``logits`` or ``embedding``) of the frozen model over x, float32, on x's device."""
    outs = []
    for i in range(0, len(x), batch_size):
        with autocast(x.device):
            o = model.forward_all(x[i:i + batch_size])
        outs.append(getattr(o, what).float())
    return torch.cat(outs) if outs else torch.zeros(0, device=x.device)


def evaluate(model, x: torch.Tensor, y: torch.Tensor, num_classes: int, batch_size: int = 1024) -> dict:
    """Accuracy, balanced accuracy (mean per-class recall over classes present) and per-class accuracy."""
    pred = predict(model, x, batch_size).argmax(1)
    correct = torch.bincount(y[pred == y], minlength=num_classes).double()
    total = torch.bincount(y, minlength=num_classes).double()
    per_class = (correct / total.clamp(min=1)).cpu().numpy()
    present = (total > 0).cpu().numpy()
    return {"accuracy": float(correct.sum() / total.sum()), "balanced_accuracy": float(per_class[present].mean()),
            "per_class_accuracy": [float(a) if p else None for a, p in zip(per_class, present)]}
