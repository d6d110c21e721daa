"""Figures, one drawing code for every accuracy curve albench draws: ``albench figures`` (per dataset, and the
paper's averaged panels) and the paper report (``bench.paper.draw``) both call ``draw_curves``. Pure functions
of the results table (``bench.analysis.collect.collect``); nothing here knows a strategy or the paper's datasets
(``make_figures`` is given the panels and the grid to check by its caller).
"""
import io
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from bench.analysis import stats  # noqa: E402
from bench.analysis.collect import (  # noqa: E402
    collect,
    format_summary,
    per_seed_curve,
    separate_precisions,
    summarise,
)
from bench.trial.store import atomic_write, safe_name  # noqa: E402

MARKERS = "osD^vPX*<>"


def styles_for(labels):
    """One colour and marker per strategy label for the whole report (labels in manifest order): tab10, then
    tab20's lighter shades."""
    colours = list(plt.get_cmap("tab10").colors) + list(plt.get_cmap("tab20").colors[1::2])
    return {s: (colours[i % len(colours)], MARKERS[i % len(MARKERS)]) for i, s in enumerate(labels)}


# ---------------------------------------------------------------------------------------------- figures
def draw_curves(ax, curve, order, ref, title, ylabel, styles=None, spread=True):
    """Mean +- std over seeds of ``curve`` (columns strategy, seed, round, n_labelled, value: ``per_seed_curve``),
    one line per strategy in ``order``; a reference that reads true labels (``ref[label]``) is dashed."""
    sty = {**styles_for(order), **(styles or {})}
    table = stats.curve_table(curve, "value")
    for s in order:
        g = table[table["strategy"] == s].sort_values("n_labelled")
        if g.empty:
            continue
        color, marker = sty[s]
        x, m, sd = g["n_labelled"].to_numpy(), 100 * g["mean"].to_numpy(), 100 * g["std"].to_numpy()
        ax.plot(x, m, "--" if ref.get(s) else "-", color=color, marker=marker, ms=4, lw=1.4,
                label=s + (" (reads labels)" if ref.get(s) else ""))
        if spread and (g["n"] > 1).all():
            ax.fill_between(x, m - sd, m + sd, color=color, alpha=0.15, lw=0)
    ax.set_title(title, fontsize="medium")
    ax.set(xlabel="number of labelled images", ylabel=ylabel)
    ax.grid(alpha=0.3)


def panels(n, width=4.2, height=3.2, ncols=3, sharey=False):
    """A figure with ``n`` axes, ``ncols`` a row; the unused cells hidden."""
    ncols = min(n, ncols)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, sharey=sharey)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def legend(fig, axes):
    """One legend for the whole figure, below its panels."""
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), bbox_to_anchor=(0.5, -0.02),
                   fontsize="small", frameon=False)
        fig.tight_layout(rect=(0, 0.06 if len(axes) > 1 else 0.1, 1, 1))


def accuracy_curve(df: pd.DataFrame, title: str = "", ax=None, metric: str = "accuracy"):
    """Test ``metric`` vs number of labels: per seed averaged over the datasets in ``df``, then mean +- 1 std
    over seeds, one line per strategy. Reference lines that read true labels (``reads_true_labels``) are
    dashed and marked in the legend."""
    names = sorted(df["strategy"].unique())
    ref = {}
    if "reads_true_labels" in df:
        flags = df["reads_true_labels"].fillna(False).astype(bool)
        ref = {s: bool(flags[df["strategy"] == s].any()) for s in names}
    curve, _ = per_seed_curve(df, sorted(df["dataset"].unique()), metric)
    n_seeds = curve.groupby("strategy")["seed"].nunique()
    one = n_seeds.max() == 1
    seeds = f"{n_seeds.min()}" if n_seeds.min() == n_seeds.max() else f"{n_seeds.min()}-{n_seeds.max()}"
    what = "1 seed, no spread shown" if one else f"mean ± std over {seeds} seeds"
    ax = ax or plt.subplots(figsize=(9, 4) if len(names) > 4 else (6, 4))[1]
    draw_curves(ax, curve, names, ref, f"{title} ({what})" if title else what, metric.replace("_", " ") + " (%)",
                spread=not one)
    loc = dict(bbox_to_anchor=(1.02, 1), loc="upper left") if len(names) > 4 else {}  # readable curves
    ax.legend(fontsize="small", title="strategy", **loc)
    ax.figure.tight_layout()
    return ax.figure


