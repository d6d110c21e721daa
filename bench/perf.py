"""``make perf``: measured speed figures, printed as a table and saved as JSON. A benchmark, not a test.

  python -m bench.perf                      # full sizes (meant for a GPU): 50,000-image pool, batch 128
  python -m bench.perf --quick              # tiny sizes: proves every path runs (CPU, CI)
  python -m bench.perf --sections train,reference --json perf.json

Sections:
  train       images/s of albench's trainer at the paper protocol (batch 128): 32x32 RGB, 64x64 gray
  reference   the same for a peer-style pipeline (torchvision transforms on PIL images, DataLoader with
              worker processes, fp32) and the ratio albench / reference
  select      seconds of select() per strategy on a 50,000-image pool (500 labelled; --quick: 600 / 100)
  round       seconds of one AL round (train 200 epochs on the labelled images + evaluate + select)
  concurrent  total training images/s with K trials running at once in separate processes
Inputs are random uint8 images (speed does not depend on content; never zeros, see METHOD notes).
"""
import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from dataclasses import replace

import numpy as np
import torch

from bench.config import load_config
from bench.pool import Pool
from bench.train import evaluate, resolve_device, train_classifier


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def data(n, channels, size, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 10, (n,), generator=g)
    return x.to(device), y.to(device)


def trainer_rate(cfg, n, channels, size, device, epochs):
    """Images/s of bench.train.train_classifier over ``epochs`` epochs of ``n`` images (after a warm-up)."""
    x, y = data(n, channels, size, device)
    mean, std = [0.5] * channels, [0.25] * channels
    warm = replace(cfg, epochs=1)
    train_classifier(warm, x[: 4 * cfg.batch_size], y[: 4 * cfg.batch_size], 10, 0, mean, std)
    run = replace(cfg, epochs=epochs, lr_milestones=(epochs,))
    _sync(device)
    _, seconds = train_classifier(run, x, y, 10, 1, mean, std)
    return n * epochs / seconds


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

    from bench.models import build_classifier

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
    epoch()  # warm-up (workers start, cuDNN picks kernels)
    _sync(device)
    t0, seen = time.perf_counter(), 0
    for _ in range(epochs):
        seen += epoch()
    _sync(device)
    return seen / (time.perf_counter() - t0)


def select_seconds(cfg, names, n_pool, n_lab, device, params):
    """Seconds of select(budget) per strategy on a random pool, with a freshly initialised classifier."""
    from bench.models import build_classifier
    from strategies import get_strategy

    x, y = data(n_pool, 3, 32, device)
    out = {}
    for name in names:
        s = get_strategy(name, **params.get(name, {}))
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            torch.manual_seed(0)
            model = build_classifier("resnet18", 10, 3, cfg.width, **s.classifier_options).to(device)
        model.eval().requires_grad_(False)
        lab = np.random.default_rng(0).choice(n_pool, n_lab, replace=False)
        pool = Pool(x, y.cpu().numpy(), lab, model, 10, np.random.default_rng(0), device, cfg.eval_batch_size)
        _sync(device)
        t0 = time.perf_counter()
        s.select(pool, cfg.budget)
        _sync(device)
        out[name] = time.perf_counter() - t0
    return out


