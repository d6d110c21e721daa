"""How albench compares with its peers on the same machine: a peer-style training pipeline (PIL images, torchvision
transforms, DataLoader workers, fp32) and scikit-activeml's CoreSet on the same features."""
import sys
import time

import numpy as np
import torch

from bench.core.device import conv_backend, sync
from bench.core.models import build_classifier
from bench.trial.timing import data, timed
from strategies._api import random_argmax
from strategies.coreset import k_center_greedy


class _PILDataset(torch.utils.data.Dataset):
    """What AL toolkits typically do: numpy images -> PIL -> torchvision transforms, one image at a time."""

    def __init__(self, x, y, transform):
        self.x, self.y, self.transform = x, y, transform

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        from PIL import Image

        img = self.x[i].transpose(1, 2, 0)
        img = Image.fromarray(img[..., 0] if img.shape[2] == 1 else img)
        return self.transform(img), int(self.y[i])


def reference_rate(cfg, n, channels, size, device, epochs, workers):
    """Images/s of a peer-style pipeline: PIL + torchvision transforms, DataLoader workers, fp32."""
    import torchvision.transforms as T

    x, y = data(n, channels, size, "cpu")
    tf = T.Compose([T.RandomCrop(size, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                    T.Normalize([0.5] * channels, [0.25] * channels)])
    loader = torch.utils.data.DataLoader(_PILDataset(x.numpy(), y.numpy(), tf), batch_size=cfg.batch_size,
                                         shuffle=True, num_workers=workers, drop_last=False,
                                         persistent_workers=workers > 0, pin_memory=device.type == "cuda")
    model = build_classifier("resnet18", 10, channels, cfg.width).to(device)
    model.stem_forward = model.stem  # the reference normalises in its transforms, plain fp32 NCHW
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    crit = torch.nn.CrossEntropyLoss()

    def epoch():
        seen = 0
        for xb, yb in loader:
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            loss = crit(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(yb)
        return seen

    model.train()
    with conv_backend(cfg.width, device):   # oneDNN off only where it is unsafe (a narrow net on AVX2)
        epoch()  # warm-up (workers start, cuDNN picks kernels)
        sync(device)
        t0, seen = time.perf_counter(), 0
        for _ in range(epochs):
            seen += epoch()
        sync(device)
    return seen / (time.perf_counter() - t0)


def coreset_seconds(n, dim, n_lab, k, device):
    """Seconds of albench's k_center_greedy and scikit-activeml's CoreSet (None when it is not installed)
    choosing ``k`` of the same seeded Gaussian ``n`` x ``dim`` float32 features with the same ``n_lab``
    labelled, both on the CPU; albench's also on ``device`` when that is a GPU."""

    x = torch.randn(n, dim, generator=torch.Generator().manual_seed(0))
    lab = np.random.default_rng(0).choice(n, n_lab, replace=False)
    mask = torch.zeros(n, dtype=torch.bool)
    mask[lab] = True
    out = {"pool": n, "dim": dim, "labelled": n_lab, "k": k, "skactiveml_cpu": None}
    t0 = time.perf_counter()
    ours = k_center_greedy(x, mask, k)
    out["albench_cpu"] = time.perf_counter() - t0
    try:
        from skactiveml.pool import CoreSet
    except ImportError as e:
        print(f"coreset: scikit-activeml not importable ({e}); timing albench only", file=sys.stderr)
    else:
        y = np.full(n, np.nan)   # scikit-activeml's labelled set: the points whose label is not missing
        y[lab] = 0
        t0 = time.perf_counter()
        theirs = CoreSet(random_state=0).query(x.numpy(), y, batch_size=k)
        out["skactiveml_cpu"] = time.perf_counter() - t0
        out["same_picks"] = theirs.tolist() == ours.tolist()
        out["speedup"] = out["skactiveml_cpu"] / out["albench_cpu"]
    if device.type == "cuda":
        xd, md = x.to(device), mask.to(device)
        k_center_greedy(xd[:1000], md[:1000], 5)   # warm-up (cuBLAS handles, kernels)
        out["albench_cuda"] = timed(lambda: k_center_greedy(xd, md, k), device)
    return out


def fl2mi_every_row(sim: torch.Tensor, budget: int, eta: float, rng: np.random.Generator):
    """SIMILAR's greedy FL2MI as first written (no peer installs here: DISTIL needs submodlib): every row's gain
    recomputed at every pick, ties drawn by ``random_argmax``. The reference of ``fl2mi_greedy``'s lazy
    greedy, which must pick the same rows with the same gains, and of its speed."""
    cover = torch.zeros(sim.shape[1], dtype=sim.dtype)
    chosen, picks, gains = torch.zeros(len(sim), dtype=torch.bool), [], []
    best_q = sim.max(1).values if sim.shape[1] else torch.zeros(len(sim), dtype=sim.dtype)
    for _ in range(budget):
        gain = (sim - cover.unsqueeze(0)).clamp_min(0).sum(1) + eta * best_q
        gain[chosen] = float("-inf")
        pick = random_argmax(gain, rng)
        picks.append(pick)
        gains.append(float(gain[pick]))
        chosen[pick] = True
        cover = torch.maximum(cover, sim[pick])
    return picks, gains
