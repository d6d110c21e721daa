"""Results on disk: one folder per trial, ``<out>/<dataset>/<strategy>/seed<k>/`` holding

  config.json    the resolved config, the strategy's parameters, library versions, git commit, machine
  rounds.csv     one tidy row per round (SPEC.md columns + ``count_<class>`` of the labelled pool)
  rounds.jsonl   one JSON line per round: the initial pool (round 0), the indices selected after the round
                 and their classes, per-class test accuracy, the strategy's diagnostics

Both tables are rewritten atomically (temporary file + rename) after every finished round, so a killed
run loses at most the round in progress.
"""
import glob
import json
import os
import platform
import subprocess

import pandas as pd

from bench.errors import ResultsConflictError

BASE_COLUMNS = ["dataset", "strategy", "seed", "round", "n_labelled", "accuracy", "balanced_accuracy",
                "train_seconds", "select_seconds", "eval_seconds"]


def trial_dir(out: str, dataset: str, strategy: str, seed: int) -> str:
    return os.path.join(out, dataset, strategy, f"seed{seed}")


def atomic_write(path: str, text: str):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def versions() -> dict:
    import numpy
    import sklearn
    import torch
    import torchvision

    v = {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
         "numpy": numpy.__version__, "pandas": pd.__version__, "scikit-learn": sklearn.__version__,
         "platform": platform.platform(), "cuda": torch.version.cuda,
         "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        v["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                                         timeout=5).stdout.strip() or None
        v["git_dirty"] = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                                             capture_output=True, text=True, timeout=5).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        v["git_commit"] = None
    return v


def load_trial(path: str, identity: dict):
    """(rows, records) already finished in ``path``; ResultsConflictError if it holds another configuration."""
    cfg_path = os.path.join(path, "config.json")
    if not os.path.exists(cfg_path):
        return [], []
    with open(cfg_path) as f:
        saved = json.load(f).get("identity")
    if saved != identity:
        diff = sorted(k for k in set(saved or {}) | set(identity) if (saved or {}).get(k) != identity.get(k))
        raise ResultsConflictError(
            f"{path} holds a run with a different configuration (differs in: {', '.join(diff)}). "
            "Use another out= folder, or delete that folder to start it again.")
    rows = pd.read_csv(os.path.join(path, "rounds.csv")).to_dict("records") \
        if os.path.exists(os.path.join(path, "rounds.csv")) else []
    records = []
    if os.path.exists(os.path.join(path, "rounds.jsonl")):
        with open(os.path.join(path, "rounds.jsonl")) as f:
            for line in f:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    break
    n = min(len(rows), len(records))
    return rows[:n], records[:n]


def save_round(path: str, rows, records):
    atomic_write(os.path.join(path, "rounds.jsonl"), "".join(json.dumps(r) + "\n" for r in records))
    atomic_write(os.path.join(path, "rounds.csv"), pd.DataFrame(rows).to_csv(index=False))


def collect(out: str) -> pd.DataFrame:
    """Every trial's rows under ``out`` as one long table (empty DataFrame if none)."""
    frames = [pd.read_csv(p) for p in sorted(glob.glob(os.path.join(out, "*", "*", "seed*", "rounds.csv")))]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=BASE_COLUMNS)


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, strategy): seeds, mean accuracy over rounds and final-round accuracy (mean and std)."""
    if df.empty:
        return pd.DataFrame()
    last = df["round"] == df.groupby(["dataset", "strategy", "seed"])["round"].transform("max")
    per_seed = df.groupby(["dataset", "strategy", "seed"]).agg(avg=("accuracy", "mean"), rounds=("round", "max"))
    per_seed["final"] = df[last].set_index(["dataset", "strategy", "seed"])["accuracy"]
    per_seed["final_balanced"] = df[last].set_index(["dataset", "strategy", "seed"])["balanced_accuracy"]
    sel = df.groupby(["dataset", "strategy", "seed"])["select_seconds"].mean()
    per_seed["select_s"] = sel
    g = per_seed.groupby(["dataset", "strategy"])
    out = pd.DataFrame({"seeds": g.size(), "rounds": g["rounds"].max(),
                        "avg_acc": g["avg"].mean(), "avg_acc_std": g["avg"].std(ddof=0),
                        "final_acc": g["final"].mean(), "final_acc_std": g["final"].std(ddof=0),
                        "final_bal_acc": g["final_balanced"].mean(), "select_s": g["select_s"].mean()})
    return out.reset_index()