def round_seconds(cfg, names, n_pool, n_lab, device, params, epochs, sel=None):
    """Seconds of one AL round per strategy: train on n_lab images, evaluate on 10,000, select
    (``sel``: select seconds already measured by the select section, else measured here)."""
    x_test, y_test = data(min(10_000, n_pool), 3, 32, device, seed=1)
    run = replace(cfg, epochs=epochs, lr_milestones=(max(1, epochs * 4 // 5),))
    x, y = data(n_lab, 3, 32, device)
    sel = sel or select_seconds(cfg, names, n_pool, n_lab, device, params)
    out = {}
    for name in names:
        t0 = time.perf_counter()
        model, _ = train_classifier(run, x, y, 10, 0, [0.5] * 3, [0.25] * 3)
        evaluate(model, x_test, y_test, 10, cfg.eval_batch_size)
        _sync(device)
        out[name] = time.perf_counter() - t0 + sel[name]
    return out


def _concurrent_worker(args):
    cfg_dict, n, device, epochs, start_at = args
    from bench.config import Config

    cfg = Config(**cfg_dict)
    dev = torch.device(device)
    x, y = data(n, 3, 32, dev)
    train_classifier(replace(cfg, epochs=1), x[:512], y[:512], 10, 0, [0.5] * 3, [0.25] * 3)
    while time.time() < start_at:  # every worker starts timing together
        time.sleep(0.001)
    t0 = time.perf_counter()
    run = replace(cfg, epochs=epochs, lr_milestones=(epochs,))
    train_classifier(run, x, y, 10, 1, [0.5] * 3, [0.25] * 3)
    return t0, time.perf_counter(), n * epochs


def concurrent_rate(cfg, k, n, device, epochs):
    """Total images/s of k processes training at once (from the first start to the last end)."""
    ctx = mp.get_context("spawn")
    with ctx.Pool(k) as p:
        start_at = time.time() + 20 + 2 * k
        res = p.map(_concurrent_worker, [(cfg.to_dict(), n, str(device), epochs, start_at)] * k)
    t0, t1 = min(r[0] for r in res), max(r[1] for r in res)
    return sum(r[2] for r in res) / (t1 - t0)


def main(argv=None):
    p = argparse.ArgumentParser(prog="bench.perf", description=__doc__.split("\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--quick", action="store_true", help="tiny sizes: check that every path runs")
    p.add_argument("--sections", default="train,reference,select,round,concurrent")
    p.add_argument("--strategies", default="random,entropy,margin,least_confidence,coreset,bald,vaal,vabal")
    p.add_argument("--json", default=os.path.join("results", "perf.json"))
    a = p.parse_args(argv)
    device = resolve_device(a.device)
    cfg = load_config("paper/cifar10")
    q = a.quick
    n_train, epochs = (256, 1) if q else (25_000, 3)
    n_pool, n_lab = (600, 100) if q else (50_000, 500)
    if q:
        cfg = replace(cfg, width=8, eval_batch_size=256, budget=50)
    params = {"bald": {"passes": 4 if q else 100}, "vaal": {"epochs": 1 if q else 100, "width": 8 if q else 128},
              "vabal": {"epochs": 1 if q else 20, "mc_samples": 4 if q else 100}}
    names = [s for s in a.strategies.split(",") if s]
    sections = a.sections.split(",")
    res = {"device": str(device), "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
           "torch": torch.__version__, "quick": q, "batch_size": cfg.batch_size, "width": cfg.width}
    rows = []

    def report(name, value, unit):
        rows.append((name, value, unit))
        print(f"{name:48s} {value:12.2f} {unit}", flush=True)

    if "train" in sections or "reference" in sections:
        for ch, size in ((3, 32), (1, 64)):
            key = f"{size}x{size}x{ch}"
            if "train" in sections:
                res[f"train_img_s_{key}"] = r = trainer_rate(cfg, n_train, ch, size, device, epochs)
                report(f"albench trainer, {key}, batch {cfg.batch_size}", r, "img/s")
            if "reference" in sections:
                workers = 0 if q else 4
                res[f"reference_img_s_{key}"] = r = reference_rate(cfg, n_train, ch, size, device, epochs, workers)
                report(f"reference pipeline ({workers} workers, fp32), {key}", r, "img/s")
                if f"train_img_s_{key}" in res:
                    res[f"speedup_{key}"] = res[f"train_img_s_{key}"] / r
                    report(f"speed-up albench / reference, {key}", res[f"speedup_{key}"], "x")
    if "select" in sections:
        res["select_seconds"] = select_seconds(cfg, names, n_pool, n_lab, device, params)
        for k, v in res["select_seconds"].items():
            report(f"select {cfg.budget} of {n_pool - n_lab}: {k}", v, "s")
    if "round" in sections:
        res["round_seconds"] = round_seconds(cfg, names, n_pool, n_lab, device, params, 2 if q else cfg.epochs,
                                             res.get("select_seconds"))
        for k, v in res["round_seconds"].items():
            report(f"AL round ({n_lab} labelled, {2 if q else cfg.epochs} epochs): {k}", v, "s")
    if "concurrent" in sections:
        res["concurrent_img_s"] = {}
        for k in ((1, 2) if q else (1, 2, 4, 8)):
            res["concurrent_img_s"][k] = r = concurrent_rate(cfg, k, n_train // (4 if q else 2), device, epochs)
            report(f"{k} concurrent trials, total", r, "img/s")
    os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(res, f, indent=2)
    print(f"wrote {a.json}", file=sys.stderr)
    return res


if __name__ == "__main__":
    main()
