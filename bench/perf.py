"""``make perf``: measured speed figures, printed as a table and saved as JSON. A benchmark, not a test.

  python -m bench.perf                      # full sizes (meant for a GPU): 50,000-image pool, batch 128
  python -m bench.perf --quick              # tiny sizes: proves every path runs (CPU, CI)
  python -m bench.perf --sections train,reference --json perf.json
  python -m bench.perf --device cpu         # a CPU: bench.perf_cpu's sections at the cpu profile's scale

Sections:
  train       images/s of albench's trainer at the paper protocol (batch 128): 32x32 RGB, 64x64 gray
  reference   the same for a peer-style pipeline (torchvision transforms on PIL images, DataLoader with
              worker processes, fp32) and the ratio albench / reference
  select      seconds of select() per strategy on a 50,000-image pool (500 labelled; --quick: 600 / 100)
  coreset     seconds of albench's k_center_greedy and scikit-activeml's CoreSet on the same features: a
              seeded Gaussian 50,000 x 512 float32 pool, 5,000 labelled, k = 500, on the CPU (--quick:
              2,000 x 64, 200, 50); on a GPU also albench's there
  round       seconds of one AL round (train 200 epochs on the labelled images + evaluate + select)
  steps       the trainer's images/s per step mode: eager, CUDA graph, torch.compile (see bench.train)
  concurrent  total training images/s with K trials running at once in separate processes (on the CPU
              they split the cores)
  executors   wall seconds of a small real grid (4 digits trials) run one after another (--executor
              local) and by the pool executor (2 workers on a GPU, one per core up to 4 on the CPU), side by side
  grid        the Fig. 3(b) grid (cifar10_dom{1,5,10} x seeds 0-2 x random, coreset, bald, vaal, vabal):
              an estimate from the rates measured above plus selects measured at the grid's pool size,
              and a floor, its FLOPs (counted on meta tensors) at --peak-tflops
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
from bench.train import evaluate, resolve_device, seeded, step_mode, sync, train_classifier


def data(n, channels, size, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 10, (n,), generator=g)
    return x.to(device), y.to(device)


def trainer_rate(cfg, n, channels, size, device, epochs):
    """Images/s of bench.train.train_classifier over ``epochs`` epochs of ``n`` images (after a warm-up)."""
    x, y = data(n, channels, size, device)
    mean, std = [0.5] * channels, [0.25] * channels
    warm = 4 * cfg.batch_size + n % cfg.batch_size   # the same batch shapes as the timed run (compile)
    train_classifier(replace(cfg, epochs=1), x[:warm], y[:warm], 10, 0, mean, std)
    run = replace(cfg, epochs=epochs, lr_milestones=(epochs,))
    sync(device)
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
    sync(device)
    t0, seen = time.perf_counter(), 0
    for _ in range(epochs):
        seen += epoch()
    sync(device)
    return seen / (time.perf_counter() - t0)


def select_seconds(cfg, names, n_pool, n_lab, device, params):
    """Seconds of select(budget) per strategy on a random pool, with a freshly initialised classifier."""
    from bench.models import build_classifier
    from strategies import get_strategy

    x, y = data(n_pool, 3, 32, device)
    out = {}
    for name in names:
        s = get_strategy(name, **params.get(name, {}))
        with seeded(0, device):
            model = build_classifier("resnet18", 10, 3, cfg.width, **s.classifier_options).to(device)
        model.eval().requires_grad_(False)
        lab = np.random.default_rng(0).choice(n_pool, n_lab, replace=False)
        pool = Pool(x, y.cpu().numpy(), lab, model, 10, np.random.default_rng(0), device, cfg.eval_batch_size,
                    budget=cfg.budget, true_labels=s.reads_true_labels)   # oracle strategies buy their labels
        sync(device)
        t0 = time.perf_counter()
        s.select(pool, cfg.budget)
        sync(device)
        out[name] = time.perf_counter() - t0
    return out


def coreset_seconds(n, dim, n_lab, k, device):
    """Seconds of albench's k_center_greedy and scikit-activeml's CoreSet (None when it is not installed)
    choosing ``k`` of the same seeded Gaussian ``n`` x ``dim`` float32 features with the same ``n_lab``
    labelled, both on the CPU; albench's also on ``device`` when that is a GPU."""
    from strategies.coreset import k_center_greedy

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
        sync(device)
        t0 = time.perf_counter()
        k_center_greedy(xd, md, k)
        sync(device)
        out["albench_cuda"] = time.perf_counter() - t0
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
        sync(device)
        out[name] = time.perf_counter() - t0 + sel[name]
    return out