def class_composition(df: pd.DataFrame, title: str = ""):
    """Share of each class in the labelled pool per round, one panel per strategy (mean over seeds)."""
    cols = [c for c in df.columns if c.startswith("count_") and df[c].notna().any()]
    strategies = sorted(df["strategy"].unique())
    fig, axes = plt.subplots(1, len(strategies), figsize=(3.2 * len(strategies), 3.2), sharey=True, squeeze=False)
    for ax, s in zip(axes[0], strategies):
        sub = df[df["strategy"] == s].groupby("round")[cols].mean()
        share = sub.div(sub.sum(axis=1), axis=0)
        share.columns = [c[len("count_"):] for c in cols]
        share.plot.bar(stacked=True, ax=ax, legend=False, width=0.85, colormap="tab20")
        ax.set(title=s, xlabel="round", ylabel="share of labelled pool")
    axes[0][-1].legend(bbox_to_anchor=(1.02, 1), loc="upper left", fontsize="small", title="class")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def missing_runs(df: pd.DataFrame, grid: dict):
    """(dataset, strategy, seed) of ``grid`` (datasets, strategies, seeds) that have no finished results in
    ``df`` (a partial trial counts as missing)."""
    done = set()
    if not df.empty:
        fin = df[df["finished"].astype(bool)] if "finished" in df else df
        done = set(fin.groupby(["dataset", "strategy", "seed"]).size().index)
    return [(d, s, k) for d in grid["datasets"] for s in grid["strategies"] for k in grid["seeds"]
            if (d, s, k) not in done]


def make_figures(out: str = "results", fig_dir: str = None, verbose: bool = True, panels: dict = None,
                 grid: dict = None) -> list:
    """Draw every figure the results under ``out`` allow, and the averaged ``panels`` (name -> datasets) whose
    datasets have results; with ``grid``, say which of its runs are missing. Returns the paths written."""
    fig_dir = fig_dir or os.path.join(out, "figures")
    os.makedirs(fig_dir, exist_ok=True)
    full = separate_precisions(collect(out))
    partial = full[~full["finished"].astype(bool)] if not full.empty else full
    df = full[full["finished"].astype(bool)] if not full.empty else full   # partial trials: listed, never drawn
    written = []

    def save(fig, name):
        path = os.path.join(fig_dir, name)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
        plt.close(fig)
        atomic_write(path, buf.getvalue())
        written.append(path)

    for dataset, sub in df.groupby("dataset"):
        save(accuracy_curve(sub, dataset), f"accuracy_{safe_name(dataset)}.png")
        save(class_composition(sub, dataset), f"composition_{safe_name(dataset)}.png")
    for name, members in (panels or {}).items():
        sub = df[df["dataset"].isin(members)]
        if not sub.empty:
            save(accuracy_curve(sub, f"{name}: mean of {', '.join(sorted(sub['dataset'].unique()))}"), f"{name}.png")
    summary = summarise(full)
    if not summary.empty:
        atomic_write(os.path.join(fig_dir, "summary.csv"), summary.to_csv(index=False))
        written.append(os.path.join(fig_dir, "summary.csv"))
    if verbose:
        print(format_summary(summary) if not summary.empty else f"no finished results under {out}")
        if not partial.empty:
            names = sorted({f"{d}/{s}/seed{k}" for d, s, k in partial[["dataset", "strategy", "seed"]].values})
            print("partial trials (not drawn, not averaged; rerun the same command to finish them): "
                  + ", ".join(names))
        miss = missing_runs(df, grid) if grid else []
        if grid and not df.empty and df["dataset"].isin(grid["datasets"]).any():   # nothing after `make bench`
            print(f"\npaper grid: {len(miss)} of {len(missing_runs(df.iloc[0:0], grid))} runs missing"
                  + (": " + ", ".join(f"{d}/{s}/seed{k}" for d, s, k in miss[:12])
                     + (" ..." if len(miss) > 12 else "") if miss else ""))
        for p in written:
            print("wrote", p)
    return written


