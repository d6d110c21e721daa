"""Results on disk: one folder per trial, ``<out>/<dataset>/<strategy>/seed<k>/`` holding

  config.json    the trial's identity (everything that changes its numbers: config, strategy parameters,
                 data source and fingerprint, albench version), the resolved config, library versions,
                 git commit, machine
  rounds.csv     one tidy row per round (``BASE_COLUMNS`` + ``count_<class>`` of the labelled pool)
  rounds.jsonl   one JSON line per round: the initial pool (round 0), the indices selected after the round
                 and their classes, per-class test accuracy, the strategy's diagnostics

Both tables are rewritten atomically (temporary file + rename) after every finished round, so a killed
run loses at most the round in progress.  On resume every round is verified (complete, finite, consecutive,
the two tables agreeing); a damaged tail is set aside as ``*.damaged-<time>`` with a warning and the trial
resumes after its last verified round; a folder that cannot be verified at all is refused, never
overwritten.  One advisory lock per trial folder (``.lock``, released by the OS when its holder dies)
keeps two runs from writing the same trial.
"""
import errno
import fcntl
import glob
import hashlib
import importlib.util
import json
import math
import os
import platform
import re
import socket
import subprocess
import sys
import time

import numpy
import numpy as np
import pandas as pd
import torch

from bench import __version__
from bench.core.device import processor
from bench.core.errors import ConfigError, ResultsConflictError, ResultsCorruptError
from bench.trial.identity import identity_differences

BASE_COLUMNS = ["dataset", "strategy", "seed", "round", "n_labelled", "accuracy", "balanced_accuracy",
                "train_seconds", "select_seconds", "eval_seconds"]
# columns that must hold a finite number in every finished round (select_seconds: all but the last round)
FINITE_COLUMNS = ["n_labelled", "accuracy", "balanced_accuracy", "train_seconds", "eval_seconds"]
TRIAL_KEYS = ["dataset", "strategy", "seed"]


LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]{0,127}")   # a strategy label as a folder name


def check_label(label: str, what: str = "strategy name") -> str:
    """``label`` if it is one plain folder name (letters, digits, ``. _ + = -``, starting with a letter or digit,
    no ``..``); ConfigError otherwise: a name never becomes a path outside the results folder."""
    if not isinstance(label, str) or not LABEL.fullmatch(label) or ".." in label:
        raise ConfigError(f"{what} {label!r} cannot name a results folder: use letters, digits and . _ + = - "
                          "(starting with a letter or digit, no '..', at most 128 characters)")
    return label


def trial_dir(out: str, dataset: str, strategy: str, seed: int) -> str:
    """``<out>/<dataset>/<strategy>/seed<k>``: the dataset spec made one folder name (``safe_name``), the
    strategy label checked (``check_label``), and the result checked to lie under ``out``."""
    path = os.path.join(out, safe_name(dataset), check_label(strategy), f"seed{int(seed)}")
    root = os.path.realpath(out)
    if os.path.commonpath([root, os.path.realpath(path)]) != root:
        raise ConfigError(f"the trial folder {path} would lie outside the results folder {out}")
    return path


def safe_name(spec: str) -> str:
    """A dataset spec as one folder name (a ``folder:/a/b#dom1`` spec holds slashes and colons)."""
    return "".join(c if c.isalnum() or c in "._-#+=" else "_" for c in spec).strip("_") or "_"


