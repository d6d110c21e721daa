"""The paper's claims, checked against albench's results by one fixed rule.

A claim (the manifest's ``claims`` list) is a statement of the paper that one strategy does better than
another on an artifact's data, with where the paper says it and the paper's own numbers where it gives
any. ``check`` measures it on the artifact's finished trials:

- per seed, a strategy's score is its ``measure`` — ``avg``: the mean of the metric over every round (the
  paper's "avg." of Table 1), or ``final``: the last round's — averaged over the claim's datasets (an
  artifact that averages several datasets, as Fig. 3(b) does, is judged on that average; a seed that
  misses one of them is left out);
- the difference ``better - worse`` is paired by seed (same seed = same initial pool and training seed),
  with its mean and Student-t 95 % interval over the paired seeds (``bench.analysis.stats``);
- verdict: **agrees** when the interval lies above 0, **does not agree** when it lies below 0 or the two
  are identical in every seed (no gain at all: not a lack of power), **inconclusive at this scale** when it
  contains 0, and **not measured** with fewer than two paired seeds (no interval exists). The reason always
  states the interval and the number of seeds.

The rule judges the sign of a difference only, not its size: the paper's numbers are printed beside for
the reader, since a reduced profile (smaller network, fewer epochs) is not expected to match them.
Pure functions of (claim, rows); no file is read here.
"""
from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import pandas as pd

from bench.analysis import stats
from bench.core.errors import ConfigError

MEASURES = ("avg", "final")
VERDICTS = ("agrees", "does not agree", "inconclusive at this scale", "not measured")
FIELDS = {"artifact", "statement", "where", "paper", "better", "worse", "measure", "datasets", "metric"}
# besides the artifact's own metric: a recorded column, or rare_share (the share of non-dominant classes labelled)
METRICS = ("accuracy", "balanced_accuracy", "val_accuracy", "val_balanced_accuracy", "rare_share")


@dataclass(frozen=True)
class Claim:
    artifact: str
    statement: str          # the paper's words (or a faithful paraphrase, marked as such)
    where: str              # section / figure / table of the paper
    paper: str              # the paper's number for this comparison, or what its figure shows
    better: str             # strategy label the paper says does better ...
    worse: str              # ... than this one
    measure: str = "avg"    # avg (mean over rounds) | final (last round)
    datasets: tuple = ()    # the artifact's datasets to judge on (default: all it ran)
    metric: str = ""        # '' = the artifact's metric; else one of METRICS


@dataclass
class Verdict:
    claim: Claim
    verdict: str            # agrees | does not agree | inconclusive at this scale | not measured
    reason: str
    n: int = 0              # paired seeds
    better: Optional[tuple] = None   # (mean, std, n) of the better strategy's score, in %
    worse: Optional[tuple] = None
    diff: Optional[tuple] = None     # (mean, lo, hi) of better - worse, in percentage points
    datasets: tuple = ()             # the datasets judged on (after the profile's substitutions)


