"""``albench paper``: the paper's artifacts (``configs/paper/manifest.yaml``) at a scale profile
(``configs/profiles/<name>.yaml``): what they cost and which trials are missing (``plan``), running the
missing ones (``run``), and the report (``bench.report.write_report``).

  albench paper --profile cpu --plan            # per artifact: trials finished / partial / missing, the
                                                # training images they need, a wall-time estimate here
  albench paper --profile smoke                 # run the core subset's missing trials, then the report
  albench paper --profile paper --only fig3b,table1 --executor pool --workers 8

A profile's results live under ``<base>/paper-<profile>/`` beside a ``profile.json`` naming the profile
(its description, departures from the paper and resolved overrides), so two profiles never share a
folder and a report can never mix them.  A trial is one (group, dataset, strategy, seed); trials that
several artifacts draw (Fig. 3(b), Fig. 4, Fig. 7) are counted and run once.

The estimate is measured, not guessed, on this machine and device, once per call:
  training   images/s of ``bench.train.train_classifier`` at the trial's classifier (arch, width, batch,
             image shape) on synthetic images, timed until a call lasts >= 1 s (after a warm-up call);
             a round trains n_labelled x epochs images (twice for a strategy whose
             ``scoring_model_options`` asks for its own scoring model, but for the last round, which
             selects nothing: ``bench.loop.models_per_round``);
  evaluation images/s of ``bench.train.predict`` over the test (and validation) split, every round;
  select     seconds of the strategy's own ``select`` (its parameters, this profile's classifier) on a
             synthetic pool of 4 labelled + 4 unlabelled images, the unlabelled grown 4x until a call lasts
             >= 0.5 s with >= 256 unlabelled, or the next would last > 10 s; the last two sizes give a line
             a + b x pool images (one size, when the first call is that slow: through 0, an upper bound), applied to
             the dataset's pool (labelled + unlabelled: VAAL's iterations and the features of CoreSet and
             VaB-AL grow with both; BALD's passes see the unlabelled only, so it is overestimated by up to
             the labelled share, at most 3,000 of 9,500 images in the paper's CIFAR-10+[K] rounds).
             A strategy whose cost is proportional to one of its parameters (VAAL's epochs and width squared,
             BALD's passes: ``Strategy.for_planning``) is timed on a cheaper copy and scaled, and the log says so.
             Every speed measured is kept per machine (``speed_cache_path``) and read back by later plans.
  data       seconds to load the trial's dataset here (once per trial, as the loop does).
Not counted: process start-up, several trials sharing the device.
"""
import contextlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Tuple

import numpy as np

from bench import __version__
from bench.errors import AlbenchError, ConfigError, DataError, ResultsCorruptError
from bench.manifest import Artifact, Profile, load_manifest, load_profile, resolve

STATUSES = ("finished", "partial", "missing", "conflict")
KNOWN_BASES = {  # shapes when a base's data is not on this machine: (channels, size, train per class, test)
    "cifar10": (3, 32, [5000] * 10, 10_000),
    "cifar100": (3, 32, [500] * 100, 10_000),
    "neu": (1, 64, [n - math.ceil(0.2 * n) for n in (1210, 296, 775, 1148, 797, 200, 1589, 773, 438)], 1448),
}


# ----------------------------------------------------------------------------------------------- trials
@dataclass
class TrialPlan:
    """One trial of the plan: its config, what is on disk, and what it costs."""
    group: str
    dataset: str
    strategy: str                    # label: registry key or named variant
    seed: int
    cfg: object                      # bench.config.Config (out = the group's folder)
    artifacts: List[str] = field(default_factory=list)
    status: str = "missing"          # finished | partial | missing | conflict
    rounds_done: int = 0
    why: str = ""                    # a conflict's cause
    train_images: int = 0            # the whole trial
    train_images_left: int = 0       # the rounds not yet done
    seconds: Optional[float] = None  # estimated, whole trial (None: not measured)
    seconds_left: Optional[float] = None
    recorded_seconds: float = 0.0    # what its recorded rounds took (their timing columns), as run here

    @property
    def key(self):
        return (self.group, self.dataset, self.strategy, self.seed)


