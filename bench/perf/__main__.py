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
  grid        the Fig. 3(b) grid (its datasets, seeds and strategies as the manifest gives them):
              an estimate from the rates measured above plus selects measured at the grid's pool size,
              and a floor, its FLOPs (counted on meta tensors) at --peak-tflops
Inputs are random uint8 images (speed does not depend on content; never zeros, see METHOD notes).
"""
import argparse
import json
import os
import sys
import time
from dataclasses import replace
from types import SimpleNamespace

import torch

from bench.core.config import load_config, preset_for
from bench.core.device import resolve_device
from bench.paper.manifest import artifact
from bench.perf.cpu import run as cpu_run
from bench.perf.estimate import fig3b_grid
from bench.perf.measure import (
    concurrent_rate,
    grid_wall_seconds,
    round_seconds,
    select_seconds,
    trainer_rate,
)
from bench.perf.reference import coreset_seconds, reference_rate
from bench.trial.store import atomic_write
from bench.trial.train import step_mode


def section_train_reference(s):
    cfg, device, q, res = s.cfg, s.device, s.q, s.res
    report, sections, n_train, epochs = s.report, s.sections, s.n_train, s.epochs
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


def section_steps(s):
    a, cfg, device, res, report, n_train, epochs = s.a, s.cfg, s.device, s.res, s.report, s.n_train, s.epochs
    res["step_img_s"] = {}
    for mode in [m for m in a.modes.split(",") if m]:
        res["step_img_s"][mode] = r = trainer_rate(replace(cfg, train_step=mode), n_train, 3, 32, device, epochs)
        report(f"step mode {mode} ({step_mode(replace(cfg, train_step=mode), device)}), 32x32x3", r, "img/s")


def section_select(s):
    cfg, device, res, report = s.cfg, s.device, s.res, s.report
    names, params, n_pool, n_lab = s.names, s.params, s.n_pool, s.n_lab
    res["select_seconds"] = select_seconds(cfg, names, n_pool, n_lab, device, params)
    for k, v in res["select_seconds"].items():
        report(f"select {cfg.budget} of {n_pool - n_lab}: {k}", v, "s")


def section_coreset(s):
    device, q, res, report = s.device, s.q, s.res, s.report
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


def section_round(s):
    cfg, device, q, res, report = s.cfg, s.device, s.q, s.res, s.report
    names, params, n_pool, n_lab = s.names, s.params, s.n_pool, s.n_lab
    res["round_seconds"] = round_seconds(cfg, names, n_pool, n_lab, device, params, 2 if q else cfg.epochs,
                                         res.get("select_seconds"))
    for k, v in res["round_seconds"].items():
        report(f"AL round ({n_lab} labelled, {2 if q else cfg.epochs} epochs): {k}", v, "s")


def section_concurrent(s):
    a, cfg, device, q, res, report, n_train, epochs = s.a, s.cfg, s.device, s.q, s.res, s.report, s.n_train, s.epochs
    res["concurrent_img_s"] = {}
    for k in ((1, 2) if q else [int(v) for v in a.concurrency.split(",")]):
        res["concurrent_img_s"][k] = r = concurrent_rate(cfg, k, n_train // (4 if q else 2), device, epochs)
        report(f"{k} concurrent trials, total", r, "img/s")


def section_executors(s):
    device, q, res, report = s.device, s.q, s.res, s.report
    workers = 2 if device.type != "cpu" else min(4, max(2, os.cpu_count() or 1))   # 4 trials at most
    g = res["executor_wall_seconds"] = grid_wall_seconds(device, workers, q)
    for k, v in g.items():
        report(f"4 digits trials, {k}", v, "s")
    report("  speed-up pool / local", g["local, 1 worker(s)"] / g[f"pool, {workers} worker(s)"], "x")


def section_grid(s):
    a, cfg, device, q, res, report = s.a, s.cfg, s.device, s.q, s.res, s.report
    params = s.params
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


SECTIONS = [  # (the --sections names that select it, the function), in the order they run
    (('train', 'reference'), section_train_reference),
    (('steps',), section_steps),
    (('select',), section_select),
    (('coreset',), section_coreset),
    (('round',), section_round),
    (('concurrent',), section_concurrent),
    (('executors',), section_executors),
    (('grid',), section_grid),
]


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
        return cpu_main(a)   # the CPU at the cpu profile's scale, in minutes (bench.perf.cpu)
    cfg = load_config(preset_for(artifact("fig3b").runs[0].datasets[0]), train_step=a.train_step)
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

    s = SimpleNamespace(a=a, cfg=cfg, device=device, q=q, res=res, report=report, sections=sections, names=names,
                        params=params, n_train=n_train, epochs=epochs, n_pool=n_pool, n_lab=n_lab)
    for keys, section in SECTIONS:
        if any(k in sections for k in keys):
            section(s)
    return save_json(res, a.json)


def save_json(res: dict, path: str) -> dict:
    """The figures of a run as JSON at ``path`` (atomically), said on stderr; returns them."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write(path, json.dumps(res, indent=2))
    print(f"wrote {path}", file=sys.stderr)
    return res


def cpu_main(a):
    """``bench.perf.cpu.run``: printed as rows, saved as JSON."""
    t0 = time.perf_counter()
    print(f"albench perf on the CPU ({torch.__version__}, {a.threads} thread(s)); the cpu profile's scale", flush=True)

    def report(name, value, unit):
        print(f"{name:86s} {value:12.2f} {unit}", flush=True)

    res = cpu_run(a.threads, a.quick, a.fma_units, report)
    res["wall_seconds"] = time.perf_counter() - t0
    report("wall time of this run", res["wall_seconds"], "s")
    return save_json(res, a.json)


if __name__ == "__main__":
    main()