def load_claims(manifest: dict) -> List[Claim]:
    """The manifest's ``claims``, checked: known fields, a known artifact and measure."""
    out = []
    for i, c in enumerate(manifest.get("claims") or []):
        where = f"claims[{i}]"
        if not isinstance(c, dict):
            raise ConfigError(f"manifest {where}: expected a mapping, got {c!r}")
        unknown = sorted(set(c) - FIELDS)
        missing = sorted({"artifact", "statement", "where", "paper", "better", "worse"} - set(c))
        if unknown or missing:
            raise ConfigError(f"manifest {where}: " + "; ".join(
                ([f"unknown field(s) {', '.join(unknown)}"] if unknown else [])
                + ([f"missing field(s) {', '.join(missing)}"] if missing else []))
                + f" (fields: {', '.join(sorted(FIELDS))})")
        arts = manifest.get("artifacts", {})
        if not isinstance(c["artifact"], str) or c["artifact"] not in arts:
            raise ConfigError(f"manifest {where}: unknown artifact {c['artifact']!r}")
        spec = arts[c["artifact"]]
        src = arts.get(spec.get("from", ""), {})
        labels = spec.get("strategies") or src.get("strategies", [])
        stray = [c[k] for k in ("better", "worse") if c[k] not in labels]
        if stray:
            raise ConfigError(f"manifest {where}: {', '.join(map(repr, stray))} not among {c['artifact']}'s "
                              f"strategies ({', '.join(labels)})")
        if c["better"] == c["worse"]:
            raise ConfigError(f"manifest {where}: better and worse are both {c['better']!r}")
        datasets = c.get("datasets") or []
        known = spec.get("datasets") or src.get("datasets", [])
        if not isinstance(datasets, list) or not set(datasets) <= set(known):
            raise ConfigError(f"manifest {where}: datasets must be a list of {c['artifact']}'s datasets "
                              f"({', '.join(known)}), got {datasets!r}")
        if c.get("metric", "") not in ("",) + METRICS:
            raise ConfigError(f"manifest {where}: metric must be one of {', '.join(METRICS)} (or left out for the "
                              f"artifact's own), got {c['metric']!r}")
        if c.get("measure", "avg") not in MEASURES:
            raise ConfigError(f"manifest {where}: measure must be one of {', '.join(MEASURES)}, got {c['measure']!r}")
        out.append(Claim(**{**c, "datasets": tuple(datasets)}))
    return out


def scores(rows: pd.DataFrame, value: str, measure: str, datasets) -> pd.DataFrame:
    """Per (strategy, seed): the claim's score in %, averaged over ``datasets`` (seeds that lack one are
    dropped). Columns strategy, seed, score."""
    rows = rows[rows["dataset"].isin(datasets)]
    if rows.empty:
        return pd.DataFrame({"strategy": pd.Series(dtype=object), "seed": pd.Series(dtype=int),
                             "score": pd.Series(dtype=float)})
    keys = ["dataset", "strategy", "seed"]
    if measure == "avg":   # a non-finite round makes the trial's score NaN (left out below), never skipped
        per = rows.groupby(keys, sort=False)[value].agg(lambda v: v.to_numpy(float).mean())
    else:                  # the last round's value, as Table 1's "final" (draw_table) takes it
        last = rows["round"] == rows.groupby(keys)["round"].transform("max")
        per = rows[last].set_index(keys)[value].astype(float)
    per = per.rename("score").reset_index()
    per = per[per.groupby(["strategy", "seed"])["dataset"].transform("nunique") == len(set(datasets))]
    out = per.groupby(["strategy", "seed"], sort=False)["score"].mean().reset_index()
    out["score"] *= 100.0
    return out