def atomic_write(path: str, text):
    """Write ``text`` (str, or bytes) at ``path`` so that the file is either the old one or the new one, never
    half of it: a temporary file beside it, flushed to disk, then renamed over it. Every file albench
    produces (trial tables, reports, published pages, figures, the README block, summaries) goes through it."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb" if isinstance(text, bytes) else "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def torchvision_version() -> str:
    """torchvision's ``__version__`` (with its build tag, e.g. ``0.29.1+cu130``, which the package metadata
    leaves out), read from its ``version.py``: importing torchvision costs a process ~1.4 s."""
    spec = importlib.util.find_spec("torchvision")
    try:
        with open(os.path.join(spec.submodule_search_locations[0], "version.py")) as f:
            return re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", f.read(), re.M).group(1)
    except (AttributeError, TypeError, IndexError, OSError):   # a layout without version.py: ask the package
        import torchvision
        return torchvision.__version__


def versions() -> dict:
    import sklearn

    v = {"albench": __version__, "python": platform.python_version(), "torch": torch.__version__,
         "torchvision": torchvision_version(), "numpy": numpy.__version__, "pandas": pd.__version__,
         "scikit-learn": sklearn.__version__, "platform": platform.platform(), "processor": processor(),
         "cuda": torch.version.cuda, "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        v["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                                         timeout=5).stdout.strip() or None
        v["git_dirty"] = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                                             capture_output=True, text=True, timeout=5).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        v["git_commit"] = None
    return v


class TrialLock:
    """An advisory lock on a trial folder (``fcntl.flock`` on ``<path>/.lock``): a second run of the same
    trial waits for the first, saying who holds it; the OS releases it when the holder dies (SIGKILL too)."""

    def __init__(self, path: str):
        self.path = os.path.join(path, ".lock")
        self.fd = None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(self.fd, 512, 0).decode(errors="replace").strip() or "another process"
            holder = "".join(c if c.isprintable() else "?" for c in holder)   # the file's text, never a terminal's
            print(f"albench: {os.path.dirname(self.path)} is being written by {holder}; waiting for it to "
                  "finish (the trial resumes from whatever it completes)", file=sys.stderr, flush=True)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"pid {os.getpid()} on {socket.gethostname()} since "
                           f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
        for tmp in glob.glob(os.path.join(os.path.dirname(self.path), "*.tmp*")):
            os.remove(tmp)   # left by a killed writer: nobody else writes here while we hold the lock
        return self

    def __exit__(self, *exc):
        os.ftruncate(self.fd, 0)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def read_identity(path: str):
    """The identity saved in ``path/config.json``; None if the file is absent; ResultsCorruptError if unusable."""
    cfg_path = os.path.join(path, "config.json")
    if not os.path.exists(cfg_path):
        return None
    try:
        with open(cfg_path) as f:
            saved = json.load(f)
        identity = saved["identity"]
        if not isinstance(identity, dict):
            raise TypeError("identity is not a mapping")
        return identity
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ResultsCorruptError(
            f"{cfg_path} is unreadable or has no identity ({type(err).__name__}: {err}); the results beside it "
            "cannot be verified. Move that folder away (or delete it) and run again.") from None


def load_trial(path: str, identity: dict, class_names=None):
    """(rows, records) of the verified finished rounds in ``path``.

    Refuses (ResultsConflictError) a folder made under another identity, and (ResultsCorruptError) one whose
    rounds cannot be verified at all (results without config.json, a missing table). A damaged tail is
    moved aside as ``<file>.damaged-<time>`` with a warning, and only the verified rounds are returned.
    """
    saved = read_identity(path)
    tables = [os.path.join(path, f) for f in ("rounds.csv", "rounds.jsonl")]
    present = [os.path.exists(t) and os.path.getsize(t) > 0 for t in tables]
    if saved is None:
        if any(present):
            raise ResultsCorruptError(
                f"{path} holds round results but no config.json, so nobody can tell which configuration made "
                "them. Move that folder away (or delete it) to run this trial again.")
        return [], []
    diff = identity_differences(saved, identity)
    if diff and not any(present):   # nothing was finished under the old identity: nothing to lose
        os.remove(os.path.join(path, "config.json"))
        return [], []
    if diff:
        raise ResultsConflictError(
            f"{path} holds a run with a different configuration (differs in: {', '.join(diff)}). "
            "Use another out= folder, or delete that folder to start it again.")
    if not any(present):
        return [], []
    if present == [False, True] and _count_lines(tables[1]) == 1:
        # stopped between round 0's two writes (rounds.jsonl first): only that round is lost; start it again
        stamp = time.strftime("%Y%m%d-%H%M%S")
        os.replace(tables[1], f"{tables[1]}.damaged-{stamp}")
        print(f"albench: warning: {path}: round 0 was interrupted while being saved (rounds.jsonl without "
              f"rounds.csv); moved it aside as rounds.jsonl.damaged-{stamp} and running the trial from the start",
              file=sys.stderr)
        return [], []
    if not all(present):
        missing = tables[present.index(False)]
        raise ResultsCorruptError(
            f"{missing} is missing or empty while {tables[present.index(True)]} holds rounds: the trial "
            "cannot be verified. Restore the file, or move the folder away (or delete it) to run it again.")
    rows, records, damage = read_rounds(path, identity, class_names)
    if damage:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for t in tables:
            os.replace(t, f"{t}.damaged-{stamp}")
        save_round(path, rows, records)
        print(f"albench: warning: {path}: {damage}; kept the {len(rows)} verified round(s), moved the original "
              f"tables aside as rounds.csv/.jsonl.damaged-{stamp}, resuming after them", file=sys.stderr)
    return rows, records


def _count_lines(path: str) -> int:
    with open(path, errors="replace") as f:
        return sum(1 for line in f if line.strip())


def read_rounds(path: str, identity: dict, class_names=None):
    """(rows, records, damage): the longest prefix of rounds that are complete, finite, consecutive and
    agree between rounds.csv and rounds.jsonl; ``damage`` says what stopped it ('' if nothing)."""
    damage = ""
    try:
        df = pd.read_csv(os.path.join(path, "rounds.csv"))
    except (ValueError, OSError, UnicodeDecodeError) as err:
        df, damage = pd.DataFrame(), f"rounds.csv is unreadable ({type(err).__name__})"
    records = []
    with open(os.path.join(path, "rounds.jsonl"), errors="replace") as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                damage = damage or f"rounds.jsonl line {len(records) + 1} is not JSON"
                break
    count_cols = [c for c in df.columns if c.startswith("count_")]
    if class_names is not None and df.shape[0] and count_cols != [f"count_{c}" for c in class_names]:
        return [], [], damage or "rounds.csv's class-count columns do not match the dataset's classes"
    rows, labelled, classes_so_far = [], np.zeros(0, np.int64), []
    rounds, initial, budget = identity.get("rounds"), identity.get("initial"), identity.get("budget")
    for i in range(max(len(df), len(records))):
        rec = records[i] if i < len(records) and isinstance(records[i], dict) else {}
        if i == 0:
            classes_so_far = list(rec.get("initial_classes", [])) if "initial_classes" in rec else None
        problem = check_round(df, records, i, identity, rounds, initial, budget, count_cols, labelled,
                              classes_so_far)
        if problem:
            damage = damage or problem
            break
        if classes_so_far is not None:
            classes_so_far = classes_so_far + list(rec.get("selected_classes", []))
        labelled = np.concatenate([labelled, rec.get("initial", [])] if i == 0 else [labelled]).astype(np.int64)
        row = df.iloc[i].to_dict()
        for c in ["round", "seed", "n_labelled"] + count_cols:
            row[c] = int(row[c])
        rows.append(row)
        labelled = np.concatenate([labelled, rec["selected"]]).astype(np.int64)
    return rows, records[:len(rows)], damage


def _canon(value) -> str:
    """One value of a table row as the checksum reads it: numbers by value (17 significant digits, so an int
    and the float a CSV gives back agree), missing and NaN alike, anything else as text."""
    if value is None:
        return "nan"
    if isinstance(value, (bool, np.bool_, int, np.integer, float, np.floating)):
        v = float(value)
        return "nan" if math.isnan(v) else format(v, ".17g")
    return str(value)


def round_checksum(previous: str, row: dict, record: dict) -> str:
    """The checksum of one round: sha256 over the previous round's checksum ('' before the first, or after a
    round recorded without one), the round's table row (``_canon``, blank cells left out) and its record
    (without its own ``checksum``). A chain: editing any number of a round breaks it and every later round."""

    canon = {str(k): _canon(v) for k, v in row.items() if _canon(v) != "nan"}
    rec = {k: v for k, v in record.items() if k != "checksum"}
    payload = json.dumps([previous, canon, rec], sort_keys=True, default=str, allow_nan=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def cross_check(row, rec, count_cols, labels_so_far) -> str:
    """'' if the round's numbers agree with each other, else what does not: the balanced accuracy is the mean
    of the per-class accuracies of the classes present, and the class counts are the counts of the labels of
    the labelled images (``labels_so_far``: their classes as recorded)."""
    per_class = rec.get("per_class_accuracy")
    if isinstance(per_class, list) and per_class:
        present = [float(a) for a in per_class if a is not None]
        if present and abs(float(np.mean(present)) - float(row["balanced_accuracy"])) > 1e-6:
            return (f"balanced_accuracy {float(row['balanced_accuracy']):.6g} is not the mean of its per-class "
                    f"accuracies ({float(np.mean(present)):.6g})")
    if count_cols and labels_so_far is not None:
        counts = np.bincount(np.asarray(labels_so_far, np.int64), minlength=len(count_cols))
        if len(counts) != len(count_cols) or any(int(row[c]) != int(n) for c, n in zip(count_cols, counts)):
            return "the class counts are not the counts of the labelled images' recorded classes"
    return ""


def check_round(df, records, i, identity, rounds, initial, budget, count_cols, labelled, labels_so_far=None):
    """'' if round ``i`` is complete, agrees between the two tables, with its checksum (where it has one) and
    with itself (``cross_check``), else what is wrong with it."""
    if i >= len(df) or i >= len(records):
        return f"round {i} is in only one of rounds.csv / rounds.jsonl"
    row, rec = df.iloc[i], records[i]
    if not isinstance(rec, dict) or rec.get("round") != i or not isinstance(rec.get("selected"), list):
        return f"rounds.jsonl line {i + 1} is not round {i}'s record"
    for key in TRIAL_KEYS:
        if str(row.get(key)) != str(identity.get(key)):
            return f"rounds.csv row {i + 1} belongs to {key}={row.get(key)!r}, not {identity.get(key)!r}"
    need = FINITE_COLUMNS + count_cols + (["select_seconds"] if rounds is None or i < rounds else [])
    try:
        bad = [c for c in ["round"] + need if c not in row or not math.isfinite(float(row[c]))]
    except (TypeError, ValueError):
        bad = ["a non-numeric value"]
    if bad:
        return f"rounds.csv row {i + 1} (round {i}) is incomplete or not finite in {', '.join(bad)}"
    if int(row["round"]) != i:
        return f"rounds.csv row {i + 1} is round {int(row['round'])}, expected {i} (rounds must be consecutive)"
    n_lab = len(labelled) + (len(rec.get("initial", [])) if i == 0 else 0)
    want_n = initial + i * budget if initial is not None and budget is not None else n_lab
    if int(row["n_labelled"]) != n_lab or n_lab != want_n:
        return f"round {i}: n_labelled {int(row['n_labelled'])} disagrees with the recorded selections ({n_lab})"
    if count_cols and int(sum(row[c] for c in count_cols)) != n_lab:
        return f"round {i}: class counts do not add up to n_labelled"
    last = rounds is not None and i == rounds
    if (budget is not None and not last and len(rec["selected"]) != budget) or (last and rec["selected"]):
        return f"rounds.jsonl round {i} holds {len(rec['selected'])} selected indices, expected " \
               f"{0 if last else budget}"
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in rec["selected"]
               + (rec.get("initial", []) if i == 0 else [])):
        return f"rounds.jsonl round {i} holds selected or initial indices that are not non-negative integers"
    before = set(labelled.tolist()) | (set(rec.get("initial", [])) if i == 0 else set())
    if len(set(rec["selected"]) | before) != len(rec["selected"]) + len(before):
        return f"rounds.jsonl round {i} selects an index twice or one that was already labelled"
    if "checksum" in rec:
        previous = records[i - 1].get("checksum", "") if i > 0 else ""
        if rec["checksum"] != round_checksum(previous, row.to_dict(), rec):
            return f"round {i}: its checksum does not match rounds.csv row {i + 1} and rounds.jsonl line {i + 1} " \
                   "(edited after it was recorded?)"
    problem = cross_check(row, rec, count_cols, labels_so_far)
    return f"round {i}: {problem}" if problem else ""


def save_round(path: str, rows, records):
    atomic_write(os.path.join(path, "rounds.jsonl"), "".join(json.dumps(r) + "\n" for r in records))
    atomic_write(os.path.join(path, "rounds.csv"), pd.DataFrame(rows).to_csv(index=False))


