"""Statistics a reviewer can trust when comparing active-learning strategies over seeds.

Pure functions of numbers, or of the tidy results table (one row per strategy, seed and round).
Conventions:

- the seed is the unit of replication; a spread is the sample standard deviation (``ddof=1``);
- strategies are compared *paired by seed*: under one seed every strategy starts from the same initial
  pool and trains every round with the same seed, so ``a[seed] - b[seed]`` removes the seed's own luck;
- intervals are Student-t intervals over seeds, tests are two-sided paired t-tests (``scipy.stats``);
- with fewer than two seeds (pairs) there is no spread, interval or test: the functions return NaN or
  None, and callers say "not available" rather than print a number.
"""
from typing import Optional, Sequence, Tuple

import numpy as np
import pandas as pd


def _st():
    """scipy.stats, imported on first use: about 0.6 s that a plan or a trial never needs."""
    from scipy import stats
    return stats


def mean_std(values) -> Tuple[float, float, int]:
    """(mean, sample std, n) of the finite values; std is NaN for n < 2, mean NaN for n = 0."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan"), int(len(v))


def t_interval(values, confidence: float = 0.95) -> Optional[Tuple[float, float]]:
    """Student-t confidence interval for the mean of ``values``; None with fewer than 2 values."""
    m, s, n = mean_std(values)
    if n < 2:
        return None
    half = _st().t.ppf(0.5 + confidence / 2, n - 1) * s / np.sqrt(n)
    return float(m - half), float(m + half)


def paired_t_test(a, b) -> Optional[float]:
    """Two-sided p-value of a paired t-test of ``a - b`` (aligned sequences, one entry per seed).

    None with fewer than 2 pairs.  Degenerate spreads, which ``scipy.stats.ttest_rel`` leaves undefined, are
    decided here: differences all zero -> p = 1 (no evidence of a difference); all equal and non-zero ->
    p = 0 (every seed moves the same way by the same amount)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    d = d[np.isfinite(d)]
    if len(d) < 2:
        return None
    if all_equal(d):   # scipy would warn of precision loss and return a noisy p
        return 1.0 if all_equal(np.append(d, 0.0)) else 0.0
    return float(_st().ttest_rel(d, np.zeros_like(d)).pvalue)


def all_equal(values, rel: float = 1e-12) -> bool:
    """True when the finite ``values`` are equal up to rounding (their range at most ``rel`` times the
    largest magnitude, or ``rel`` below 1): no spread to test or to build an interval from."""
    v = np.asarray(values, dtype=float)
    return bool(np.ptp(v) <= rel * max(1.0, float(np.abs(v).max()))) if len(v) else True


def normalised_auc(x, y) -> float:
    """Area under y(x) by the trapezoid rule divided by the range of x (the curve's mean height), x sorted
    first; NaN for fewer than two distinct x."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if len(x) < 2 or x[-1] == x[0]:
        return float("nan")
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2) / (x[-1] - x[0]))


def curve_table(df: pd.DataFrame, value: str, x: str = "n_labelled") -> pd.DataFrame:
    """Per (strategy, x): mean, sample std and number of seeds of ``value``.  ``df`` holds one row per
    (strategy, seed, x)."""
    g = df.groupby(["strategy", x], sort=False)[value]
    out = g.agg(mean="mean", n="count").reset_index()
    out["std"] = g.std(ddof=1).to_numpy()
    return out[["strategy", x, "mean", "std", "n"]]


def auc_per_seed(df: pd.DataFrame, value: str, x: str = "n_labelled") -> pd.DataFrame:
    """The normalised area under each (strategy, seed) curve: columns strategy, seed, auc."""
    rows = [(s, k, normalised_auc(g[x], g[value])) for (s, k), g in df.groupby(["strategy", "seed"], sort=False)]
    return pd.DataFrame(rows, columns=["strategy", "seed", "auc"])


def paired_differences(df: pd.DataFrame, baseline: str, value: str, keys: Sequence[str] = ("n_labelled",),
                       confidence: float = 0.95) -> pd.DataFrame:
    """Each strategy minus ``baseline``, paired by seed, at every value of ``keys``.

    Columns: strategy, *keys, n (paired seeds), mean (of the differences), lo, hi (the t-interval; NaN for
    n < 2), p (paired two-sided t-test; NaN for n < 2).  Only seeds both strategies have at that key count."""
    keys = list(keys)
    base = df[df["strategy"] == baseline].set_index(keys + ["seed"])[value]
    rows = []
    for s, g in df[df["strategy"] != baseline].groupby("strategy", sort=False):
        for key, h in g.groupby(keys, sort=True):
            key = key if isinstance(key, tuple) else (key,)
            mine = h.set_index(keys + ["seed"])[value]
            common = mine.index.intersection(base.index)
            a, b = mine.loc[common].to_numpy(float), base.loc[common].to_numpy(float)
            m, _, n = mean_std(a - b)
            ci = t_interval(a - b, confidence)
            p = paired_t_test(a, b)
            rows.append((s, *key, n, m, *(ci or (np.nan, np.nan)), np.nan if p is None else p))
    return pd.DataFrame(rows, columns=["strategy", *keys, "n", "mean", "lo", "hi", "p"])


def win_tie_loss(df: pd.DataFrame, value: str, cell: Sequence[str] = ("dataset", "round"),
                 alpha: float = 0.05, order: Sequence[str] = None) -> Tuple[pd.DataFrame, pd.DataFrame]:
    """Pairwise comparison of strategies over cells (e.g. every (dataset, round)), as BADGE (Ash et al.,
    ICLR 2020) summarises a benchmark, without its 1/L weighting.

    In a cell, A wins over B when the mean of A - B over their common seeds is positive and a paired
    two-sided t-test rejects equality at ``alpha``; a cell where the two have fewer than 2 common seeds is
    not tested.  Returns (wins, tested): ``wins.loc[A, B]`` cells A won over B, ``tested.loc[A, B]`` cells
    tested; A's ties with B are ``tested - wins[A, B] - wins[B, A]``, its losses ``wins.loc[B, A]``."""
    names = list(order) if order is not None else list(dict.fromkeys(df["strategy"]))
    wins = pd.DataFrame(0, index=names, columns=names)
    tested = pd.DataFrame(0, index=names, columns=names)
    for _, g in df.groupby(list(cell), sort=False):
        wide = g.pivot_table(index="seed", columns="strategy", values=value, aggfunc="first")
        present = [s for s in names if s in wide.columns]
        for i, a in enumerate(present):
            for b in present[i + 1:]:
                pair = wide[[a, b]].dropna()
                if len(pair) < 2:
                    continue
                tested.loc[a, b] += 1
                tested.loc[b, a] += 1
                p = paired_t_test(pair[a], pair[b])
                diff = float((pair[a] - pair[b]).mean())
                if p < alpha and diff != 0:
                    wins.loc[a if diff > 0 else b, b if diff > 0 else a] += 1
    return wins, tested
