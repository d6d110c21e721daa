"""``make gpu-check``: one prepared script for a machine with one CUDA GPU, done in at most 12 minutes.

  python -m bench.perf.gpu_check                         # on the GPU machine (data: $ALBENCH_DATA or --data-root)
  python -m bench.perf.gpu_check --tiny --out /tmp/gc    # the same parts at tiny size (automatic without CUDA)

Parts, in this order, each under its own time limit and all under one budget (``--budget``, default 690 s,
so the whole script ends inside 12 minutes with its start-up); a part that cannot start for lack of time is
recorded as skipped, one that outruns its limit is killed and recorded as timed out (what it finished is
kept: a trial's finished rounds, a perf section's JSON only if it completed):

  environment         device name, torch / CUDA / cuDNN versions, memory, git commit
  gpu_tests           ``pytest -m gpu`` (skipped without CUDA)
  perf_train          ``python -m bench.perf --sections train``: the trainer's img/s (32x32x3, 64x64x1)
  fig3b_trial         one trial of Fig. 3(b) under the ``paper`` profile: its first dataset, random and vabal,
                      seed 0, through ``bench.trial.loop.run_trial`` (tiny: the ``smoke`` profile's digits_dom1);
                      accuracy per round, train / select seconds
  perf_steps          ``python -m bench.perf --sections steps`` (eager, graph)
  perf_reference      ``python -m bench.perf --sections reference``: a peer-style pipeline, and the speed-up
  perf_select         ``python -m bench.perf --sections select``: random, coreset, bald, vabal on a 50,000-image pool
  perf_select_vaal    the same for VAAL (its authors' 100 epochs: the slowest select)
  perf_steps_compile  ``python -m bench.perf --sections steps --modes compile`` (skipped at tiny size)

Everything lands under ``--out`` (default results/gpu-check/): ``gpu_check.json`` (every figure, each part's
status, limit and wall time), the perf JSONs, the pytest log and the trial folders. On the GPU every part
runs in its own process (so a limit can kill it); at tiny size they run in this process (``--isolate`` to
force processes), with one torch thread (two threads thrash on a busy 2-core machine).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import replace

import pandas as pd
import torch

from bench.core.config import REPO_ROOT
from bench.core.device import resolve_device
from bench.paper.manifest import load_profile, resolve
from bench.perf import __main__ as perf
from bench.trial.loop import run_trial
from bench.trial.store import trial_dir, versions

ROOT = REPO_ROOT

PARTS = ("environment", "gpu_tests", "perf_train", "fig3b_trial", "perf_steps", "perf_reference", "perf_select",
         "perf_select_vaal", "perf_steps_compile")
# (full, tiny) limit in seconds per part
LIMITS = {"gpu_tests": (150, 60), "perf_train": (60, 60), "fig3b_trial": (300, 60), "perf_steps": (60, 60),
          "perf_reference": (90, 60), "perf_select": (120, 60), "perf_select_vaal": (150, 60),
          "perf_steps_compile": (150, 0)}
MIN_START = 15          # a part is not started with less than this many seconds of the budget left
PERF = {"perf_train": ["--sections", "train"],
        "perf_steps": ["--sections", "steps", "--modes", "eager,graph"],
        "perf_reference": ["--sections", "reference"],
        "perf_select": ["--sections", "select", "--strategies", "random,coreset,bald,vabal"],
        "perf_select_vaal": ["--sections", "select", "--strategies", "vaal"],
        "perf_steps_compile": ["--sections", "steps", "--modes", "compile"]}
# dataset None: the artifact's first dataset under the profile, as the manifest gives it
TRIAL = {"profile": "paper", "artifact": "fig3b", "dataset": None, "strategies": ("random", "vabal"), "seed": 0}
TINY_TRIAL = dict(TRIAL, profile="smoke", dataset="digits_dom1")


def environment(device) -> dict:

    out = {"device": str(device), "cuda_available": torch.cuda.is_available(), "torch": torch.__version__,
           "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
           "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        out.update(gpu=p.name, gpu_memory_gib=p.total_memory / 2 ** 30, capability=f"{p.major}.{p.minor}",
                   gpu_count=torch.cuda.device_count())
    out["versions"] = versions()
    return out


def trial_config(tiny: bool, out: str, data_root: str = None, device: str = None):
    """The Fig. 3(b) trial's config from the profile (paper, or smoke at tiny size), writing under ``out``."""

    spec = TINY_TRIAL if tiny else TRIAL
    (art,) = resolve(load_profile(spec["profile"]), only=[spec["artifact"]])
    for run in art.runs:
        for dataset, cfg in run.configs(out):
            if dataset == (spec["dataset"] or art.runs[0].datasets[0]):
                fields = {k: v for k, v in (("data_root", data_root), ("device", device)) if v}
                return replace(cfg, out=out, **fields), spec
    raise KeyError(f"{spec['dataset']} is not in {spec['profile']}'s {spec['artifact']}")


