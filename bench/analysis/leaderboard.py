"""A leaderboard's numbers: per regime (one dataset) the score of every strategy over seeds, and over regimes
a ranking with its uncertainty.

Pure functions of the tidy results table (one row per strategy, seed and round, as ``collect`` reads it):

- ``regime_scores``: per (strategy, seed) the normalised area under the accuracy curve (``stats.normalised_auc``),
  the last round's accuracy and balanced accuracy, the labelled pool's share of the regime's rare classes and
  their mean recall on the test set at the last round, and the seconds spent selecting over the whole trial;
- ``start_spread``: per seed, the distinct accuracies of round 0 (the same experiment for every strategy), which
  differ only where trials ran on different CPUs: the machines' share of a paired difference's noise;
- ``regime_table``: those as mean ± std over seeds per strategy, with the nAUC's difference from the baseline
  paired by seed (a 95 % t-interval, ``stats.paired_differences``) and its sign as a verdict;
- ``ranking``: the mean over regimes of each strategy's rank by mean nAUC (1 = best), with a percentile
  bootstrap interval that resamples seeds with replacement, the same draw for every strategy of a regime
  (paired), a fixed generator so that the page is the same every time it is generated.
"""
from typing import Dict, List, Sequence

import numpy as np
import pandas as pd

from bench.analysis import stats

BOOTSTRAP_DRAWS = 2000


