"""Results tables -> one long table and a summary: every trial under a results root, its verified rounds only."""
import glob
import json
import os
import sys

import pandas as pd

from bench.core.errors import ResultsCorruptError
from bench.trial.identity import LEGACY_IDENTITY
from bench.trial.store import BASE_COLUMNS, read_identity, read_rounds

TIMING_COLUMNS = ("train_seconds", "scoring_train_seconds", "select_seconds", "eval_seconds")


def recorded_seconds(rows: pd.DataFrame) -> float:
    """The seconds ``rows`` (rounds of a results table) recorded: training, a strategy's own scoring model,
    selection and evaluation; blank cells (a last round's selection) count 0."""
    timing = [c for c in TIMING_COLUMNS if c in rows]
    return float(rows[timing].apply(pd.to_numeric, errors="coerce").fillna(0).to_numpy().sum())


def collect(out: str, strict: bool = False) -> pd.DataFrame:
    """Every trial's rows under ``out`` as one long table (empty DataFrame if none), with a ``finished``
    column: True where the trial reached the last round its config.json plans.  An unreadable table is
    skipped with a warning naming it (``strict=True``: ResultsCorruptError instead)."""
    frames = []
    for p in sorted(glob.glob(os.path.join(out, "*", "*", "seed*", "rounds.csv"))):
        try:
            f = pd.read_csv(p)
            if not set(BASE_COLUMNS) <= set(f.columns):
                raise ValueError(f"missing columns {sorted(set(BASE_COLUMNS) - set(f.columns))}")
            if f.empty:
                continue
            identity = read_identity(os.path.dirname(p)) or {}
        except (ValueError, OSError, UnicodeDecodeError, ResultsCorruptError) as err:
            msg = f"{p} is unreadable ({type(err).__name__}: {str(err).splitlines()[0][:160]}); left out"
            if strict:
                raise ResultsCorruptError(msg) from None
            print(f"albench: warning: {msg}", file=sys.stderr)
            continue
        if identity:   # only verified rounds reach a table: an edited or damaged tail is left out, named
            try:
                with open(os.path.join(os.path.dirname(p), "config.json")) as fh:
                    classes = json.load(fh).get("classes")
                kept, _, damage = read_rounds(os.path.dirname(p), identity, classes)
            except (OSError, ValueError) as err:
                kept, damage = [], f"unreadable ({type(err).__name__})"
            if damage:
                print(f"albench: warning: {os.path.dirname(p)}: {damage}; only its {len(kept)} verified round(s) "
                      "are used (`albench verify` checks every trial)", file=sys.stderr)
                f = f.iloc[:len(kept)]
                if f.empty:
                    continue
        planned = identity.get("rounds")
        f["finished"] = planned is not None and pd.to_numeric(f["round"], errors="coerce").max() == planned
        f["precision"] = identity.get("precision", LEGACY_IDENTITY["precision"])
        frames.append(f)
    if not frames:
        return pd.DataFrame(columns=BASE_COLUMNS + ["finished"])
    return pd.concat(frames, ignore_index=True)


def separate_precisions(df: pd.DataFrame) -> pd.DataFrame:
    """Trials of one (dataset, strategy) made in different precisions are never averaged together: where a
    table mixes them, each such trial's strategy label gets its precision (``random [bf16]``), with a warning."""
    if df.empty or "precision" not in df:
        return df
    mixed = df.groupby(["dataset", "strategy"])["precision"].transform("nunique") > 1
    if not mixed.any():
        return df
    df = df.copy()
    df.loc[mixed, "strategy"] = df.loc[mixed, "strategy"] + " [" + df.loc[mixed, "precision"].astype(str) + "]"
    names = sorted(set(df.loc[mixed, "dataset"] + "/" + df.loc[mixed, "strategy"]))
    print(f"albench: warning: trials made in different precisions are shown apart: {', '.join(names)}",
          file=sys.stderr)
    return df


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, strategy): finished seeds, mean accuracy over rounds and final-round accuracy (mean and
    sample std over finished seeds), and how many trials are still partial (never averaged in)."""
    if df.empty:
        return pd.DataFrame()
    if "finished" not in df:
        df = df.assign(finished=True)
    df = separate_precisions(df)
    keys = ["dataset", "strategy", "seed"]
    done = df[df["finished"].astype(bool)]
    partial = df[~df["finished"].astype(bool)].groupby(["dataset", "strategy"])["seed"].nunique()
    last = done["round"] == done.groupby(keys)["round"].transform("max")
    per_seed = done.groupby(keys).agg(avg=("accuracy", "mean"), rounds=("round", "max"),
                                      select_s=("select_seconds", "mean"))
    per_seed["final"] = done[last].set_index(keys)["accuracy"]
    per_seed["final_balanced"] = done[last].set_index(keys)["balanced_accuracy"]
    g = per_seed.groupby(["dataset", "strategy"])
    out = pd.DataFrame({"seeds": g.size(), "rounds": g["rounds"].max(),
                        "avg_acc": g["avg"].mean(), "avg_acc_std": g["avg"].std(ddof=1),
                        "final_acc": g["final"].mean(), "final_acc_std": g["final"].std(ddof=1),
                        "final_bal_acc": g["final_balanced"].mean(), "select_s": g["select_s"].mean()})
    pairs = sorted(set(map(tuple, df[["dataset", "strategy"]].drop_duplicates().values)))
    out = out.reindex(pd.MultiIndex.from_tuples(pairs, names=["dataset", "strategy"]))
    out["seeds"] = out["seeds"].fillna(0).astype(int)
    out["partial"] = partial.reindex(out.index).fillna(0).astype(int)
    return out.reset_index()


def format_summary(summary: pd.DataFrame) -> str:
    """The summary as text: mean ± sample std over finished seeds (the mean alone for one seed, '-' for none)."""
    t = summary.copy()
    for c in ("avg_acc", "final_acc"):
        t[c] = ["-" if pd.isna(m) else f"{m:.4f}" if pd.isna(s) else f"{m:.4f} ± {s:.4f}"
                for m, s in zip(t[c], t[c + "_std"])]
    t = t.drop(columns=["avg_acc_std", "final_acc_std"])
    return t.to_string(index=False, float_format=lambda v: f"{v:.4f}")


def per_seed_curve(rows: pd.DataFrame, datasets, value: str):
    """One curve per (strategy, seed): ``value`` averaged over ``datasets`` round by round (one dataset:
    the trial's own curve). A (strategy, seed) not finished on every dataset is left out; returns
    (curve with columns strategy, seed, round, n_labelled, value; the left-out (strategy, seed, missing))."""
    rows = rows[rows["dataset"].isin(datasets)]
    have = rows.groupby(["strategy", "seed"], sort=False)["dataset"].agg(lambda s: set(s))
    complete = [i for i, ds in have.items() if ds >= set(datasets)]
    left = [(s, k, sorted(set(datasets) - ds)) for (s, k), ds in have.items() if not ds >= set(datasets)]
    keep = rows.set_index(["strategy", "seed"]).index.isin(complete)
    curve = (rows[keep].groupby(["strategy", "seed", "round"], sort=False)
             .agg(n_labelled=("n_labelled", "mean"), value=(value, "mean")).reset_index())
    return curve, left