def check(claim: Claim, rows: pd.DataFrame, value: str, datasets) -> Verdict:
    """``claim`` measured on the finished ``rows`` of its artifact (column ``value``), judged on
    ``datasets`` (the claim's own if it names them and they were run)."""
    datasets = tuple(datasets)
    if rows is None or rows.empty:
        return Verdict(claim, "not measured", "no finished trials of this artifact yet", datasets=datasets)
    if value not in rows or rows[value].isna().all():
        return Verdict(claim, "not measured", f"`{value}` is not recorded in these trials", datasets=datasets)
    s = scores(rows, value, claim.measure, datasets)
    a = s[s["strategy"] == claim.better].set_index("seed")["score"]
    b = s[s["strategy"] == claim.worse].set_index("seed")["score"]
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]   # a seed with a non-finite score is not a measurement
    common = a.index.intersection(b.index)
    d = (a.loc[common] - b.loc[common]).to_numpy(float)
    v = Verdict(claim, "not measured", "", n=len(common), datasets=datasets,
                better=stats.mean_std(a) if len(a) else None, worse=stats.mean_std(b) if len(b) else None)
    if len(common) < 2:
        have = f"{len(a)} finished seed(s) of `{claim.better}`, {len(b)} of `{claim.worse}`"
        v.reason = f"{have}: a paired interval needs 2 or more seeds of both"
        if len(common) == 1:
            v.diff = (float(d[0]), np.nan, np.nan)
        return v
    mean = float(d.mean())
    if stats.all_equal(d):   # every seed differs by the same amount (up to rounding): no spread to test
        v.diff = (mean, mean, mean)
        if stats.all_equal(np.append(d, 0.0)):
            v.verdict = "does not agree"
            v.reason = (f"no difference in any of the {len(d)} seeds: `{claim.better}` is not above "
                        f"`{claim.worse}` (identical scores, not a lack of power)")
        else:
            v.verdict = "agrees" if mean > 0 else "does not agree"
            v.reason = (f"`{claim.better}` {'above' if mean > 0 else 'below'} `{claim.worse}` by the same "
                        f"{abs(mean):.2f} points in each of the {len(d)} seeds (no spread, no interval)")
        return v
    lo, hi = stats.t_interval(d)
    v.diff = (mean, lo, hi)
    ci = f"95 % CI [{lo:+.2f}, {hi:+.2f}] points over {len(d)} seeds"
    if lo > 0:
        v.verdict, v.reason = "agrees", f"`{claim.better}` above `{claim.worse}`: {ci}, above 0"
    elif hi < 0:
        v.verdict, v.reason = "does not agree", f"`{claim.better}` below `{claim.worse}`: {ci}, below 0"
    else:
        v.verdict = "inconclusive at this scale"
        v.reason = (f"{ci} contains 0 (mean {mean:+.2f}): the seeds' spread is too wide to tell the sign at "
                    "this scale")
    return v


def _score(ms) -> str:
    if ms is None or not ms[2]:
        return "—"
    return f"{ms[0]:.2f}" + (f" ± {ms[1]:.2f}" if ms[2] > 1 else "") + f" ({ms[2]} seed{'s' if ms[2] > 1 else ''})"


def table(verdicts: List[Verdict], compact: bool = False):
    """(header, rows) of the claims table, Markdown-ready: the report's full one, or (``compact``) the
    README's: the comparison, where, judged on, the paper's number, albench's Δ and the verdict alone."""
    if compact:
        head = ["claim: better > worse", "where", "judged on, measure", "paper", "albench Δ, points [95 % CI]",
                "verdict"]
    else:
        head = ["claim (paper)", "where", "paper", "judged on", "measure", "albench: better", "albench: worse",
                "Δ better − worse, points [95 % CI]", "verdict"]
    rows = []
    for v in verdicts:
        c = v.claim
        if v.diff is None:
            diff = "—"
        elif np.isnan(v.diff[1]):
            diff = f"{v.diff[0]:+.2f} (1 seed: no interval)"
        else:
            diff = f"{v.diff[0]:+.2f} [{v.diff[1]:+.2f}, {v.diff[2]:+.2f}]"
        on = ", ".join(f"`{d}`" for d in v.datasets) or "—"
        measure = c.measure + (f" ({c.metric})" if c.metric else "")
        if compact:
            seeds = f" ({v.n} seeds)" if v.n > 1 else ""
            note = " (not run by this profile)" if v.reason.startswith("this profile does not run") else ""
            rows.append([f"`{c.better}` > `{c.worse}`", c.where, f"{on}, {measure}", c.paper, diff + seeds,
                         f"**{v.verdict}**{note}"])
        else:
            rows.append([f"{c.statement}: `{c.better}` > `{c.worse}`", c.where, c.paper, on, measure,
                         _score(v.better), _score(v.worse), diff, f"**{v.verdict}**: {v.reason}"])
    return head, rows


def tally(verdicts: List[Verdict]) -> str:
    """One line: how many claims got each verdict."""
    n = {k: sum(v.verdict == k for v in verdicts) for k in VERDICTS}
    return "Tally: " + ", ".join(f"{k} {n[k]}" for k in VERDICTS if n[k]) + f" (of {len(verdicts)})."