def selected_artifacts(profile: Profile, only=None, default_core=False) -> List[Artifact]:
    """The manifest's artifacts under ``profile``: ``only`` (names) if given, else the core subset
    (``default_core``) or all of them, in manifest order."""
    names = list(only) if only else (list(profile.core) if default_core else None)
    return resolve(profile, load_manifest(), only=names)


def trials_of(artifacts, root: str, fields: dict = None) -> Dict[tuple, TrialPlan]:
    """Every distinct (group, dataset, strategy, seed) of ``artifacts`` (manifest order), with its config."""
    out = {}
    for art in artifacts:
        for run in art.runs:
            for dataset, cfg in run.configs(root):
                cfg = replace(cfg, **(fields or {}))
                for label in run.strategies:
                    for seed in run.seeds:
                        t = out.setdefault((run.group, dataset, label, seed),
                                           TrialPlan(run.group, dataset, label, seed, cfg))
                        if art.name not in t.artifacts:
                            t.artifacts.append(art.name)
    return out


def strategy_of(cfg, label: str):
    from strategies import get_strategy

    return get_strategy(cfg.registry_key(label), **cfg.params_for(label))


def expected_identity(cfg, label: str, seed: int, strategy) -> dict:
    """The parts of ``bench.loop.trial_identity`` known without loading the data."""
    from bench.loop import config_identity

    ident = config_identity(cfg)
    ident.update(strategy=label, registry_key=cfg.registry_key(label), seed=seed,
                 strategy_params=strategy.get_params())
    return json.loads(json.dumps(ident))


def fill_status(trials: Dict[tuple, TrialPlan]):
    """Set each trial's status from its folder: its identity (read_identity, compared on every field known
    without the data) and its rows (collect: finished when the last round is the planned one)."""
    from bench.results import LEGACY_IDENTITY, collect, read_identity, recorded_seconds, trial_dir

    tables = {}
    for t in trials.values():
        path = trial_dir(t.cfg.out, t.cfg.dataset, t.strategy, t.seed)
        t.status, t.rounds_done, t.why = "missing", 0, ""
        try:
            saved = read_identity(path)
        except ResultsCorruptError as err:
            t.status, t.why = "conflict", str(err).split(";")[0]
            continue
        if saved is None:
            if os.path.exists(os.path.join(path, "rounds.csv")):
                t.status, t.why = "conflict", f"{path} holds rounds but no config.json"
            continue
        want = expected_identity(t.cfg, t.strategy, t.seed, strategy_of(t.cfg, t.strategy))
        saved = {**LEGACY_IDENTITY, **saved}
        diff = sorted(k for k in want if saved.get(k) != want[k])
        if diff:
            t.status, t.why = "conflict", f"{path} was made with another {', '.join(diff)}"
            continue
        if t.cfg.out not in tables:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tables[t.cfg.out] = collect(t.cfg.out)
        df = tables[t.cfg.out]
        mine = df[(df["dataset"] == t.dataset) & (df["strategy"] == t.strategy) & (df["seed"] == t.seed)]
        if len(mine):
            t.recorded_seconds = recorded_seconds(mine)
            t.rounds_done = int(mine["round"].max()) + 1
            t.status = "finished" if bool(mine["finished"].all()) and t.rounds_done == t.cfg.rounds + 1 \
                else "partial"


# ------------------------------------------------------------------------------------- dataset sizes
_DATA_CACHE = {}


