"""Training and evaluation of the classifier, as plain functions.

Images stay on the device as uint8 tensors; augmentation (random crop with zero padding, horizontal flip)
runs there in batch.  The arithmetic is the config's ``precision`` (``bench.core.device``): bf16 autocast with
channels_last memory (CUDA, and a CPU with native bf16), or plain fp32 with NCHW tensors.  On CUDA each
step is by default replayed from a CUDA graph (``GraphedStep``).  No host synchronisation happens inside
an epoch: the learning rate lives on the device (``SGD``).
"""
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from bench.core.config import STEP_MODES
from bench.core.device import (
    autocast,
    channels_last,
    conv_backend,
    forked_rng,
    inference_batch,
    resolve_precision,
    seeded,
    sync,
)
from bench.core.errors import ConfigError, TrainingDivergedError
from bench.core.models import build_classifier
from bench.core.predict import forward_batches


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


def lr_at(cfg, epoch: int) -> float:
    """The step schedule: lr x gamma^(milestones reached), as torch's MultiStepLR stepped once per epoch."""
    return cfg.lr * cfg.lr_gamma ** sum(epoch >= m for m in cfg.lr_milestones)


class SGD:
    """torch.optim.SGD's update (momentum, L2 weight decay, no dampening, not Nesterov) with the learning
    rate held in a device tensor: the schedule changes it with ``set_lr`` (no host sync), and a step
    captured in a CUDA graph reads the new value at every replay (torch's SGD bakes a float lr into it).

    d = g + weight_decay * p;  buf = momentum * buf + d;  p -= lr * buf
    """

    def __init__(self, params, lr: float, momentum: float, weight_decay: float):
        self.params = [p for p in params if p.requires_grad]
        self.lr = torch.tensor(float(lr), device=self.params[0].device)
        self.momentum, self.weight_decay = float(momentum), float(weight_decay)
        self.bufs = [torch.zeros_like(p) for p in self.params]

    def set_lr(self, lr: float):
        self.lr.fill_(float(lr))

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        grads = [p.grad for p in self.params]
        if self.weight_decay:
            grads = torch._foreach_add(grads, self.params, alpha=self.weight_decay)
        torch._foreach_mul_(self.bufs, self.momentum)
        torch._foreach_add_(self.bufs, grads)
        torch._foreach_sub_(self.params, torch._foreach_mul(self.bufs, self.lr))


class GraphedStep:
    """A whole training step (gather, augment, forward, backward, SGD) replayed from one CUDA graph.

    The step reads its batch through a static index tensor into the device-resident training set, so a
    replay costs one small copy and one graph launch instead of several hundred kernel launches. Before
    capture the step runs ``warmup`` times on a side stream (cuDNN and allocator initialisation) and the
    model, optimiser and RNG state are then put back exactly, so warm-up leaves no trace in the training.
    With ``capture=False`` (the CPU) the same static-buffer step runs eagerly: the path tests exercise.
    """

    def __init__(self, step, batch: int, n: int, state, device, capture: bool, warmup: int = 2):
        self.step, self.graph = step, None
        self.idx = torch.arange(batch, device=device) % n          # warm-up batch; replays overwrite it
        saved = [t.detach().clone() for t in state]
        side = torch.cuda.Stream(device) if capture else None
        with forked_rng(device):
            if side is not None:
                side.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side):   # a no-op context when side is None (the CPU)
                for _ in range(warmup):
                    step(self.idx)
            if side is not None:
                torch.cuda.current_stream(device).wait_stream(side)
        with torch.no_grad():
            for t, s in zip(state, saved):
                t.copy_(s)
        if capture:
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                step(self.idx)

    def __call__(self, idx: torch.Tensor):
        self.idx.copy_(idx)
        if self.graph is None:
            self.step(self.idx)
        else:
            self.graph.replay()


def step_mode(cfg, device: torch.device) -> str:
    """The training-step mode a config resolves to: ``auto`` is ``graph`` on CUDA, ``eager`` elsewhere."""
    if cfg.train_step not in STEP_MODES:   # a config made with dataclasses.replace skips check_config
        raise ConfigError(f"train_step must be one of {', '.join(STEP_MODES)}, got {cfg.train_step!r}")
    if cfg.train_step == "auto":
        return "graph" if device.type == "cuda" else "eager"
    return cfg.train_step


