"""Which trials a profile's artifacts need and how far each has got: finished, partial, missing, or a conflict
(a folder made under another identity); and the shape of each dataset (read here, or known when absent)."""
import json
import os
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional

import numpy as np

from bench.analysis.collect import collect, recorded_seconds
from bench.core.errors import ConfigError, DataError, ResultsCorruptError
from bench.paper.manifest import Artifact, Profile, load_manifest, resolve
from bench.trial.identity import LEGACY_IDENTITY, expected_identity
from bench.trial.preflight import import_datasets
from bench.trial.store import read_identity, trial_dir
from datasets.splits import validation_split
from strategies import get_strategy

STATUSES = ("finished", "partial", "missing", "conflict")


@dataclass
class TrialPlan:
    """One trial of the plan: its config, what is on disk, and what it costs."""
    group: str
    dataset: str
    strategy: str                    # label: registry key or named variant
    seed: int
    cfg: object                      # bench.core.config.Config (out = the group's folder)
    artifacts: List[str] = field(default_factory=list)
    status: str = "missing"          # finished | partial | missing | conflict
    rounds_done: int = 0
    why: str = ""                    # a conflict's cause
    train_images: int = 0            # the whole trial
    train_images_left: int = 0       # the rounds not yet done
    seconds: Optional[float] = None  # estimated, whole trial (None: not measured)
    seconds_left: Optional[float] = None
    recorded_seconds: float = 0.0    # what its recorded rounds took (their timing columns), as run here
    approx: List[str] = field(default_factory=list)   # how its speeds were extrapolated ([]: all measured)

    @property
    def key(self):
        return (self.group, self.dataset, self.strategy, self.seed)


def selected_artifacts(profile: Profile, only=None, default_core=False, manifest=None) -> List[Artifact]:
    """The paper's artifacts (or a study's: ``manifest``) under ``profile``: ``only`` (names) if given, else
    the profile's core subset of the paper (``default_core``) or all of them, in manifest order."""
    core = list(profile.core) if default_core and manifest is None else None
    return resolve(profile, manifest or load_manifest(), only=list(only) if only else core)


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

    return get_strategy(cfg.registry_key(label), **cfg.params_for(label))


def fill_status(trials: Dict[tuple, TrialPlan]):
    """Set each trial's status from its folder: its identity (read_identity, compared on every field known
    without the data) and its rows (collect: finished when the last round is the planned one)."""

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


_DATA_CACHE, _BASE_CACHE = {}, {}


def base_labels(spec: str, data_root: Optional[str], image_size: int):
    """(training labels, (channels, size), test count, classes, source, load seconds) of ``spec``'s base, loaded
    once per process: its variants (the base with a dom / rare / lt suffix) read the same files, and their
    removal is applied to these labels (``datasets.kept_index``), so a plan loads each file once."""
    datasets = import_datasets()
    base = datasets.parse_spec(spec).base
    key = (base, image_size, data_root)
    if key not in _BASE_CACHE:
        t0 = time.perf_counter()
        try:
            sized = {"image_size": image_size} if image_size else {}
            ds = datasets.get_dataset(base, data_root or None, seed=0, **sized)
            _BASE_CACHE[key] = (ds.y_train, ds.x_train.shape[1:3], len(ds.y_test), ds.num_classes, "data",
                                time.perf_counter() - t0)
        except DataError:
            known = datasets.known_labels(base)   # a paper base's class sizes, when its data is not here
            if known is None:
                raise
            (c, h), y, n_test = known
            _BASE_CACHE[key] = (y, (c, image_size or h), n_test, len(np.unique(y)),
                                "sizes from the spec: data not found here", 0.0)
    return _BASE_CACHE[key]


def dataset_info(cfg) -> dict:
    """Channels, image size, training / test / validation counts and classes of ``cfg.dataset``: read from
    the data when it is here, else (CIFAR, NEU) computed from the spec's known class sizes; ``load_s``: the
    seconds its base took to load (once per base: ``base_labels``)."""

    key = (cfg.dataset, cfg.image_size, cfg.data_root, cfg.validation)
    if key in _DATA_CACHE:
        return _DATA_CACHE[key]
    y, (c, h), n_test, k, source, load_s = base_labels(cfg.dataset, cfg.data_root, cfg.image_size)
    keep = import_datasets().kept_index(cfg.dataset, y, k)
    y = y if keep is None else y[keep]
    n_val = len(validation_split(y, cfg.validation, 0))
    _DATA_CACHE[key] = out = {"channels": int(c), "size": int(h), "n_train": int(len(y)) - n_val,
                              "n_val": n_val, "n_test": int(n_test), "num_classes": int(k), "source": source,
                              "load_s": load_s}
    need = cfg.initial + cfg.rounds * cfg.budget
    if need > out["n_train"]:
        raise ConfigError(f"{cfg.dataset} has {out['n_train']} selectable training images, but initial="
                          f"{cfg.initial} + rounds={cfg.rounds} x budget={cfg.budget} needs {need}")
    return out


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