def run_fig3b_trial(tiny: bool, out: str, data_root: str = None, device: str = None):
    """Run the check's trials through the normal loop (each strategy in turn; rounds saved as they end)."""

    cfg, spec = trial_config(tiny, out, data_root, device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    for s in spec["strategies"]:
        run_trial(cfg, s, spec["seed"], progress=False)


def trial_figures(tiny: bool, out: str) -> dict:
    """What the trial folders hold: per strategy, each finished round's figures."""

    cfg, spec = trial_config(tiny, out)
    res = {"profile": spec["profile"], "dataset": cfg.dataset, "seed": spec["seed"],
           "config": {k: getattr(cfg, k) for k in ("initial", "budget", "rounds", "arch", "width", "epochs",
                                                    "batch_size", "lr_milestones")},
           "strategy_params": {s: cfg.params_for(s) for s in spec["strategies"]}, "strategies": {}}
    cols = ["round", "n_labelled", "accuracy", "balanced_accuracy", "train_seconds", "scoring_train_seconds",
            "select_seconds", "eval_seconds"]
    for s in spec["strategies"]:
        path = os.path.join(trial_dir(cfg.out, cfg.dataset, s, spec["seed"]), "rounds.csv")
        if not os.path.exists(path):
            res["strategies"][s] = {"status": "not started", "rounds": []}
            continue
        df = pd.read_csv(path)
        rows = json.loads(df[[c for c in cols if c in df]].to_json(orient="records"))
        res["strategies"][s] = {"status": "finished" if len(rows) == cfg.rounds + 1 else f"partial ({len(rows)} of "
                                f"{cfg.rounds + 1} rounds)", "rounds": rows,
                                "accuracy": [r["accuracy"] for r in rows]}
    return res


def subprocess_part(argv, limit, log_path, env=None):
    """(rc, timed_out, tail) of ``argv`` run under ``limit`` seconds, its output in ``log_path``."""
    with open(log_path, "w") as log:
        p = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env,
                             start_new_session=True)
        try:
            rc, timed_out = p.wait(timeout=limit), False
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, 9)   # the part and whatever it started (dataloader workers, compile workers)
            except ProcessLookupError:
                pass
            rc, timed_out = p.wait(), True
    with open(log_path, errors="replace") as f:
        tail = f.read()[-3000:]
    return rc, timed_out, tail


def pytest_counts(text: str) -> dict:
    last = [line for line in text.splitlines() if re.search(r"\d+ (passed|failed|skipped|error)", line)]
    return {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|deselected|errors?)",
                                             last[-1] if last else "")}