def dataset_info(cfg) -> dict:
    """Channels, image size, training / test / validation counts and classes of ``cfg.dataset``: read from
    the data when it is here, else (CIFAR, NEU) computed from the spec's known class sizes."""
    from bench.loop import validation_split

    key = (cfg.dataset, cfg.image_size, cfg.data_root, cfg.validation)
    if key in _DATA_CACHE:
        return _DATA_CACHE[key]
    from bench import import_datasets

    datasets = import_datasets()
    t0 = time.perf_counter()
    try:
        ds = datasets.get_dataset(cfg.dataset, cfg.data_root or None, seed=0,
                                  **({"image_size": cfg.image_size} if cfg.image_size else {}))
        y, (c, h), n_test, source = ds.y_train, ds.x_train.shape[1:3], len(ds.y_test), "data"
        k, load_s = ds.num_classes, time.perf_counter() - t0
    except DataError:
        from datasets.imbalance import suffix_keep
        from datasets.registry import BASES, parse_spec

        base, kind, value = parse_spec(cfg.dataset)
        if base not in KNOWN_BASES:
            raise
        c, h, per_class, n_test = KNOWN_BASES[base]
        k = len(per_class)
        y = np.repeat(np.arange(k), per_class)
        if kind:
            info = BASES[base]
            y = y[suffix_keep(y, kind, value, k, info.dom_fraction, info.rare_fraction, 0)]
        h = cfg.image_size or h
        source, load_s = "sizes from the spec: data not found here", 0.0
    n_val = len(validation_split(y, cfg.validation, 0))
    _DATA_CACHE[key] = out = {"channels": int(c), "size": int(h), "n_train": int(len(y)) - n_val,
                              "n_val": n_val, "n_test": int(n_test), "num_classes": int(k), "source": source,
                              "load_s": load_s}
    need = cfg.initial + cfg.rounds * cfg.budget
    if need > out["n_train"]:
        raise ConfigError(f"{cfg.dataset} has {out['n_train']} selectable training images, but initial="
                          f"{cfg.initial} + rounds={cfg.rounds} x budget={cfg.budget} needs {need}")
    return out


# ------------------------------------------------------------------------------------------ measuring
@contextlib.contextmanager
def torch_threads(n: int):
    """torch's CPU threads set to ``n`` (a config's ``threads``; 0 leaves them) for the block."""
    import torch

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


def machine_signature(device) -> str:
    """What a measured speed belongs to: the processor (or GPU) and torch's version (each speed's key also
    holds the threads it was measured with)."""
    import torch

    from bench.device import cpu_bf16_flags

    if device.type == "cuda":
        what = torch.cuda.get_device_name(device)
    else:
        caps = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
        what = f"{caps.get('cpu_name', 'cpu')} x{os.cpu_count()} {'+'.join(cpu_bf16_flags()) or 'no-bf16'}"
    return f"{what} | torch {torch.__version__}"