def train_classifier(cfg, x: torch.Tensor, y: torch.Tensor, num_classes: int, seed: int, mean, std,
                     dropout: float = 0.0, progress=None):
    """Build a fresh classifier and train it on (x, y) with the config's schedule. Returns (model, seconds).

    ``x`` uint8 N x C x H x W and ``y`` int64, both on the training device. A last batch of one image is
    dropped (BatchNorm cannot normalise a single 1x1 map). ``cfg.train_step`` picks how a step runs:
    ``eager``; ``graph``, the step captured once per batch size and replayed (on the CPU: uncaptured);
    ``compile``, ``torch.compile`` of the model (``reduce-overhead`` on CUDA, recompiles per new batch
    shape); ``auto``, graph on CUDA and eager on the CPU. Every mode does the same mathematics.
    ``cfg.precision`` picks the arithmetic (``bench.core.device``); the model comes back channels_last under bf16.
    """
    device = x.device
    mode = step_mode(cfg, device)
    precision = resolve_precision(cfg.precision, device)
    start = time.perf_counter()
    with seeded(seed, device), conv_backend(cfg.width, device):
        model = build_classifier(cfg.arch, num_classes, x.shape[1], cfg.width, dropout, mean, std).to(device)
        if channels_last(device, precision):
            model = model.to(memory_format=torch.channels_last)
        opt = SGD(model.parameters(), cfg.lr, cfg.momentum, cfg.weight_decay)
        model.train()
        net = model
        if mode == "compile":
            net = torch.compile(model, mode="reduce-overhead" if device.type == "cuda" else "default")

        bad = torch.zeros((), dtype=torch.bool, device=device)   # any non-finite loss so far (no host sync)

        def step(idx):
            opt.zero_grad()
            xb = augment(x[idx], cfg.crop_pad, cfg.hflip)
            with autocast(device, precision, cache=False):
                loss = F.cross_entropy(net(xb), y[idx])
            bad.logical_or_(~torch.isfinite(loss.detach()))
            loss.backward()
            opt.step()

        state = list(model.parameters()) + list(model.buffers()) + opt.bufs + [bad]
        graphs = {}

        def runner(size):
            if mode != "graph":
                return step
            if size not in graphs:
                try:
                    graphs[size] = GraphedStep(step, size, len(y), state, device, capture=device.type == "cuda")
                except RuntimeError as err:   # capture unsupported here: same mathematics, eager speed
                    warnings.warn(f"albench: CUDA graph capture failed for batch {size} ({err}); "
                                  "this batch shape trains eagerly (set train_step=eager to silence this)")
                    graphs[size] = step
            return graphs[size]

        n = len(y)
        if n < 2:
            raise ConfigError(f"cannot train on {n} labelled image(s): at least 2 are needed (raise initial)")
        for epoch in range(cfg.epochs):
            opt.set_lr(lr_at(cfg, epoch))
            perm = torch.randperm(n, device=device)
            for i in range(0, n, cfg.batch_size):
                idx = perm[i:i + cfg.batch_size]
                if len(idx) >= 2:
                    runner(len(idx))(idx)
            if bad.item():   # one host sync per epoch
                raise TrainingDivergedError(
                    f"training diverged at epoch {epoch} (lr {lr_at(cfg, epoch):g}): the loss became NaN or "
                    f"infinite; lower lr (now {cfg.lr:g}) or check the data")
            if progress is not None:
                progress.update(n)   # images trained this epoch (the loop's bar counts images)
        opt.zero_grad()   # the last gradients (in a graph's private pool) are not needed after training
        graphs.clear()   # the captured graphs (and their memory pools) are not needed after training
    model.eval().requires_grad_(False)
    sync(device)
    return model, time.perf_counter() - start


def predict(model, x: torch.Tensor, batch_size: int = 0, what: str = "logits", precision: str = None) -> torch.Tensor:
    """Concatenated ``what`` (``logits`` or ``embedding``) of the frozen model over x, float32, on x's device,
    in ``precision`` (None: bf16 on CUDA, fp32 elsewhere), ``batch_size`` images at a time (0: the device's)."""
    return forward_batches(model, lambda i, j: x[i:j], len(x), inference_batch(batch_size, x.device),
                           lambda o: getattr(o, what).float(), x.device, precision)


def evaluate(model, x: torch.Tensor, y: torch.Tensor, num_classes: int, batch_size: int = 0,
             precision: str = None) -> dict:
    """Accuracy, balanced accuracy (mean per-class recall over classes present) and per-class accuracy.
    TrainingDivergedError if any logit is NaN or infinite (an argmax over NaNs would say class 0)."""
    logits = predict(model, x, batch_size, precision=precision)
    if not bool(torch.isfinite(logits).all()):
        raise TrainingDivergedError(f"the trained classifier gives non-finite logits for "
                                    f"{int((~torch.isfinite(logits)).any(1).sum())} of {len(x)} images; its "
                                    "accuracy would be meaningless: lower lr or check the data")
    pred = logits.argmax(1)
    correct = torch.bincount(y[pred == y], minlength=num_classes).double()
    total = torch.bincount(y, minlength=num_classes).double()
    per_class = (correct / total.clamp(min=1)).cpu().numpy()
    present = (total > 0).cpu().numpy()
    return {"accuracy": float(correct.sum() / total.sum()), "balanced_accuracy": float(per_class[present].mean()),
            "per_class_accuracy": [float(a) if p else None for a, p in zip(per_class, present)]}