def rare_classes(kind, value, n_classes: int) -> List[int]:
    """The rare classes of a dataset spec's imbalance (0-based): every class but the dominant one(s) of a
    ``dom`` spec, the reduced ones of a ``rare`` spec, the smaller half of a long tail (``lt``: class c keeps
    n_max * R^(-c/(K-1)) images, so the classes from K/2 on); none for a balanced dataset."""
    if kind == "dom":
        return [c for c in range(n_classes) if c not in set(value)]
    if kind == "rare":
        return list(value)
    if kind == "lt":
        return list(range((n_classes + 1) // 2, n_classes)) if float(value) > 1 else []
    return []


def recall_column(count_column: str) -> str:
    """The column of a class's test recall beside its labelled count's: ``count_<class>`` -> ``recall_<class>``."""
    return "recall_" + count_column[len("count_"):]


def regime_scores(rows: pd.DataFrame, rare_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Per (strategy, seed) of one regime's finished trials: nauc, final, final_balanced, rare_share and
    rare_recall (NaN without ``rare_columns``, the count columns ``count_<class>`` of its rare classes: their
    share of the labelled pool, and the mean of their ``recall_<class>`` columns, at the last round) and
    select_s."""
    recalls = [recall_column(c) for c in rare_columns]
    out = []
    for (s, k), g in rows.groupby(["strategy", "seed"], sort=False):
        g = g.sort_values("round")
        last = g.iloc[-1]
        rare = (float(sum(last[c] for c in rare_columns)) / float(last["n_labelled"])
                if rare_columns and set(rare_columns) <= set(g.columns) else float("nan"))
        recall = (float(np.mean([last[c] for c in recalls])) if recalls and set(recalls) <= set(g.columns)
                  else float("nan"))
        out.append({"strategy": s, "seed": int(k), "nauc": stats.normalised_auc(g["n_labelled"], g["accuracy"]),
                    "final": float(last["accuracy"]),
                    "final_balanced": float(last["balanced_accuracy"]) if "balanced_accuracy" in g else float("nan"),
                    "rare_share": rare, "rare_recall": recall,
                    "select_s": float(pd.to_numeric(g.get("select_seconds"), errors="coerce").sum())
                    if "select_seconds" in g else float("nan")})
    return pd.DataFrame(out, columns=["strategy", "seed", "nauc", "final", "final_balanced", "rare_share",
                                      "rare_recall", "select_s"])


def start_spread(rows: pd.DataFrame) -> pd.DataFrame:
    """Round 0 of one regime is one experiment for every strategy of a seed (the same initial pool, the same
    training seed), so its accuracy repeats exactly on one machine; where trials of a seed disagree there, they
    ran on CPUs whose fp32 kernels differ. Per seed, each distinct round-0 accuracy, how many trials reached it
    and the processors their round 0 ran on (a sorted tuple, from the column ``processor``, which
    ``bench.paper.gather`` adds to every row it reads), sorted."""
    first = rows[rows["round"] == 0]
    if first.empty:
        return pd.DataFrame(columns=["seed", "accuracy", "trials", "processors"])
    # accuracy is written with a fixed number of decimals; rounding guards against a float read back differently
    first = first.assign(accuracy=first["accuracy"].astype(float).round(6))
    out = first.groupby(["seed", "accuracy"]).agg(trials=("strategy", "size"),
                                                  processors=("processor", lambda p: tuple(sorted(set(p)))))
    return out.reset_index().sort_values(["seed", "accuracy"], ignore_index=True)


def verdict(lo, hi, n) -> str:
    """'better' / 'worse' when the paired interval lies above / below 0, 'no difference' when it holds 0,
    'n/a' without an interval (fewer than 2 paired seeds)."""
    if n < 2 or not np.isfinite(lo) or not np.isfinite(hi):
        return "n/a"
    return "better" if lo > 0 else "worse" if hi < 0 else "no difference"


def regime_table(scores: pd.DataFrame, order: Sequence[str], baseline: str) -> pd.DataFrame:
    """Per strategy (``order``, those with scores): seeds, mean and std of every score, and the nAUC minus the
    ``baseline``'s paired by seed (d_mean, d_lo, d_hi, d_n, vs_baseline); the baseline's own row has d_n 0."""
    diff = (stats.paired_differences(scores.assign(k=0), baseline, "nauc", keys=["k"])
            if baseline in set(scores["strategy"]) else pd.DataFrame(columns=["strategy", "n", "mean", "lo", "hi"]))
    rows = []
    for s in order:
        g = scores[scores["strategy"] == s]
        if g.empty:
            continue
        row = {"strategy": s, "seeds": int(np.isfinite(g["nauc"]).sum())}
        for col in ("nauc", "final", "final_balanced", "rare_share", "rare_recall", "select_s"):
            row[col], row[col + "_std"], _ = stats.mean_std(g[col])
        d = diff[diff["strategy"] == s]
        n = int(d["n"].iloc[0]) if len(d) else 0
        lo, hi = (float(d["lo"].iloc[0]), float(d["hi"].iloc[0])) if len(d) else (np.nan, np.nan)
        row.update(d_mean=float(d["mean"].iloc[0]) if n else np.nan, d_lo=lo, d_hi=hi, d_n=n,
                   vs_baseline="baseline" if s == baseline else verdict(lo, hi, n))
        rows.append(row)
    return pd.DataFrame(rows)


def _ranks(means: pd.DataFrame) -> pd.DataFrame:
    """Rank of each strategy (columns) within each regime (rows) by mean nAUC: 1 = best, ties averaged."""
    return means.rank(axis=1, ascending=False, method="average")


def ranking(scores: Dict[str, pd.DataFrame], order: Sequence[str], draws: int = BOOTSTRAP_DRAWS,
            seed: int = 0) -> pd.DataFrame:
    """The mean over regimes (``scores``: regime -> ``regime_scores``) of each strategy's rank by mean nAUC,
    with a 95 % percentile bootstrap interval over seeds. Only strategies with a finite score in every regime
    are ranked, each regime on the seeds all of them have there. Columns: strategy, mean_rank, lo, hi, regimes,
    seeds (per regime, the fewest), best_in (regimes where it ranks first, ties included); sorted by mean rank,
    then ``order``; ``attrs["common_seeds"]``: regime -> the seeds it was ranked on. With few seeds the
    percentile interval need not contain the point estimate (the bootstrap's ranks shrink toward the middle)
    and under-covers: 3 seeds give 10 distinct resamples per regime."""
    ranked = [s for s in order if all(np.isfinite(sc.loc[sc["strategy"] == s, "nauc"]).any() for sc in scores.values())]
    if not ranked or not scores:
        return pd.DataFrame(columns=["strategy", "mean_rank", "lo", "hi", "regimes", "seeds", "best_in"])
    wide = {}
    for regime, sc in scores.items():
        w = sc[sc["strategy"].isin(ranked)].pivot_table(index="seed", columns="strategy", values="nauc")
        wide[regime] = w.reindex(columns=ranked).dropna()   # a strategy without a finite nAUC empties it
    regimes = [r for r, w in wide.items() if len(w)]
    if not regimes:
        return pd.DataFrame(columns=["strategy", "mean_rank", "lo", "hi", "regimes", "seeds", "best_in"])
    point = _ranks(pd.DataFrame([wide[r].mean() for r in regimes], index=regimes))
    rng = np.random.default_rng(seed)
    boot = np.empty((draws, len(ranked)))
    for b in range(draws):
        means = []
        for r in regimes:
            w = wide[r].to_numpy()
            means.append(w[rng.integers(0, len(w), len(w))].mean(axis=0))
        boot[b] = _ranks(pd.DataFrame(means, columns=ranked)).mean(axis=0).to_numpy()
    lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)
    out = pd.DataFrame({"strategy": ranked, "mean_rank": point.mean(axis=0).to_numpy(), "lo": lo, "hi": hi,
                        "regimes": len(regimes), "seeds": min(len(wide[r]) for r in regimes),
                        "best_in": [sum(point.loc[r, s] == point.loc[r].min() for r in regimes) for s in ranked]})
    out["_order"] = range(len(out))
    out = out.sort_values(["mean_rank", "_order"], kind="stable").drop(columns="_order").reset_index(drop=True)
    out.attrs["common_seeds"] = {r: [int(k) for k in wide[r].index] for r in regimes}   # what each regime ranks on
    return out