def _concurrent_worker(args):
    cfg_dict, n, device, epochs, start_at, threads = args
    from bench.config import Config

    if threads:
        torch.set_num_threads(threads)
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
    """Total images/s of k processes training at once (from the first start to the last end); on the CPU
    they split the cores as the pool executor's workers do (``bench.grid.cpu_threads``)."""
    from bench.grid import cpu_threads

    threads = cpu_threads(cfg, k) if device.type == "cpu" else 0
    ctx = mp.get_context("spawn")
    with ctx.Pool(k) as p:
        start_at = time.time() + 20 + 2 * k
        res = p.map(_concurrent_worker, [(cfg.to_dict(), n, str(device), epochs, start_at, threads)] * k)
    t0, t1 = min(r[0] for r in res), max(r[1] for r in res)
    return sum(r[2] for r in res) / (t1 - t0)


def grid_wall_seconds(device, workers, quick):
    """Wall seconds of one small real grid (digits, random and entropy, seeds 0-1: 4 trials of the
    ``make bench`` preset; 2 epochs and one round with --quick) run by the local executor (one trial after another,
    all cores each) and by the pool executor with ``workers`` processes (the cores split between them).
    Each executor writes its own temporary results folder."""
    import tempfile

    from bench.grid import expand, run_grid

    out = {}
    extra = ["epochs=2", "lr_milestones=[1]", "rounds=1"] if quick else []
    for executor, k in (("local", 1), ("pool", workers)):
        with tempfile.TemporaryDirectory() as tmp:
            trials = expand(["digits"], ["random", "entropy"], [0, 1], overrides=extra + [f"device={device}"],
                            out=tmp)
            t0 = time.perf_counter()
            run_grid(trials, executor, k, progress=False)
            out[f"{executor}, {k} worker(s)"] = time.perf_counter() - t0
    return out


FIG3B = {"datasets": ("cifar10_dom1", "cifar10_dom5", "cifar10_dom10"), "seeds": (0, 1, 2),
         "strategies": ("random", "coreset", "bald", "vaal", "vabal")}
CIFAR10_PER_CLASS, CIFAR10_TEST = 5000, 10_000


def flops(cfg):
    """FLOPs counted by torch's FlopCounterMode on meta tensors (shapes only, nothing computed): a
    training image of the classifier, a forward image, and one VAAL iteration (its own ``iteration``)."""
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    from bench.models import build_classifier
    from strategies import get_strategy

    out = {}
    with torch.device("meta"):
        model = build_classifier(cfg.arch, 10, 3, cfg.width)
        x, y = torch.empty(2, 3, 32, 32, dtype=torch.uint8), torch.zeros(2, dtype=torch.long)
        with FlopCounterMode(display=False) as fc:
            F.cross_entropy(model(x), y).backward()
        out["train_per_image"] = fc.get_total_flops() / 2
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            model(x)
        out["forward_per_image"] = fc.get_total_flops() / 2
        vaal = get_strategy("vaal")   # the authors' hyper-parameters
        parts = vaal.build(3, 32, "meta")
        xb = torch.empty(vaal.batch_size, 3, 32, 32)
        with FlopCounterMode(display=False) as fc:
            vaal.iteration(*parts, lambda: (xb, xb))
        out["vaal_iteration"] = fc.get_total_flops()
    return out


