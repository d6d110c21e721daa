"""Timing on this machine, one measuring code for the plan's estimates (``Meter``) and ``make perf``: synthetic
images, a select() timed on a pool built as the loop builds it, speeds kept per machine."""
import contextlib
import functools
import json
import math
import os
import sys
import time
from dataclasses import replace
from typing import Tuple

import numpy as np
import torch

from bench.core.device import (
    cpu_bf16_flags,
    inference_batch,
    resolve_device,
    seeded,
    sync,
)
from bench.core.models import build_classifier
from bench.core.pool import Pool
from bench.trial.store import atomic_write
from bench.trial.train import predict, step_mode, train_classifier
from strategies import get_strategy


@contextlib.contextmanager
def torch_threads(n: int):
    """torch's CPU threads set to ``n`` (a config's ``threads``; 0 leaves them) for the block."""

    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def speed_cache_path() -> str:
    """Where ``--plan`` keeps the speeds it measured on this machine: ``$ALBENCH_SPEED_CACHE`` ('' = keep
    none), else ``~/.cache/albench/plan-speeds.json``."""
    if "ALBENCH_SPEED_CACHE" in os.environ:
        return os.environ["ALBENCH_SPEED_CACHE"]
    return os.path.join(os.path.expanduser("~"), ".cache", "albench", "plan-speeds.json")


