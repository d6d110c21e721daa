"""SimCLR on a base dataset's training images, no labels: two augmented views of every image, an encoder (albench's
ResNet-18 at the recipe's width) and a projection head trained with the NT-Xent loss (Chen et al., 2020).

The augmentations run in batch on the device, drawn from one ``torch.Generator`` per epoch seeded by (seed,
epoch): an epoch is the same whether the run went straight through or resumed after a kill. The loss and
augmentations are written here (about 60 lines) rather than taken from lightly or kornia: both would add a
dependency tree for what torch's ``affine_grid`` / ``grid_sample`` and one cross-entropy already do, and
albench's trainer conventions (uint8 images on the device, bf16 autocast, channels_last) would have to be
adapted to theirs.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from bench.core.device import autocast, channels_last
from bench.core.models import build_classifier


def grey(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma of N x 3 x H x W images, N x 1 x H x W."""
    return (0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])


def augment(x: torch.Tensor, g: torch.Generator, min_scale: float) -> torch.Tensor:
    """One random view of uint8 images N x C x H x W as float in [0, 255]: a resized crop of area fraction in
    [min_scale, 1] and aspect ratio in [3/4, 4/3], a horizontal flip (p 0.5), and on colour images a jitter
    of brightness, contrast and saturation by factors in [0.6, 1.4] (p 0.8) and grayscale (p 0.2)."""
    n, c, h, w = x.shape
    dev = x.device

    def u(lo, hi, *shape):
        return lo + (hi - lo) * torch.rand(*(shape or (n,)), generator=g, device="cpu").to(dev)

    area, log_ratio = u(min_scale, 1.0), u(math.log(3 / 4), math.log(4 / 3))
    sw = torch.sqrt(area * torch.exp(log_ratio)).clamp(max=1.0)          # crop size, as a fraction of the side
    sh = torch.sqrt(area / torch.exp(log_ratio)).clamp(max=1.0)
    cx, cy = u(-1, 1) * (1 - sw), u(-1, 1) * (1 - sh)                  # crop centre, in [-1, 1] coordinates
    flip = torch.where(u(0, 1) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sw * flip, cx, sh, cy
    grid = F.affine_grid(theta, (n, c, h, w), align_corners=False)
    v = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if c == 3:
        jitter = (u(0, 1) < 0.8).view(n, 1, 1, 1)
        b, k, s = (u(0.6, 1.4).view(n, 1, 1, 1) for _ in range(3))
        j = v * b
        m = grey(j).mean(dim=(2, 3), keepdim=True)
        j = (j - m) * k + m
        gj = grey(j)
        j = (gj + (j - gj) * s).clamp(0, 255)
        v = torch.where(jitter, j, v)
        v = torch.where((u(0, 1) < 0.2).view(n, 1, 1, 1), grey(v).expand(-1, 3, -1, -1), v)
    return v


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """The NT-Xent loss of 2N projections: each view's positive is the other view of its image, the 2N - 2
    other views are its negatives (cosine similarity / temperature, cross-entropy over the 2N - 1 others)."""
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    n = len(z1)
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


class SimCLR(nn.Module):
    """The encoder (its pooled embedding is the feature) and the 2-layer projection head the loss sees."""

    def __init__(self, in_channels: int, width: int, projection_dim: int):
        super().__init__()
        self.encoder = build_classifier("resnet18", 1, in_channels, width)   # its 1-class fc is never used
        dim = 8 * width
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, projection_dim))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder.forward_all(x).embedding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def lr_at(recipe: dict, step: int, steps: int) -> float:
    """Cosine decay from the recipe's lr to 0 over ``steps``."""
    return recipe["lr"] * 0.5 * (1 + math.cos(math.pi * step / max(1, steps)))


def train_epoch(model: SimCLR, opt, x: torch.Tensor, recipe: dict, epoch: int, seed: int, precision: str,
                progress=None) -> float:
    """One epoch over the images ``x`` (uint8, on the model's device) in shuffled batches; the mean loss."""
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    bs = min(recipe["batch_size"], len(x))
    order = torch.randperm(len(x), generator=g).to(x.device)
    steps_per_epoch = len(x) // bs
    total, losses = recipe["epochs"] * steps_per_epoch, []
    model.train()
    for i in range(steps_per_epoch):
        xb = x[order[i * bs:(i + 1) * bs]]
        v1, v2 = augment(xb, g, recipe["min_scale"]), augment(xb, g, recipe["min_scale"])
        if channels_last(x.device, precision):
            v1, v2 = (v.contiguous(memory_format=torch.channels_last) for v in (v1, v2))
        for group in opt.param_groups:
            group["lr"] = lr_at(recipe, epoch * steps_per_epoch + i, total)
        with autocast(x.device, precision, cache=False):
            loss = nt_xent(model(v1), model(v2), recipe["temperature"])
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the SimCLR loss became {loss.item()} at epoch {epoch}, step {i}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress.update(2 * len(xb))
    return sum(losses) / max(1, len(losses))


@torch.no_grad()
def embed_all(encoder, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """L2-normalised pooled embeddings of uint8 images ``x`` in float32 arithmetic (the same numbers at any
    thread count: the features file's hash is part of a trial's identity)."""
    encoder.eval()
    out = [encoder.forward_all(x[i:i + batch]).embedding.float() for i in range(0, len(x), batch)]
    return F.normalize(torch.cat(out), dim=1) if out else torch.zeros(0, device=x.device)