def fig3b_grid(cfg, device, params, measured, peak_tflops, quick):
    """The Fig. 3(b) grid (3 datasets x 3 seeds x 5 strategies, 6 trainings of 200 epochs each), estimated
    from rates measured here: training images / the best training rate measured (concurrent trials if
    that section ran), plus every select at the grid's pool size measured alone, plus evaluation. And a
    floor: the grid's FLOPs (paper protocol, the strategies' default = published hyper-parameters) at
    ``peak_tflops``. Returns a dict; the command prints how it was computed."""
    from datasets.registry import BASES
    from strategies import get_strategy

    paper = load_config("paper/cifar10")   # the grid's sizes and FLOPs are the paper's, even with --quick
    n_trials = len(FIG3B["datasets"]) * len(FIG3B["seeds"])      # per strategy
    dom = BASES["cifar10"][2]
    n_pool = CIFAR10_PER_CLASS + 9 * (CIFAR10_PER_CLASS - round(dom * CIFAR10_PER_CLASS))
    sizes = [paper.initial + r * paper.budget for r in range(paper.rounds + 1)]
    train_images = n_trials * len(FIG3B["strategies"]) * paper.epochs * sum(sizes)
    rate = max([measured.get("train_img_s_32x32x3", 0)] + list(measured.get("concurrent_img_s", {}).values()))
    if not rate:
        rate = trainer_rate(cfg, 256 if quick else 25_000, 3, 32, device, 1 if quick else 3)
    n_lab = sizes[len(sizes) // 2]                                 # a middle round's labelled pool
    pool = (600, 100) if quick else (n_pool, n_lab)
    sel = select_seconds(cfg, FIG3B["strategies"], *pool, device, params)
    x_test, y_test = data(256 if quick else CIFAR10_TEST, 3, 32, device, seed=1)
    model, _ = train_classifier(replace(cfg, epochs=1), x_test[:256], y_test[:256], 10, 0, [0.5] * 3, [0.25] * 3)
    evaluate(model, x_test[:256], y_test[:256], 10, cfg.eval_batch_size)   # warm-up
    sync(device)
    t0 = time.perf_counter()
    evaluate(model, x_test, y_test, 10, cfg.eval_batch_size)
    sync(device)
    eval_s = time.perf_counter() - t0
    train_s = train_images / rate
    select_s = {k: n_trials * paper.rounds * v for k, v in sel.items()}
    eval_total = n_trials * len(FIG3B["strategies"]) * (paper.rounds + 1) * eval_s
    f = flops(paper)
    unl = n_pool - n_lab
    grid_flops = {
        "training": train_images * f["train_per_image"],
        "vaal": n_trials * paper.rounds * f["vaal_iteration"] * get_strategy("vaal").iterations(n_pool),
        "bald": n_trials * paper.rounds * get_strategy("bald").passes * unl * f["forward_per_image"],
        "other forward passes": n_trials * paper.rounds * 2 * n_pool * f["forward_per_image"]
        + n_trials * len(FIG3B["strategies"]) * (paper.rounds + 1) * CIFAR10_TEST * f["forward_per_image"]}
    floor = {k: v / (peak_tflops * 1e12) for k, v in grid_flops.items()}
    return {"pool": n_pool, "select_measured_at": {"pool": pool[0], "labelled": pool[1], "budget": cfg.budget},
            "labelled_sizes": sizes, "train_images": train_images, "train_rate_img_s": rate,
            "train_seconds": train_s, "select_seconds_each": sel, "select_seconds_total": select_s,
            "eval_seconds_each": eval_s, "eval_seconds_total": eval_total,
            "estimate_minutes": (train_s + sum(select_s.values()) + eval_total) / 60,
            "flops": f, "grid_flops": grid_flops, "peak_tflops": peak_tflops, "floor_seconds": floor,
            "floor_minutes": sum(floor.values()) / 60}


def main(argv=None):
    p = argparse.ArgumentParser(prog="bench.perf", description=__doc__.split("\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--quick", action="store_true", help="tiny sizes: check that every path runs")
    p.add_argument("--sections", default="train,reference,steps,select,coreset,round,concurrent,executors,grid")
    p.add_argument("--train-step", default="auto", help="the trainer's step mode: auto | eager | graph | compile")
    p.add_argument("--modes", default="eager,graph,compile", help="step modes the steps section compares")
    p.add_argument("--concurrency", default="1,2,4,8", help="K values of the concurrent section")
    p.add_argument("--peak-tflops", type=float, default=790.0,
                   help="the GPU's dense bf16 peak for the grid's FLOP floor (H200: ~790 measured, 989 spec)")
    p.add_argument("--strategies", default="random,entropy,margin,least_confidence,coreset,bald,vaal,vabal,badge,base,"
                   "galaxy,direct,typiclust,probcover,balanced_margin,balanced_random_oracle")
    p.add_argument("--json", default=os.path.join("results", "perf.json"))
    p.add_argument("--threads", type=int, default=1, help="CPU: torch threads (the cpu profile runs one per trial)")
    p.add_argument("--fma-units", type=int, default=2, help="CPU: FMA units per core for the FLOP ceiling")
    a = p.parse_args(argv)
    device = resolve_device(a.device)
    if device.type == "cpu" and "--sections" not in (argv if argv is not None else sys.argv):
        return cpu_main(a)   # the CPU at the cpu profile's scale, in minutes (bench.perf_cpu)
    cfg = load_config("paper/cifar10", train_step=a.train_step)
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
           "torch": torch.__version__, "quick": q, "batch_size": cfg.batch_size, "width": cfg.width,
           "train_step": cfg.train_step, "train_step_resolved": step_mode(cfg, device)}
    rows = []

    def report(name, value, unit):
        rows.append((name, value, unit))
        print(f"{name:48s} {value:12.2f} {unit}", flush=True)

    if "train" in sections or "reference" in sections:
        for ch, size in ((3, 32), (1, 64)):
            key = f"{size}x{size}x{ch}"
            if "train" in sections:
                res[f"train_img_s_{key}"] = r = trainer_rate(cfg, n_train, ch, size, device, epochs)
                report(f"albench trainer ({res['train_step_resolved']}), {key}, batch {cfg.batch_size}", r, "img/s")
            if "reference" in sections:
                workers = 0 if q else 4
                res[f"reference_img_s_{key}"] = r = reference_rate(cfg, n_train, ch, size, device, epochs, workers)
                report(f"reference pipeline ({workers} workers, fp32), {key}", r, "img/s")
                if f"train_img_s_{key}" in res:
                    res[f"speedup_{key}"] = res[f"train_img_s_{key}"] / r
                    report(f"speed-up albench / reference, {key}", res[f"speedup_{key}"], "x")
    if "steps" in sections:
        res["step_img_s"] = {}
        for mode in [m for m in a.modes.split(",") if m]:
            res["step_img_s"][mode] = r = trainer_rate(replace(cfg, train_step=mode), n_train, 3, 32, device, epochs)
            report(f"step mode {mode} ({step_mode(replace(cfg, train_step=mode), device)}), 32x32x3", r, "img/s")
    if "select" in sections:
        res["select_seconds"] = select_seconds(cfg, names, n_pool, n_lab, device, params)
        for k, v in res["select_seconds"].items():
            report(f"select {cfg.budget} of {n_pool - n_lab}: {k}", v, "s")
    if "coreset" in sections:
        c = res["coreset_seconds"] = coreset_seconds(*((2000, 64, 200, 50) if q else (50_000, 512, 5000, 500)),
                                                    device)
        what = f"k-center {c['k']} of {c['pool'] - c['labelled']:,} ({c['pool']:,} x {c['dim']})"
        report(f"{what}, cpu: albench", c["albench_cpu"], "s")
        if c["skactiveml_cpu"] is None:
            print(f"{what}, cpu: scikit-activeml not installed, skipped", flush=True)
        else:
            report(f"{what}, cpu: scikit-activeml CoreSet", c["skactiveml_cpu"], "s")
            report(f"speed-up albench / scikit-activeml (same picks: {c['same_picks']})",
                   c["speedup"], "x")
        if "albench_cuda" in c:
            report(f"{what}, {device.type}: albench", c["albench_cuda"], "s")
    if "round" in sections:
        res["round_seconds"] = round_seconds(cfg, names, n_pool, n_lab, device, params, 2 if q else cfg.epochs,
                                             res.get("select_seconds"))
        for k, v in res["round_seconds"].items():
            report(f"AL round ({n_lab} labelled, {2 if q else cfg.epochs} epochs): {k}", v, "s")
    if "concurrent" in sections:
        res["concurrent_img_s"] = {}
        for k in ((1, 2) if q else [int(v) for v in a.concurrency.split(",")]):
            res["concurrent_img_s"][k] = r = concurrent_rate(cfg, k, n_train // (4 if q else 2), device, epochs)
            report(f"{k} concurrent trials, total", r, "img/s")
    if "executors" in sections:
        workers = 2 if device.type != "cpu" else min(4, max(2, os.cpu_count() or 1))   # 4 trials at most
        g = res["executor_wall_seconds"] = grid_wall_seconds(device, workers, q)
        for k, v in g.items():
            report(f"4 digits trials, {k}", v, "s")
        report("  speed-up pool / local", g["local, 1 worker(s)"] / g[f"pool, {workers} worker(s)"], "x")
    if "grid" in sections:
        g = res["fig3b_grid"] = fig3b_grid(cfg, device, params, res, a.peak_tflops, q)
        report(f"Fig. 3(b) grid: training images ({len(g['labelled_sizes'])} rounds x 200 epochs)",
               g["train_images"], "img")
        report(f"  training at {g['train_rate_img_s']:,.0f} img/s (best rate measured)", g["train_seconds"], "s")
        for k, v in g["select_seconds_total"].items():
            m = g["select_measured_at"]
            report(f"  select {k} (45 x {m['budget']} of {m['pool'] - m['labelled']})", v, "s")
        report("  evaluation", g["eval_seconds_total"], "s")
        report(f"  estimated wall time on this {device.type}", g["estimate_minutes"], "min")
        for k, v in g["floor_seconds"].items():
            report(f"  FLOP floor at {a.peak_tflops:.0f} TFLOP/s: {k}", v, "s")
        report("  FLOP floor, whole grid", g["floor_minutes"], "min")
    return save_json(res, a.json)


def save_json(res: dict, path: str) -> dict:
    """The figures of a run as JSON at ``path`` (atomically), said on stderr; returns them."""
    from bench.results import atomic_write

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write(path, json.dumps(res, indent=2))
    print(f"wrote {path}", file=sys.stderr)
    return res


def cpu_main(a):
    """``bench.perf_cpu.run``: printed as rows, saved as JSON."""
    from bench.perf_cpu import run

    t0 = time.perf_counter()
    print(f"albench perf on the CPU ({torch.__version__}, {a.threads} thread(s)); the cpu profile's scale", flush=True)

    def report(name, value, unit):
        print(f"{name:86s} {value:12.2f} {unit}", flush=True)

    res = run(a.threads, a.quick, a.fma_units, report)
    res["wall_seconds"] = time.perf_counter() - t0
    report("wall time of this run", res["wall_seconds"], "s")
    return save_json(res, a.json)


if __name__ == "__main__":
    main()