class Check:
    """Runs the parts in order under one budget and records each in ``gpu_check.json``."""

    def __init__(self, out, tiny, device, data_root, budget, isolate):
        self.out, self.tiny, self.device, self.data_root, self.isolate = out, tiny, device, data_root, isolate
        self.start, self.budget = time.perf_counter(), budget
        self.result = {"tiny": tiny, "budget_s": budget, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                       "out": out, "parts": {}}
        self.env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        if tiny:
            self.env.setdefault("OMP_NUM_THREADS", "1")

    def left(self):
        return self.budget - (time.perf_counter() - self.start)

    def save(self):
        self.result["wall_s"] = time.perf_counter() - self.start
        path = os.path.join(self.out, "gpu_check.json")
        with open(path + ".tmp", "w") as f:
            json.dump(self.result, f, indent=2, default=str)
        os.replace(path + ".tmp", path)
        return path

    def part(self, name, fn):
        limit = LIMITS.get(name, (60, 60))[1 if self.tiny else 0]
        rec = {"limit_s": limit}
        if limit == 0:
            rec.update(status="skipped", reason="not run at tiny size")
        elif self.left() < MIN_START:
            rec.update(status="skipped", reason=f"budget spent ({max(0, self.left()):.0f} s of {self.budget} s left)")
        else:
            rec["limit_s"] = limit = int(min(limit, self.left()))
            t0 = time.perf_counter()
            try:
                rec.update(fn(limit))
            except Exception as err:   # a broken part is recorded; the others still run
                rec.update(status="failed", error=f"{type(err).__name__}: {err}")
            rec["wall_s"] = time.perf_counter() - t0
        rec.setdefault("status", "ok")
        self.result["parts"][name] = rec
        print(f"gpu-check: {name:20s} {rec['status']:9s} {rec.get('wall_s', 0):7.1f} s"
              + (f"  ({rec.get('reason') or rec.get('error', '')[:120]})" if rec["status"] != "ok" else ""),
              flush=True)
        self.save()

    def perf(self, name, limit):
        path = os.path.join(self.out, f"{name}.json")
        argv = PERF[name] + ["--json", path, "--device", str(self.device)] + (["--quick"] if self.tiny else [])
        if self.isolate:
            rc, timed_out, tail = subprocess_part([sys.executable, "-m", "bench.perf"] + argv, limit,
                                                  os.path.join(self.out, f"{name}.log"), self.env)
            if timed_out or rc:
                return {"status": "timeout" if timed_out else "failed", "rc": rc, "output_tail": tail[-1500:]}
        else:

            perf.main(argv)
        with open(path) as f:
            return {"figures": json.load(f)}

    def gpu_tests(self, limit):
        if self.device.type != "cuda":
            return {"status": "skipped", "reason": "no CUDA device" + (" (--tiny)" if self.tiny else "")}
        log = os.path.join(self.out, "gpu_tests.log")
        argv = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "-o", "addopts=-ra"]
        rc, timed_out, tail = subprocess_part(argv, limit, log, self.env)
        counts = pytest_counts(tail)
        status = "timeout" if timed_out else ("ok" if rc == 0 else "failed")
        return {"status": status, "rc": rc, "counts": counts, "output_tail": tail[-2000:]}

    def fig3b(self, limit):
        trials = os.path.join(self.out, "trials-" + time.strftime("%Y%m%d-%H%M%S"))   # fresh: timed, not resumed
        args = ["--trial-worker", "--out", trials] + (["--tiny"] if self.tiny else []) \
            + (["--data-root", self.data_root] if self.data_root else []) + ["--device", str(self.device)]
        rec = {}
        if self.isolate:
            rc, timed_out, tail = subprocess_part([sys.executable, "-m", "bench.perf.gpu_check"] + args, limit,
                                                  os.path.join(self.out, "fig3b_trial.log"), self.env)
            if timed_out or rc:
                rec = {"status": "timeout" if timed_out else "failed", "rc": rc, "output_tail": tail[-1500:]}
        else:
            run_fig3b_trial(self.tiny, trials, self.data_root, str(self.device))
        rec["figures"] = trial_figures(self.tiny, trials)
        rec["trials_folder"] = trials
        return rec

    def run(self):

        self.device = resolve_device(self.device)
        self.part("environment", lambda limit: {"figures": environment(self.device)})
        self.part("gpu_tests", self.gpu_tests)
        for name in PARTS[2:]:
            self.part(name, self.fig3b if name == "fig3b_trial" else (lambda limit, n=name: self.perf(n, limit)))
        self.result["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.result["skipped"] = [n for n, r in self.result["parts"].items() if r["status"] == "skipped"]
        self.result["not_ok"] = [n for n, r in self.result["parts"].items() if r["status"] in ("failed", "timeout")]
        return self.save()


def main(argv=None):
    p = argparse.ArgumentParser(prog="bench.perf.gpu_check", description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join("results", "gpu-check"), help="folder of every output")
    p.add_argument("--data-root", help="where the datasets live (default: $ALBENCH_DATA, else ~/.cache/albench)")
    p.add_argument("--device", default="auto")
    p.add_argument("--tiny", action="store_true", help="tiny sizes (automatic when torch sees no CUDA device)")
    p.add_argument("--budget", type=float, default=690, help="seconds for all parts together")
    p.add_argument("--isolate", action="store_true", help="each part in its own process (the default on a GPU)")
    p.add_argument("--trial-worker", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)

    tiny = a.tiny or not torch.cuda.is_available()
    if a.trial_worker:
        run_fig3b_trial(tiny, a.out, a.data_root, a.device)
        return 0
    os.makedirs(a.out, exist_ok=True)
    if tiny:
        torch.set_num_threads(1)
    check = Check(os.path.abspath(a.out), tiny, a.device, a.data_root, a.budget, a.isolate or not tiny)
    path = check.run()
    r = check.result
    print(f"gpu-check: {len(r['parts'])} parts in {r['wall_s']:.0f} s ({'tiny' if tiny else 'full'} size); "
          f"skipped: {', '.join(r['skipped']) or 'none'}; failed or timed out: {', '.join(r['not_ok']) or 'none'}; "
          f"wrote {path}", flush=True)
    return 1 if r["not_ok"] else 0


if __name__ == "__main__":
    sys.exit(main())
