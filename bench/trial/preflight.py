"""Pre-run checks, written once for ``albench run`` and ``albench paper``: every error of the input (an unknown
strategy or parameter, a dataset that cannot be read or is too small for the schedule, an output folder that
cannot be written) surfaces before the first trial trains (``preflight``)."""
import importlib
import os
import sys
import traceback

import datasets
from bench.core.errors import ConfigError, UnknownNameError
from bench.trial.store import check_label
from datasets.splits import validation_split
from strategies import get_strategy, list_strategies


def import_datasets():
    """albench's ``datasets`` package; ImportError saying what to do where Hugging Face's ``datasets`` shadows
    it (both are called ``datasets``: whichever comes first on ``sys.path`` wins)."""
    if not getattr(datasets, "ALBENCH", False):
        raise ImportError(
            f"'import datasets' found {getattr(datasets, '__file__', datasets)!r}, not albench's datasets package "
            "(probably Hugging Face's 'datasets'). Install albench in its own virtual environment (`make setup` "
            "creates .venv) or run `pip uninstall datasets` there.")
    return datasets



def import_user_modules(names):
    """Import ``--import`` modules (users' strategies or datasets), naming the module when one fails."""
    sys.path.insert(0, os.getcwd())
    for mod in names:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as err:
            if err.name and mod.startswith(err.name):
                raise ConfigError(f"--import {mod}: no module named {err.name!r} (looked in the working "
                                  "directory and on sys.path; pass the module name without .py)") from None
            raise ConfigError(f"--import {mod}: the module imports {err.name!r}, which is not installed") from None
        except Exception as err:
            where = traceback.extract_tb(err.__traceback__)[-1]
            raise ConfigError(f"--import {mod} failed: {type(err).__name__}: {err} "
                              f"(at {where.filename}:{where.lineno})") from None


def check_strategy_params(cfg, names):
    """Refuse strategy names and strategy_params entries that match no registered strategy, and parameters
    the strategy does not take, before anything runs."""
    known = list_strategies()
    for name in sorted(set(names) | set(cfg.strategy_params)):
        check_label(name)
        key = cfg.registry_key(name)
        if key not in known:
            where = "strategy_params has an entry for" if name not in names else "unknown strategy"
            raise UnknownNameError(f"{where} {name!r}" + (f" (a variant of {key!r})" if key != name else "")
                           + f"; available: {', '.join(known)}")
        try:
            get_strategy(key, **cfg.params_for(name))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"strategy_params.{name}: {err}") from None


def check_writable(out: str):
    """Fail before any training if results cannot be written under ``out`` (read-only, not a folder, full)."""
    try:
        os.makedirs(out, exist_ok=True)
        probe = os.path.join(out, f".albench-write-test{os.getpid()}")
        with open(probe, "w") as f:
            f.write("x" * 4096)
            f.flush()
            os.fsync(f.fileno())
        os.remove(probe)
    except OSError as err:
        raise ConfigError(f"cannot write results under {out!r}: {err.strerror or err}; pass --out a writable "
                          "folder with free space") from None


def check_schedule(cfg, n_train: int):
    has = f"{cfg.dataset} has {n_train} training images" + (" besides its validation split" if cfg.validation else "")
    if cfg.initial > n_train:
        raise ConfigError(f"{has}, but initial={cfg.initial} asks for more; lower initial")
    need = cfg.initial + cfg.rounds * cfg.budget
    if need > n_train:
        raise ConfigError(
            f"{has}, but initial="
            f"{cfg.initial} + rounds={cfg.rounds} x budget={cfg.budget} needs {need}; lower rounds or budget "
            f"(at most {max(0, (n_train - cfg.initial) // cfg.budget)} rounds of {cfg.budget} fit)")


def load_checked(cfg, seed: int = 0):
    """The trial's dataset (removal drawn by ``seed``), with the schedule checked against its size."""
    kw = {"image_size": cfg.image_size} if cfg.image_size else {}
    ds = import_datasets().get_dataset(cfg.dataset, cfg.data_root or None, seed=seed, download=cfg.download, **kw)
    check_schedule(cfg, len(ds.y_train) - len(validation_split(ds.y_train, cfg.validation, seed)))
    return ds


def prepare(cfg, strategy_name: str, seed: int = 0):
    """Everything that can fail on bad input, before any file is written: (strategy, dataset)."""
    strategy = get_strategy(cfg.registry_key(strategy_name), **cfg.params_for(strategy_name))
    ds = load_checked(cfg, seed)
    try:
        strategy.check_data(ds)
    except ValueError as err:
        raise ConfigError(f"strategy {strategy_name!r} cannot run on {cfg.dataset}: {err}") from None
    return strategy, ds



def preflight(trials, out: str):
    """Check ``trials`` (``bench.trial.grid.Trial``s) before any of them runs: each strategy label and its
    parameters, each dataset read once per schedule and checked against it, ``out`` writable. Raises the first
    problem as a ``ConfigError`` (or ``DataError``) that says what to change."""
    by_dataset = {}
    for t in trials:
        by_dataset.setdefault(t.cfg.dataset, (t.cfg, set()))[1].add(t.strategy)
    for cfg, names in by_dataset.values():
        check_strategy_params(cfg, names)
    checked = set()
    for t in trials:   # one read per dataset and schedule (a grid may hold a dataset 45 times)
        key = (t.cfg.dataset, t.cfg.validation, t.cfg.initial, t.cfg.budget, t.cfg.rounds, t.cfg.image_size)
        if key not in checked:
            load_checked(t.cfg, t.seed)
            checked.add(key)
    check_writable(out)