def thread_cpu_seconds():
    """{thread id: (running, waiting to run) seconds so far} of this process's threads (Linux's per-thread
    ``/proc/self/task/*/schedstat``: time on a CPU, time runnable on a run queue); None where it is not there."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    out = {}
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/schedstat") as f:
                on_cpu, queued = f.read().split()[:2]
        except (OSError, ValueError):   # a thread that ended meanwhile
            continue
        out[task] = (int(on_cpu) / 1e9, int(queued) / 1e9)
    return out or None


class CpuShared:
    """Whether this process had to share the CPU while a block ran: ``share`` (after the block) is the fraction
    of its threads' runnable time they spent waiting for a core (other processes had it, or this process ran
    more threads than it had cores), ``shared`` is True past ``WAITED``. Counted per thread, over the threads
    alive at the end (one that ended inside the block is left out; one started inside counts from zero). None /
    False where it cannot tell: no schedstat, or a block under ``MIN_S`` seconds (a thread's wake-up latency
    alone is milliseconds)."""
    WAITED, MIN_S = 0.1, 0.2

    def __enter__(self):
        self.share, self.shared = None, False
        self.t0, self.start = time.perf_counter(), thread_cpu_seconds()
        return self

    def __exit__(self, *exc):
        wall, end = time.perf_counter() - self.t0, thread_cpu_seconds()
        if end is None or self.start is None or wall < self.MIN_S:
            return False
        run = wait = 0.0
        for task, (r, w) in end.items():
            r0, w0 = self.start.get(task, (0.0, 0.0))
            run, wait = run + r - r0, wait + w - w0
        if run + wait > 0:
            self.share = max(0.0, wait) / (run + wait)
            self.shared = self.share > self.WAITED
        return False


def machine_signature(device) -> str:
    """What a measured speed belongs to: the processor (or GPU) and torch's version (each speed's key also
    holds the threads it was measured with)."""

    if device.type == "cuda":
        what = torch.cuda.get_device_name(device)
    else:
        caps = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
        what = f"{caps.get('cpu_name', 'cpu')} x{os.cpu_count()} {'+'.join(cpu_bf16_flags()) or 'no-bf16'}"
    return f"{what} | torch {torch.__version__}"


class Meter:
    """Speeds measured on this machine, each once per distinct key (see the module docstring); with a
    ``cache`` path, kept there per machine (``machine_signature``) and read back by the next plan.

    ``budget_s`` (0: none) bounds the seconds spent measuring: once spent, or where a measurement's predicted
    length would pass it, a speed whose like was measured (training at another classifier or image shape, the
    same strategy at another classifier, shape or class count) is extrapolated from it by the ratio of their
    costs (``forward_flops``, ``select_cost_ratio``), marked in ``approx`` and never kept, so a later call
    measures it (each call measures at least one); a speed with nothing like it measured is measured whatever
    the budget."""

    TRAIN_MIN_S = 0.5                      # a timed training call lasts at least this long (or 64 batches)
    SELECT_MIN_S, SELECT_MIN_POOL = 0.25, 256  # select timed until both (batches of a strategy's own
    SELECT_MAX_S = 3.0                         # models amortised), or the next call would last longer

    def __init__(self, device="auto", log=None, cache: str = "", budget_s: float = 0.0):

        self.device = resolve_device(device or "auto")
        self.log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        self.train_cache, self.select_cache, self.select_labels = {}, {}, {}
        self.select_notes = {}   # key -> the strategy's planning_note
        self.cache_path, self.reused, self.stored = cache, 0, {}
        self.budget_s, self.spent, self.took = budget_s, 0.0, {}   # took: seconds of each measurement here
        self.approx, self.known = {}, {}   # (kind, key) -> how it was extrapolated / a speed measured or kept
        self.shared = {}                   # (kind, key) -> the share of its time measuring it waited for a CPU
        if cache and os.path.exists(cache):
            try:
                with open(cache) as f:
                    self.stored = json.load(f).get(machine_signature(self.device), {})
            except (OSError, ValueError, AttributeError):
                self.log(f"  {cache} is unreadable: measuring again (it will be rewritten)")

    def _kept(self, kind: str, key, measure, like=None):
        """The speed under ``key`` at the torch threads in force: from this machine's cache, or ``measure()``d
        and added to it, or, past the budget, ``like``'s: (key measured like it, cost ratio, how) -> extrapolated."""

        name = f"{kind} {json.dumps(key, default=str)} threads={torch.get_num_threads()}"
        if name in self.stored:
            self.reused += 1
            self.known[(kind, key)] = value = tuple(self.stored[name])
            return value
        if like is not None and self.budget_s:
            src, ratio, how = like
            # past the budget, once this call has measured something (each call measures one more at least)
            if self.took and self.spent + self._predicted(kind, key, src, ratio) > self.budget_s:
                value = self._extrapolated(kind, src, ratio)
                self.approx[(kind, key)] = f"~ extrapolated: {how} (past the {self.budget_s:g} s measuring budget)"
                return value
        t0 = time.perf_counter()
        with CpuShared() as cpu:
            value = measure()
        self.took[(kind, key)] = time.perf_counter() - t0
        self.spent += self.took[(kind, key)]
        self.known[(kind, key)] = value
        if cpu.shared and self.device.type == "cpu":   # slow by the others' share: used here, never kept
            self.shared[(kind, key)] = cpu.share
            self.log(f"  this measurement waited for a CPU {cpu.share:.0%} of the time it was ready to run (other "
                     "processes had the cores, or it ran more threads than it had): the speed runs slow, so "
                     "estimates from it run high; not kept (measure on an idle machine, threads at most its cores)")
        elif self.cache_path:

            self.stored[name] = list(value)
            everything = {}
            if os.path.exists(self.cache_path):
                try:
                    with open(self.cache_path) as f:
                        everything = json.load(f)
                except (OSError, ValueError):
                    everything = {}
            everything[machine_signature(self.device)] = self.stored
            os.makedirs(os.path.dirname(os.path.abspath(self.cache_path)), exist_ok=True)
            atomic_write(self.cache_path, json.dumps(everything, indent=1))
        return value

    def describe(self) -> str:

        n = torch.get_num_threads()
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else \
            f"cpu ({n} torch thread{'s' if n > 1 else ''}; a profile's threads= applies while measuring its runs)"
        return f"{name}, torch {torch.__version__}"

    def train_key(self, cfg, info) -> tuple:

        return (cfg.arch, cfg.width, cfg.batch_size, cfg.eval_batch_size, info["channels"], info["size"],
                step_mode(cfg, self.device), cfg.threads, cfg.crop_pad, cfg.hflip, cfg.precision)

    def train(self, cfg, info) -> Tuple[float, float]:
        """(training images/s, forward images/s) of cfg's classifier at the dataset's image shape."""

        key = self.train_key(cfg, info)
        if key not in self.train_cache:
            # like it: the same recipe at another classifier or image shape, scaled by their forward FLOPs
            same = [k for kind, k in self.known if kind == "train" and k[2:4] + k[6:] == key[2:4] + key[6:]]
            like = self._nearest(same if self.budget_s else [],
                                 lambda k: forward_flops(cfg.arch, cfg.width, key[4], key[5], 10)
                                 / forward_flops(k[0], k[1], k[4], k[5], 10),
                                 lambda k: f"{k[0]} width {k[1]} {k[4]}x{k[5]}x{k[5]}'s speed / its forward FLOPs")
            with torch_threads(cfg.threads):
                self.train_cache[key] = self._kept("train", key, lambda: self._train(cfg, info), like)
        return self.train_cache[key]

    @staticmethod
    def _nearest(keys, ratio, how):
        """(key, cost ratio, how) of the measured ``keys`` whose cost ``ratio`` (ours / theirs) is nearest 1."""
        if not keys:
            return None
        best = min(keys, key=lambda k: abs(math.log(ratio(k))))
        r = ratio(best)
        return best, r, f"{how(best)} x{r:.3g}"

    def _predicted(self, kind, key, src, ratio) -> float:
        """Seconds that measuring ``key`` would take: its like's measurement here x their cost ratio, or (its like
        read from the cache) the work of a measurement at the extrapolated speed: a training call on 1 1/8
        batches and a forward pass over 2 batches; a select's last two rungs (1 1/4 x the last)."""
        if (kind, src) in self.took:
            return self.took[(kind, src)] * ratio
        value = self._extrapolated(kind, src, ratio)
        if kind == "train":
            return 1.125 * key[2] / value[0] + 2 * key[2] / value[1]
        return 1.25 * (value[0] + value[1] * value[2]) + sum(value[4:])   # with the part timed apart

    def _extrapolated(self, kind, src, ratio):

        value = self.known[(kind, src)]
        if kind == "train":
            return value[0] / ratio, value[1] / ratio
        return value[0] * ratio, value[1] * ratio, *value[2:]

    def notes(self, cfg, label, info) -> list:
        """How the speeds of a trial like ``cfg`` (``label``) were extrapolated; [] when all were measured."""
        keys = [("train", self.train_key(cfg, info)), ("select", self.select_key(cfg, label, info)[0])]
        return [self.approx[k] for k in keys if k in self.approx]

    def _train(self, cfg, info):

        self.log(f"  measuring training: {cfg.arch} width {cfg.width}, batch {cfg.batch_size}, "
                 f"{info['channels']}x{info['size']}x{info['size']} on {self.device.type} ...")
        bs, c, s = cfg.batch_size, info["channels"], info["size"]
        mean, std = [0.5] * c, [0.25] * c
        run = replace(cfg, epochs=1, lr_milestones=())
        x, y = data(64 * bs, c, s, self.device)
        # warm-up (threads, kernels, allocator) on a few images of the batch's shape but 1/8 its size: at the
        # paper's width a full batch takes seconds on a CPU, and the timed call repeats the batch's set-up
        w = bs if self.device.type == "cuda" else max(2, bs // 8)
        train_classifier(replace(run, batch_size=w), x[:w], y[:w], 10, 0, mean, std)
        n = bs
        while True:
            model, seconds = train_classifier(run, x[:n], y[:n], 10, 1, mean, std)
            if seconds >= self.TRAIN_MIN_S or n >= 64 * bs:
                break
            n *= 4
        rate = n / seconds
        m = min(len(x), max(inference_batch(cfg.eval_batch_size, self.device), 2 * bs))
        while True:
            fwd_s = timed(lambda: predict(model, x[:m], cfg.eval_batch_size, precision=cfg.precision), self.device)
            if fwd_s >= self.SELECT_MIN_S or m >= len(x):
                break
            m = min(len(x), m * 4)
        return rate, m / fwd_s

    def select(self, cfg, label, info) -> Tuple[float, float, int, bool]:
        """(a, b, pool, one_size): select seconds ~ a + b x the pool's images (labelled + unlabelled), last
        measured at ``pool`` images (4 of them labelled); ``one_size``: a + b from one call (an upper bound)."""
        key, factor, probe, apart = self.select_key(cfg, label, info)
        if (key, factor) not in self.select_cache:
            self.select_labels[key] = label
            self.select_notes[key] = probe.planning_note
            if ("select", key) in self.known:   # the same cheaper copy, measured for a label of another factor
                a, b, pool, one, *extra = self.known[("select", key)]
            else:
                if factor != 1.0:
                    self.log(f"  {label}: timed on a cheaper copy, x{factor:g} ({probe!r})")
                same = [k for kind, k in self.known if kind == "select" and k[:2] + k[8:] == key[:2] + key[8:]]
                like = self._nearest(same if self.budget_s else [], lambda k: select_cost_ratio(key, k, info),
                                     lambda k: f"{label} at {select_where(k)}")
                with torch_threads(cfg.threads):   # with the part timed apart, if any (not scaled by the factor)
                    a, b, pool, one, *extra = self._kept("select", key, lambda: self._select(
                        cfg, label, probe, info) + self._apart(apart), like)
            self.select_cache[(key, factor)] = (a * factor + sum(extra), b * factor, pool, one)
        return self.select_cache[(key, factor)]

    def select_key(self, cfg, label, info):
        """(key, factor, probe, apart): what a select's speed is kept under, the cheaper copy timed for it, and
        the part of it timed apart (``Strategy.planning_extra``: None for most), whose parameters join the key."""
        strategy = get_strategy(cfg.registry_key(label), **cfg.params_for(label))
        k, c, s = info["num_classes"], info["channels"], info["size"]
        # a cheaper copy where its cost is proportional to a knob, or one that costs the same (variants)
        probe, factor = strategy.for_planning()
        apart = strategy.planning_extra(cfg.budget, k)
        params = probe.get_params() if apart is None else {
            "timed": probe.get_params(), "apart": dict(strategy.get_params(), budget=cfg.budget, classes=k)}
        deps = strategy.select_cost_depends_on   # a value it does not depend on is left out of the key
        key = (cfg.registry_key(label), json.dumps(params, sort_keys=True, default=str),
               *((cfg.arch, cfg.width, cfg.eval_batch_size) if "classifier" in deps else ("any",) * 3),
               *((c, s) if "images" in deps else ("any",) * 2), k if "classes" in deps else "any",
               cfg.threads, cfg.precision)   # budget: see _select
        return key, factor, probe, apart

    def _apart(self, apart) -> tuple:
        """(seconds,) of the part of a select timed apart (``Strategy.planning_extra``), () without one."""
        return (apart(),) if apart else ()

    def _select(self, cfg, label, strategy, info):

        # the budget is half the measured unlabelled pool, at most the first config's: the sizes a profile
        # sweeps (Fig. 5(a): 250, 500, 1,250) share one measurement, and only k-center greedy's part grows with it
        # (a part timed apart, BatchBALD's greedy search, is keyed and timed per budget: see select_key)
        k, c, s = info["num_classes"], info["channels"], info["size"]
        self.log(f"  measuring select: {label} ({cfg.arch} width {cfg.width}, {c}x{s}x{s}, {k} classes) ...")
        with seeded(0, self.device):
            model = build_classifier(cfg.arch, k, c, cfg.width, **strategy.scoring_model_options)
            model = model.to(self.device).eval().requires_grad_(False)
        n_lab, unl, points = 4, 4, []
        while True:
            x, _ = data(n_lab + unl, c, s, self.device)
            y = np.arange(n_lab + unl) % k
            pool = Pool(x, y, np.arange(n_lab), model, k, np.random.default_rng(0), self.device,
                        cfg.eval_batch_size, [str(i) for i in range(k)], budget=min(cfg.budget, unl // 2),
                        true_labels=strategy.reads_true_labels, precision=cfg.precision, keep_passes=True)
            seconds = timed(lambda: strategy.select(pool, min(cfg.budget, unl // 2)), self.device)
            points.append((n_lab + unl, seconds))
            seconds, two = points[-1][1], len(points) > 1
            if seconds >= self.SELECT_MAX_S or unl >= 4096 or (two and seconds >= self.SELECT_MIN_S
                                                                and unl >= self.SELECT_MIN_POOL):
                break
            nxt = next_pool_after(points, unl, n_lab, self.SELECT_MIN_POOL, self.SELECT_MAX_S)
            a, b = line(points)
            if two and a + b * (n_lab + nxt) > self.SELECT_MAX_S:   # the next call, as the line so far predicts it,
                break                                                # too long (a flat line goes on: VAAL's batches)
            unl = nxt
        pool = x = None   # freed before the cache is emptied
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        a, b = line(points)
        return max(a, 0.0), b, points[-1][0], len(points) == 1


def line(points) -> Tuple[float, float]:
    """(a, b): seconds ~ a + b x pool through the last two (pool, seconds) ``points`` (b >= 0), through 0 with one."""
    (p2, t2) = points[-1]
    if len(points) == 1:
        return 0.0, t2 / p2
    b = max((t2 - points[-2][1]) / (p2 - points[-2][0]), 0.0)
    return t2 - b * p2, b


def next_pool_after(points, unl: int, n_lab: int, min_pool: int, max_s: float) -> int:
    """The next unlabelled size of a select's ladder: 4x ``unl``, or further up the 4x rungs (the sizes between
    skipped) while the next rung stays below ``min_pool`` and the line through the last two (pool, seconds)
    ``points`` (through 0 with one) predicts the call after it lasts at most ``max_s``. A flat line skips
    nothing: below one batch of its own networks (VAAL) a strategy costs the same at any pool, and a jump from
    there fits the final line through a pool on the flat part (VAAL's slope 0.8x the true one, an iteration
    of 64 images in 1, 4 at 260 images counted over 240); a noisy first call (no warm-up) looks flat too."""
    a, b = line(points)
    nxt = unl * 4
    while b > 0 and nxt < min_pool and a + b * (n_lab + nxt * 4) <= max_s:
        nxt *= 4
    return nxt


@functools.lru_cache(maxsize=None)
def forward_flops(arch: str, width: int, channels: int, size: int, classes: int) -> float:
    """Floating-point operations of one image's forward pass through the classifier, counted on the meta
    device (shapes only, nothing computed: ~0.1 s)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = build_classifier(arch, classes, channels, width).eval()   # eval: one image through BatchNorm
        x = torch.empty(1, channels, size, size)
    with FlopCounterMode(display=False) as counter:
        model(x)
    return float(counter.get_total_flops())


def select_cost_ratio(key, like, info) -> float:
    """How much a select keyed ``key`` costs relative to the same strategy's ``like`` (``Meter.select_key``):
    the ratio of the classifier's forward FLOPs where its cost depends on the classifier, else of the image's
    values where it depends on the images (VAAL's own networks), times the ratio of classes where it
    depends on them (VaB-AL's per-class terms)."""
    ratio = 1.0
    if key[2] != "any":
        c, s = (key[5], key[6]) if key[5] != "any" else (info["channels"], info["size"])
        c0, s0 = (like[5], like[6]) if like[5] != "any" else (c, s)
        ratio *= forward_flops(key[2], key[3], c, s, 10) / forward_flops(like[2], like[3], c0, s0, 10)
    elif key[5] != "any":
        ratio *= key[5] * key[6] ** 2 / (like[5] * like[6] ** 2)
    if key[7] != "any":
        ratio *= key[7] / like[7]
    return ratio


def select_where(key) -> str:
    return " ".join(w for w in (f"{key[2]} width {key[3]}" if key[2] != "any" else "",
                                f"{key[5]}x{key[6]}x{key[6]}" if key[5] != "any" else "",
                                f"{key[7]} classes" if key[7] != "any" else "") if w) or "another size"


def data(n, channels, size, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 10, (n,), generator=g)
    return x.to(device), y.to(device)


def timed(fn, device) -> float:
    """Wall seconds of ``fn()`` on ``device``, synchronised before and after (CUDA runs asynchronously)."""
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0
