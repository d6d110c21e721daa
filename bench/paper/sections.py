"""The report's numbers in prose and tables: percentages with their spread, per-round differences with paired
intervals (``curve_stats``), and win/tie/loss counts (``wtl_section``)."""
import numpy as np
import pandas as pd

from bench.analysis import stats

NOT_DEPLOYABLE = " (reads true labels: not deployable)"


# ---------------------------------------------------------------------------------------------- formatting
def plural(n, word) -> str:
    """'1 trial', '2 trials'."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def pct(v, sign=False) -> str:
    return "—" if v is None or not np.isfinite(v) else f"{100 * v:+.2f}" if sign else f"{100 * v:.2f}"


def pm(values) -> str:
    """'mean ± std' in % over seeds; the mean alone, marked, for one seed; '—' for none."""
    m, s, _ = stats.mean_std(values)   # no value: m is NaN; one: s is NaN
    return pm_of(m, s)


def pm_of(m, s, digits: int = 2, scale: float = 100.0) -> str:
    """``pm`` of a mean and a spread already computed, times ``scale`` (100: in %) to ``digits`` decimals."""
    if m is None or not np.isfinite(m):
        return "—"
    spread = s is not None and np.isfinite(s)
    return f"{scale * m:.{digits}f}" + (f" ± {scale * s:.{digits}f}" if spread else " (1 seed)")


def label_of(s, ref) -> str:
    return s + NOT_DEPLOYABLE if ref.get(s) else s


def as_bool(col) -> pd.Series:
    return col.map(lambda v: str(v).strip().lower() in ("true", "1", "1.0"))


# ---------------------------------------------------------------------------------------------- statistics
def spread_note(curve) -> str:
    n = curve.groupby("strategy")["seed"].nunique()
    if n.empty:
        return ""
    seeds = f"{n.min()}" if n.min() == n.max() else f"{n.min()}-{n.max()}"
    return f"mean ± std over {seeds} seed(s)" if n.max() > 1 else "1 seed: no spread, interval or test available"


def curve_stats(doc, curve, order, ref, baseline, unit):
    """Mean ± std per round, the normalised AUC, and each strategy minus the baseline paired by seed."""
    xs = sorted(curve["n_labelled"].unique())
    head = ["strategy", "seeds"] + [f"{x:g}" for x in xs]
    rows = []
    for s in order:
        g = curve[curve["strategy"] == s]
        if g.empty:
            continue
        rows.append([label_of(s, ref), g["seed"].nunique()]
                    + [pm(g.loc[g["n_labelled"] == x, "value"]) for x in xs])
    doc.p(f"{unit} per number of labelled images (columns), mean ± sample std over seeds:")
    doc.table(head, rows)

    auc = stats.auc_per_seed(curve, "value")
    has_base = baseline in set(curve["strategy"])
    diff = stats.paired_differences(auc.assign(k=0), baseline, "auc", keys=["k"]) if has_base else None
    rows = []
    for s in order:
        a = auc[auc["strategy"] == s]
        if a.empty:
            continue
        row = [label_of(s, ref), len(a), pm(a["auc"])]
        if has_base:
            row.append("(baseline)" if s == baseline else diff_cell(diff[diff["strategy"] == s]))
        rows.append(row)
    doc.p(f"Normalised area under the {unit} vs labels curve (trapezoid over the number of labelled images "
          "divided by its range; the curve's mean height), mean ± std over seeds"
          + (f", and its difference from `{baseline}` paired by seed with a 95 % t-interval:" if has_base else ":"))
    doc.table(["strategy", "seeds", "normalised AUC"] + ([f"Δ vs {baseline} [95 % CI]"] if has_base else []), rows)

    if not has_base:
        doc.p(f"No paired differences: the baseline `{baseline}` is not among these strategies (or has no "
              "finished trials).")
        return
    d = stats.paired_differences(curve, baseline, "value", keys=["n_labelled"])
    rows = [[label_of(s, ref)] + [diff_cell(d[(d["strategy"] == s) & (d["n_labelled"] == x)]) for x in xs]
            for s in order if s != baseline and (d["strategy"] == s).any()]
    doc.p(f"{unit} minus `{baseline}`, paired by seed (same seed = same initial pool), in percentage points: "
          "mean [95 % t-interval over seeds]:")
    doc.table(["strategy"] + [f"{x:g}" for x in xs], rows)


def diff_cell(d) -> str:
    if d.empty or d["n"].iloc[0] == 0:
        return "—"
    r = d.iloc[0]
    if r["n"] < 2:
        return f"{pct(r['mean'], True)} (1 seed: interval not available)"
    return f"{pct(r['mean'], True)} [{pct(r['lo'], True)}, {pct(r['hi'], True)}]"


def wtl_section(doc, cells, order, ref, differences="the curves' paired differences above"):
    """The pairwise win/tie/loss matrix over (dataset, round) cells; ``differences``: where the page shows the
    paired differences the matrix's ties are read against."""
    order = [s for s in order if s in set(cells["strategy"])]
    cells = cells[cells["round"] > 0]   # round 0: every strategy has the same initial pool, a tie by construction
    wins, tested = stats.win_tie_loss(cells, "value", cell=("dataset", "round"), order=order)
    if int(tested.to_numpy().sum()) == 0:
        doc.p("Win/tie/loss matrix: not available (no (dataset, round) cell has 2 or more seeds of both "
              "strategies of a pair).")
        return
    untested = [s for s in order if tested.loc[s].sum() == 0]   # fewer than 2 seeds beside every other
    order = [s for s in order if s not in untested]
    rows = []
    for a in order:
        w, tt, ll = wins.loc[a].sum(), tested.loc[a].sum(), wins[a].sum()
        rows.append([label_of(a, ref)] + ["·" if a == b else "—" if tested.loc[a, b] == 0 else
                                        f"{wins.loc[a, b]}/{tested.loc[a, b] - wins.loc[a, b] - wins.loc[b, a]}"
                                        f"/{wins.loc[b, a]}" for b in order] + [f"{w}/{tt - w - ll}/{ll}"])
    n_cells = cells.groupby(["dataset", "round"]).ngroups
    dashed = any(tested.loc[a, b] == 0 for a in order for b in order if a != b)
    doc.p(f"Pairwise win/tie/loss over {n_cells} (dataset, round) cells after round 0 (where every strategy has "
          "the same initial pool): row A vs column B, A wins a cell when "
          "its mean is higher and a paired two-sided t-test over seeds rejects equality at 0.05 (as BADGE's "
          "paper summarises benchmarks, without its 1/L weighting); cells with fewer than 2 common seeds are "
          "not counted" + (" (—: no cell counted for the pair)" if dashed else "") + ". Entries are "
          "wins/ties/losses of the row; with 3 seeds a single round's test has little power, so ties dominate "
          f"where {differences} are still positive."
          + (" Not in the matrix (fewer than 2 seeds in common with any other strategy in any cell): "
             + ", ".join(f"`{label_of(s, ref)}`" for s in untested) + "." if untested else ""))
    doc.table(["A \\ B"] + order + ["total"], rows)
