"""Measurements of albench's own code on this machine: the trainer's images/s, select() seconds, an AL round,
concurrent trials, the executors on a small real grid. Called by ``python -m bench.perf`` (see its sections)."""
import multiprocessing as mp
import tempfile
import time
from dataclasses import replace

import numpy as np
import torch

from bench.core.config import Config
from bench.core.device import seeded, sync
from bench.core.models import build_classifier
from bench.core.pool import Pool
from bench.trial.grid import cpu_threads, expand, run_grid
from bench.trial.timing import data, timed
from bench.trial.train import evaluate, train_classifier
from strategies import get_strategy


def trainer_rate(cfg, n, channels, size, device, epochs):
    """Images/s of bench.trial.train.train_classifier over ``epochs`` epochs of ``n`` images (after a warm-up)."""
    x, y = data(n, channels, size, device)
    mean, std = [0.5] * channels, [0.25] * channels
    warm = 4 * cfg.batch_size + n % cfg.batch_size   # the same batch shapes as the timed run (compile)
    train_classifier(replace(cfg, epochs=1), x[:warm], y[:warm], 10, 0, mean, std)
    run = replace(cfg, epochs=epochs, lr_milestones=(epochs,))
    sync(device)
    _, seconds = train_classifier(run, x, y, 10, 1, mean, std)
    return n * epochs / seconds


def select_seconds(cfg, names, n_pool, n_lab, device, params):
    """Seconds of select(budget) per strategy on a random pool, with a freshly initialised classifier."""

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
        out[name] = timed(lambda: s.select(pool, cfg.budget), device)
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
    they split the cores as the pool executor's workers do (``bench.trial.grid.cpu_threads``)."""

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

