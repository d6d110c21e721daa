"""A grid of trials (datasets x strategies x seeds) and the executors that run it.

``local`` runs trials one after another in this process; ``pool`` runs them in N worker processes that
share the machine's GPUs (round-robin over the visible devices); ``ray`` submits each trial as a Ray task
with a fractional GPU.  On the CPU, concurrent trials split the cores (``cpu_threads``; ``threads=`` sets it).  A trial writes only its own folder, so workers never touch the same file; a
finished trial is skipped and a partial one resumes (``bench.loop.run_trial``).
"""
import os
import sys
import time
from dataclasses import dataclass, replace

from tqdm.auto import tqdm

from bench.config import Config, load_config, preset_for
from bench.errors import ConfigError


@dataclass(frozen=True)
class Trial:
    cfg: Config
    strategy: str
    seed: int

    @property
    def name(self):
        return f"{self.cfg.dataset}/{self.strategy}/seed{self.seed}"


def expand(datasets, strategies=None, seeds=None, config=None, overrides=(), **fields):
    """Trials for every (dataset, strategy, seed); each dataset under ``config`` or its own preset."""
    if seeds is not None and any(int(k) < 0 for k in seeds):
        raise ConfigError(f"seeds are non-negative integers (numpy's SeedSequence), got {list(seeds)}")
    trials = []
    for d in datasets:
        cfg = load_config(config or preset_for(d), overrides, dataset=d, **fields)
        for s in (strategies or cfg.strategies):
            for k in (seeds if seeds is not None else cfg.seeds):
                trials.append(Trial(replace(cfg, strategies=tuple(strategies or cfg.strategies)), s, int(k)))
    return trials


def cpu_threads(cfg: Config, workers: int) -> int:
    """torch threads for one trial: the config's ``threads``, else the machine's cores split between the
    ``workers`` concurrent trials (each worker's torch would otherwise start a thread per core and the
    workers would thrash: measured 4.8x slower for two workers on two cores)."""
    return cfg.threads or max(1, (os.cpu_count() or 1) // max(1, workers))


def run_one(trial: Trial, progress: bool = True, device: str = None, threads: int = 0):
    import torch

    from bench.loop import run_trial

    cfg = replace(trial.cfg, device=device) if device else trial.cfg
    threads = threads or cfg.threads
    if threads:
        torch.set_num_threads(threads)
    return run_trial(cfg, trial.strategy, trial.seed, progress=progress)


def _pool_init(threads: int):
    """A pool worker's start: its torch threads, and the imports every trial needs, once."""
    import torch

    import bench.loop  # noqa: F401

    if threads:
        torch.set_num_threads(threads)


def _pool_worker(args):
    trial, device, threads = args
    run_one(trial, progress=False, device=device, threads=threads)
    return trial.name


def run_grid(trials, executor: str = "local", workers: int = 1, address: str = None, progress: bool = True,
             gpus_per_trial: float = None):
    """Run ``trials`` through ``executor``; returns the names of the trials that finished."""
    t0 = time.perf_counter()

    def finished(name, i):   # without bars (a log file), one line per finished trial
        if not progress:
            print(f"albench: {name} done ({i} of {len(trials)}, {(time.perf_counter() - t0) / 60:.1f} min)",
                  file=sys.stderr, flush=True)

    if executor == "local":
        for i, t in enumerate(trials, 1):
            run_one(t, progress)
            finished(t.name, i)
        return [t.name for t in trials]
    bar = tqdm(total=len(trials), desc=f"grid ({executor}, {workers} workers)", unit="trial", disable=not progress)
    done = []
    if executor == "pool":
        import multiprocessing as mp

        import torch

        n_gpu = torch.cuda.device_count()
        jobs = [(t, (f"cuda:{i % n_gpu}" if n_gpu and t.cfg.device in ("auto", "cuda") else None),
                 cpu_threads(t.cfg, workers)) for i, t in enumerate(trials)]
        # the workers live for the whole grid (a spawned process pays ~2-4 s of imports: on a grid of small
        # trials that was most of the time), each setting its torch threads once, before its first trial
        threads = {j[2] for j in jobs}
        with mp.get_context("spawn").Pool(workers, initializer=_pool_init,
                                          initargs=(threads.pop() if len(threads) == 1 else 0,)) as p:
            for name in p.imap_unordered(_pool_worker, jobs, chunksize=1):
                done.append(name)
                finished(name, len(done))
                bar.update(1)
                bar.set_postfix_str(name)
    elif executor == "ray":
        done = _run_ray(trials, workers, address, bar, gpus_per_trial, finished)
    else:
        raise ValueError(f"unknown executor {executor!r}; use local, pool or ray")
    bar.close()
    return done


def _run_ray(trials, workers, address, bar, gpus_per_trial, finished):
    try:
        import ray
    except ImportError:
        raise SystemExit("the ray executor needs Ray: pip install -e .[ray]") from None
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {"env_vars": {"PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}}
    if not ray.is_initialized():
        kw = {"address": address} if address else {"num_cpus": max(1, workers), "include_dashboard": False}
        ray.init(runtime_env=env, log_to_driver=False, **kw)
    n_gpu = ray.cluster_resources().get("GPU", 0)
    gpu = gpus_per_trial if gpus_per_trial is not None else (min(1.0, n_gpu / max(1, workers)) if n_gpu else 0)
    task = ray.remote(num_gpus=gpu, num_cpus=1, max_retries=1)(_ray_task)
    pending = [task.remote(t, sys.path, cpu_threads(t.cfg, workers)) for t in trials]
    done = []
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        done.append(ray.get(ready[0]))
        finished(done[-1], len(done))
        bar.update(1)
        bar.set_postfix_str(done[-1])
    return done


def _ray_task(trial, path, threads=0):
    sys.path[:0] = [p for p in path if p not in sys.path]
    run_one(trial, progress=False, threads=threads)
    return trial.name