class Meter:
    """Speeds measured on this machine, each once per distinct key (see the module docstring); with a
    ``cache`` path, kept there per machine (``machine_signature``) and read back by the next plan."""

    TRAIN_MIN_S = 0.5                      # a timed training call lasts at least this long (or 64 batches)
    SELECT_MIN_S, SELECT_MIN_POOL = 0.25, 256  # select timed until both (batches of a strategy's own
    SELECT_MAX_S = 3.0                         # models amortised), or the next call would last longer

    def __init__(self, device="auto", log=None, cache: str = ""):
        from bench.train import resolve_device

        self.device = resolve_device(device or "auto")
        self.log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        self.train_cache, self.select_cache, self.select_labels = {}, {}, {}
        self.cache_path, self.reused, self.stored = cache, 0, {}
        if cache and os.path.exists(cache):
            try:
                with open(cache) as f:
                    self.stored = json.load(f).get(machine_signature(self.device), {})
            except (OSError, ValueError, AttributeError):
                self.log(f"  {cache} is unreadable: measuring again (it will be rewritten)")

    def _kept(self, kind: str, key, measure):
        """The speed under ``key`` at the torch threads in force: from this machine's cache, or ``measure()``d
        and added to it."""
        import torch

        name = f"{kind} {json.dumps(key, default=str)} threads={torch.get_num_threads()}"
        if name in self.stored:
            self.reused += 1
            return tuple(self.stored[name])
        value = measure()
        if self.cache_path:
            from bench.results import atomic_write

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
        import torch

        n = torch.get_num_threads()
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else \
            f"cpu ({n} torch thread{'s' if n > 1 else ''}; a profile's threads= applies while measuring its runs)"
        return f"{name}, torch {torch.__version__}"

    def train(self, cfg, info) -> Tuple[float, float]:
        """(training images/s, forward images/s) of cfg's classifier at the dataset's image shape."""
        from bench.train import step_mode

        key = (cfg.arch, cfg.width, cfg.batch_size, cfg.eval_batch_size, info["channels"], info["size"],
               step_mode(cfg, self.device), cfg.threads, cfg.crop_pad, cfg.hflip, cfg.precision)
        if key not in self.train_cache:
            with torch_threads(cfg.threads):
                self.train_cache[key] = self._kept("train", key, lambda: self._train(cfg, info))
        return self.train_cache[key]

    def _train(self, cfg, info):
        from bench.perf import data
        from bench.train import inference_batch, predict, sync, train_classifier

        self.log(f"  measuring training: {cfg.arch} width {cfg.width}, batch {cfg.batch_size}, "
                 f"{info['channels']}x{info['size']}x{info['size']} on {self.device.type} ...")
        bs, c, s = cfg.batch_size, info["channels"], info["size"]
        mean, std = [0.5] * c, [0.25] * c
        run = replace(cfg, epochs=1, lr_milestones=())
        x, y = data(64 * bs, c, s, self.device)
        train_classifier(run, x[:bs], y[:bs], 10, 0, mean, std)   # warm-up: threads, kernels, allocator
        n = 2 * bs
        while True:
            model, seconds = train_classifier(run, x[:n], y[:n], 10, 1, mean, std)
            if seconds >= self.TRAIN_MIN_S or n >= 64 * bs:
                break
            n *= 4
        rate = n / seconds
        m = min(len(x), max(inference_batch(cfg.eval_batch_size, self.device), 2 * bs))
        while True:
            sync(self.device)
            t0 = time.perf_counter()
            predict(model, x[:m], cfg.eval_batch_size, precision=cfg.precision)
            sync(self.device)
            fwd_s = time.perf_counter() - t0
            if fwd_s >= self.SELECT_MIN_S or m >= len(x):
                break
            m = min(len(x), m * 4)
        return rate, m / fwd_s

    def select(self, cfg, label, info) -> Tuple[float, float, int, bool]:
        """(a, b, pool, one_size): select seconds ~ a + b x the pool's images (labelled + unlabelled), last
        measured at ``pool`` images (4 of them labelled); ``one_size``: a + b from one call (an upper bound)."""
        strategy = strategy_of(cfg, label)
        k, c, s = info["num_classes"], info["channels"], info["size"]
        key = (cfg.registry_key(label), json.dumps(strategy.get_params(), sort_keys=True, default=str),
               cfg.arch, cfg.width, cfg.eval_batch_size, c, s, k, cfg.threads, cfg.precision)   # budget: see _select
        if key not in self.select_cache:
            self.select_labels[key] = label
            probe, factor = strategy.for_planning()   # a cheaper copy where its cost is proportional to a knob
            if factor != 1.0:
                self.log(f"  {label}: timed on a cheaper copy, x{factor:g} ({probe!r})")
            with torch_threads(cfg.threads):
                a, b, pool, one = self._kept("select", key, lambda: self._select(cfg, label, probe, info))
            self.select_cache[key] = (a * factor, b * factor, pool, one)
        return self.select_cache[key]

    def _select(self, cfg, label, strategy, info):
        import torch

        from bench.models import build_classifier
        from bench.perf import data
        from bench.pool import Pool
        from bench.train import seeded, sync

        # the budget is half the measured unlabelled pool, at most the first config's: the sizes a profile
        # sweeps (Fig. 5(a): 250, 500, 1,250) share one measurement, and only k-center greedy's part grows with it
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
                        true_labels=strategy.reads_true_labels, precision=cfg.precision)
            sync(self.device)
            t0 = time.perf_counter()
            strategy.select(pool, min(cfg.budget, unl // 2))
            sync(self.device)
            points.append((n_lab + unl, time.perf_counter() - t0))
            seconds, two = points[-1][1], len(points) > 1
            if seconds >= self.SELECT_MAX_S or unl >= 4096 or (two and (4 * seconds > self.SELECT_MAX_S or (
                    seconds >= self.SELECT_MIN_S and unl >= self.SELECT_MIN_POOL))):
                break
            unl *= 4
        del pool, x
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        (p2, t2) = points[-1]
        if len(points) > 1:
            p1, t1 = points[-2]
            b = max((t2 - t1) / (p2 - p1), 0.0)
            a = max(t2 - b * p2, 0.0)
        else:
            a, b = 0.0, t2 / p2
        return a, b, p2, len(points) == 1


def estimate(t: TrialPlan, info: dict, meter: Optional[Meter]):
    """Fill ``t``'s training images and (with a meter) its estimated seconds, whole and left."""
    cfg = t.cfg
    strategy = strategy_of(cfg, t.strategy)
    from bench.loop import models_per_round

    sizes = [cfg.initial + r * cfg.budget for r in range(cfg.rounds + 1)]
    images = [n * cfg.epochs * m for n, m in zip(sizes, models_per_round(strategy, cfg.rounds))]
    t.train_images, t.train_images_left = sum(images), sum(images[t.rounds_done:])
    if meter is None:
        return
    rate, fwd = meter.train(cfg, info)
    a, b = meter.select(cfg, t.strategy, info)[:2]
    per_round = [images[r] / rate + (info["n_test"] + info["n_val"]) / fwd
                 + (a + b * info["n_train"] if r < cfg.rounds else 0.0) for r in range(len(sizes))]
    t.seconds = info["load_s"] + sum(per_round)   # every run of a trial loads its dataset once
    t.seconds_left = info["load_s"] + sum(per_round[t.rounds_done:])


# ----------------------------------------------------------------------------------------------- plan
@dataclass
class Plan:
    profile: str
    root: str
    artifacts: List[dict]            # per artifact: name, title, source, trials, statuses, images, seconds
    total: dict                      # distinct trials of all listed artifacts
    core: dict                       # distinct trials of the profile's core subset (among those listed)
    trials: Dict[tuple, TrialPlan]
    measured: dict
    text: str = ""


def summarise(trials) -> dict:
    trials = list(trials)
    out = {s: sum(t.status == s for t in trials) for s in STATUSES}
    secs = [t.seconds for t in trials]
    left = [t.seconds_left if t.status != "finished" else 0.0 for t in trials]
    out.update(trials=len(trials), train_images=sum(t.train_images for t in trials),
               train_images_left=sum(t.train_images_left for t in trials if t.status != "finished"),
               seconds=None if any(s is None for s in secs) else sum(secs),
               seconds_left=None if any(s is None for s in left) else sum(left))
    return out


def human(seconds) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def plan(profile, only=None, base: str = "results", measure=True, device: str = "auto", data_root: str = None,
         quiet: bool = False, remeasure: bool = False) -> Plan:
    """The cost and progress of ``profile``'s artifacts (``only``: those; default all), printed unless
    ``quiet``. ``measure``: True (measure speeds here, or read those an earlier plan measured on this machine
    from ``speed_cache_path()``; ``remeasure``: measure them again), False (images only, no time) or a
    ``Meter``."""
    prof = load_profile(profile) if isinstance(profile, str) else profile
    root = prof.root(base)
    check_profile_root(prof, root)
    arts = selected_artifacts(prof, only)
    fields = {"data_root": data_root} if data_root else {}
    trials = trials_of(arts, root, fields)
    fill_status(trials)
    cache = speed_cache_path()
    if remeasure and cache and os.path.exists(cache):
        os.remove(cache)
    meter = measure if isinstance(measure, Meter) else (Meter(device, cache=cache) if measure else None)
    infos = {}
    started = time.perf_counter()
    if meter is not None:
        meter.log(f"albench paper --profile {prof.name} --plan: measuring speeds on {meter.describe()}")
    for t in trials.values():
        infos[t.key] = info = dataset_info(t.cfg)
        estimate(t, info, meter)
    if meter is not None and meter.cache_path:
        meter.log(f"  speeds: {meter.reused} read from this machine's earlier measurements, "
                  f"{len(meter.train_cache) + len(meter.select_cache) - meter.reused} measured now "
                  f"({time.perf_counter() - started:.0f} s; kept in {meter.cache_path}; --remeasure to measure all again)")
    rows = []
    for art in arts:
        keys = {(r.group, d, s, k) for r in art.runs for d in r.datasets for s in r.strategies for k in r.seeds}
        rows.append({"name": art.name, "title": art.title, "source": art.source,
                     **summarise(trials[k] for k in keys)})
    core_keys = [k for k, t in trials.items() if set(t.artifacts) & set(prof.core)]
    measured = {}
    if meter is not None:
        measured = {"device": meter.describe(),
                    "train": [{"arch": k[0], "width": k[1], "batch": k[2], "shape": f"{k[4]}x{k[5]}x{k[5]}",
                               "train_img_s": v[0], "forward_img_s": v[1]} for k, v in meter.train_cache.items()],
                    "select": [{"strategy": meter.select_labels.get(k, k[0]), "registry_key": k[0], "params": k[1],
                                "arch": k[2], "width": k[3], "shape": f"{k[5]}x{k[6]}x{k[6]}", "classes": k[7],
                                "a_s": v[0], "b_s_per_image": v[1], "measured_at_pool": v[2], "one_size": v[3]}
                               for k, v in meter.select_cache.items()]}
    p = Plan(prof.name, root, rows, summarise(trials.values()), summarise(trials[k] for k in core_keys), trials,
             measured)
    p.text = format_plan(p, prof, infos)
    if not quiet:
        print(p.text)
    return p


def format_plan(p: Plan, prof: Profile, infos) -> str:
    lines = [f"albench paper --profile {p.profile}: {prof.description}", f"results: {p.root}/"]
    for d in prof.departures:
        lines.append(f"  departs from the paper: {d}")
    if p.measured:
        lines.append(f"measured on {p.measured['device']}:")
        for m in p.measured["train"]:
            lines.append(f"  train {m['arch']} width {m['width']} batch {m['batch']} {m['shape']}: "
                         f"{m['train_img_s']:,.0f} img/s training, {m['forward_img_s']:,.0f} img/s forward")
        for m in p.measured.get("select", []):
            lines.append(f"  select {m['strategy']} {m['arch']} width {m['width']} {m['shape']} {m['classes']} "
                         "classes: "
                         f"{m['a_s']:.3g} s + {m['b_s_per_image'] * 1000:.3g} ms x pool image "
                         f"(measured up to {m['measured_at_pool']} images"
                         + (", one size: an upper bound)" if m["one_size"] else ")"))
    else:
        lines.append("no speeds measured (measure=False): training images only, no wall time")
    lines.append("datasets:")
    seen = {}
    for k, i in infos.items():
        seen.setdefault(k[1], {})[i["n_val"]] = i
    for d, by_val in sorted(seen.items()):
        i = by_val[min(by_val)]
        val = "".join(f", {v['n_train']:,} + {n:,} validation" for n, v in sorted(by_val.items()) if n)
        lines.append(f"  {d}: {i['n_train']:,} training images{val}, {i['n_test']:,} test, {i['num_classes']} "
                     f"classes, {i['channels']}x{i['size']}x{i['size']} ({i['source']})")
    head = f"{'artifact':10s} {'trials':>6s} {'done':>5s} {'part':>5s} {'miss':>5s} {'confl':>5s} " \
           f"{'train images':>14s} {'est. all':>10s} {'est. left':>10s}  title"
    lines += ["", head, "-" * len(head)]

    def row(name, r, title=""):
        return (f"{name:10s} {r['trials']:6d} {r['finished']:5d} {r['partial']:5d} {r['missing']:5d} "
                f"{r['conflict']:5d} {r['train_images']:14,d} {human(r['seconds']):>10s} "
                f"{human(r['seconds_left']):>10s}  {title}")

    for r in p.artifacts:
        title = r["title"] + (f" (draws {r['source']}'s runs)" if r["source"] else "")
        lines.append(row(r["name"], r, title))
    lines.append("-" * len(head))
    lines.append(row("total", p.total, "distinct trials of the artifacts above (shared trials once)"))
    lines.append(row("core", p.core, f"the profile's core subset: {', '.join(prof.core)} (run by default)"))
    conflicts = [t for t in p.trials.values() if t.status == "conflict"]
    for t in conflicts[:5]:
        lines.append(f"conflict: {t.why}")
    if len(conflicts) > 5:
        lines.append(f"... and {len(conflicts) - 5} more conflicts")
    if p.measured:
        lines.append("est. = the measured speeds above x each trial's rounds (training, evaluation, select) + loading "
                     "its dataset, one trial at a time on this device; not counted: start-up, concurrent trials")
        lines += recorded_lines(p)
    return "\n".join(lines)


def recorded_lines(p: Plan) -> List[str]:
    """The estimate checked against what the finished trials here took (the sum of their rounds' timing
    columns, as they ran: alone or beside others), per strategy, and what is left at that ratio."""
    done = [t for t in p.trials.values() if t.status == "finished" and t.seconds and t.recorded_seconds > 0]
    if not done:
        return []
    lines = ["recorded: the finished trials here, as they ran (timing columns of their rounds) vs estimated:"]
    by = {}
    for t in done:
        by.setdefault(t.strategy, []).append(t)
    for label, ts in by.items():
        rec, est = sum(t.recorded_seconds for t in ts), sum(t.seconds for t in ts)
        lines.append(f"  {label}: {len(ts)} trial(s), {human(rec / len(ts))} each recorded vs {human(est / len(ts))} "
                     f"estimated (x{rec / est:.2f})")
    ratio = sum(t.recorded_seconds for t in done) / sum(t.seconds for t in done)
    if p.total["seconds_left"] is not None:
        lines.append(f"  at the recorded/estimated ratio x{ratio:.2f} of these {len(done)} trial(s), what is left "
                     f"would take {human(ratio * p.total['seconds_left'])} one trial at a time (core: "
                     f"{human(ratio * p.core['seconds_left'])}); concurrent workers divide it at best by their number")
    return lines


# ---------------------------------------------------------------------------------------- profile.json
def profile_record(prof: Profile) -> dict:
    """What ``profile.json`` holds: the profile and its resolved runs per artifact."""
    arts = resolve(prof, load_manifest())
    return {"profile": prof.name, "description": prof.description, "departures": list(prof.departures),
            "core": list(prof.core),
            "profile_settings": {k: v for k, v in prof.raw.items() if k not in ("description", "departures", "core")},
            "artifacts": {a.name: [{"group": r.group, "datasets": list(r.datasets), "strategies": list(r.strategies),
                                    "seeds": list(r.seeds), "overrides": r.overrides,
                                    "strategy_params": r.strategy_params, "sweep": r.sweep} for r in a.runs]
                          for a in arts},
            "albench_version": __version__}


def check_profile_root(prof: Profile, root: str):
    """Refuse a results folder whose ``profile.json`` names another profile."""
    path = os.path.join(root, "profile.json")
    if os.path.exists(path):
        try:
            with open(path) as f:
                name = json.load(f).get("profile")
        except (OSError, ValueError, AttributeError) as err:
            raise ResultsCorruptError(f"{path} is unreadable ({type(err).__name__}); move it away") from None
        if name != prof.name:
            raise ConfigError(f"{root} holds the results of profile {name!r}, not {prof.name!r}: profiles never "
                              "share a folder; use another --out")


def write_profile_json(prof: Profile, root: str):
    from bench.results import atomic_write

    check_profile_root(prof, root)
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, "profile.json")
    record = json.loads(json.dumps(profile_record(prof), default=list))
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
        if {k: v for k, v in old.items() if k != "written"} == record:
            return path
        if "written" in old:
            print(f"albench: {prof.name}'s profile changed since {old['written']}; {path} updated (trials "
                  "made under the old settings are refused by their identity)", file=sys.stderr)
    record["written"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    atomic_write(path, json.dumps(record, indent=2) + "\n")
    return path


# ------------------------------------------------------------------------------------------------ run
def _only(todo, trials, arts, field: str, wanted, option: str) -> list:
    """The trials of ``todo`` whose ``field`` (strategy or seed) is in ``wanted``; ConfigError naming the
    values ``arts`` have when one of ``wanted`` (the command line's ``option``) is none of theirs."""
    have = sorted({getattr(t, field) for t in trials.values()})
    unknown = [w for w in wanted if w not in have]
    if unknown:
        raise ConfigError(f"{option} {','.join(map(str, unknown))}: not a "
                          f"{field} of {', '.join(a.name for a in arts)}; they have {', '.join(map(str, have))}")
    return [t for t in todo if getattr(t, field) in wanted]


def run(profile, only=None, base: str = "results", executor: str = "local", workers: int = 1,
        device: str = None, data_root: str = None, address: str = None, progress: bool = True,
        strategies=None, seeds=None) -> dict:
    """Run the missing and partial trials of ``profile``'s artifacts (``only``; default its core subset),
    in manifest order, each trial once, through ``bench.grid.run_grid`` (resumable). ``strategies``
    (labels) runs only those, in that order (e.g. the cheap ones first); ``seeds`` only those seeds (e.g. two
    seeds of every variant before anyone's third, so that a stopped session still leaves paired seeds).
    Returns a summary."""
    from bench.cli import check_strategy_params, check_writable
    from bench.grid import Trial, run_grid
    from bench.loop import load_checked

    prof = load_profile(profile) if isinstance(profile, str) else profile
    root = prof.root(base)
    arts = selected_artifacts(prof, only, default_core=True)
    fields = {k: v for k, v in (("device", device), ("data_root", data_root)) if v}
    trials = trials_of(arts, root, fields)
    check_writable(root)
    write_profile_json(prof, root)
    fill_status(trials)
    conflicts = [t for t in trials.values() if t.status == "conflict"]
    if conflicts:
        raise ConfigError(f"{len(conflicts)} trial folder(s) under {root} were made under another configuration "
                          f"or cannot be verified, e.g. {conflicts[0].why}; move them away (or run with --out "
                          "elsewhere)")
    todo = [t for t in trials.values() if t.status != "finished"]
    n_finished = len(trials) - len(todo)
    if strategies:
        todo = sorted(_only(todo, trials, arts, "strategy", strategies, "--strategies"),
                      key=lambda t: list(strategies).index(t.strategy))
    if seeds:
        todo = _only(todo, trials, arts, "seed", seeds, "--seeds")
    checked = set()
    for t in todo:   # every error of the input surfaces before the first trial trains
        check_strategy_params(t.cfg, [t.strategy])
        k = (t.cfg.dataset, t.cfg.validation, t.cfg.initial, t.cfg.budget, t.cfg.rounds, t.cfg.image_size)
        if k not in checked:
            load_checked(t.cfg, t.seed)
            checked.add(k)
    print(f"albench paper --profile {prof.name}: {len(arts)} artifact(s) ({', '.join(a.name for a in arts)}), "
          f"{len(trials)} trial(s), {n_finished} finished, {len(todo)} to run"
          + (f" (--strategies {','.join(strategies)})" if strategies else "")
          + (f" (--seeds {','.join(map(str, seeds))})" if seeds else "") + f" -> {root}/",
          file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    if todo:
        run_grid([Trial(t.cfg, t.strategy, t.seed) for t in todo], executor, workers, address, progress)
    seconds = time.perf_counter() - t0
    if todo:
        print(f"albench paper --profile {prof.name}: {len(todo)} trial(s) run in {seconds / 60:.1f} min "
              f"({executor}, {workers} worker(s))", file=sys.stderr, flush=True)
    return {"profile": prof.name, "root": root, "artifacts": [a.name for a in arts], "trials": len(trials),
            "ran": len(todo), "skipped": n_finished, "seconds": seconds}


def publish(profile, path: str, only=None, base: str = "results", readme: str = None):
    """``bench.report.publish`` for ``profile``'s results: the Markdown twin at ``path`` for committing;
    ``readme`` (default: this checkout's README.md, where there is one) gets its claims block refreshed."""
    if readme is None:
        readme = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
        readme = readme if os.path.exists(readme) else None
    prof = load_profile(profile) if isinstance(profile, str) else profile
    root = prof.root(base)
    check_profile_root(prof, root)
    from bench.report import publish as write

    return write(prof.name, root, path, readme, list(only) if only else None)


def report(profile, only=None, base: str = "results"):
    """``bench.report.write_report`` for ``profile``'s results; (html_path, md_path)."""
    prof = load_profile(profile) if isinstance(profile, str) else profile
    root = prof.root(base)
    check_profile_root(prof, root)
    try:
        from bench.report import write_report
    except ModuleNotFoundError as err:
        if err.name != "bench.report":
            raise
        raise AlbenchError(f"the report is not available in this checkout (bench/report.py is missing); the "
                           f"results are under {root}/ and `albench paper --profile {prof.name} --plan` lists "
                           "them") from None
    return write_report(prof.name, root, list(only) if only else None)
