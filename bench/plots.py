"""Figures as pure functions of the results table (``bench.results.collect``); nothing here knows a strategy.

``make figures`` writes, per dataset, the accuracy curve (mean +- std band over seeds, one line per
strategy) and the class composition of the labelled pool per round, plus the paper's averaged panels
(Fig. 3(b) dominant, 3(d) rare) where their datasets exist, and a summary table.
"""
import io
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from bench.results import atomic_write, collect, safe_name, separate_precisions, summarise  # noqa: E402

# the paper's averaged panels: name -> datasets averaged (Fig. 3)
PANELS = {"fig3b_cifar10_dominant": ["cifar10_dom1", "cifar10_dom5", "cifar10_dom10"],
          "fig3d_cifar10_rare": ["cifar10_rare1", "cifar10_rare5", "cifar10_rare10"]}
# the runs the paper's figures need: (datasets, strategies) x seeds 0-2
PAPER_GRID = {"datasets": ["neu", "cifar10_dom1", "cifar10_dom5", "cifar10_dom10", "cifar100_dom45_55",
                           "cifar10_rare1", "cifar10_rare5", "cifar10_rare10", "cifar10", "cifar100"],
              "strategies": ["random", "coreset", "bald", "vaal", "vabal"], "seeds": [0, 1, 2]}


def accuracy_curve(df: pd.DataFrame, title: str = "", ax=None, metric: str = "accuracy"):
    """Test accuracy vs number of labels: mean over seeds, +- 1 std band, one line per strategy.
    Reference lines that read true labels (``reads_true_labels``) are dashed and marked in the legend."""
    df = df.copy()
    if "reads_true_labels" in df and df["reads_true_labels"].fillna(False).astype(bool).any():
        ref = df["reads_true_labels"].fillna(False).astype(bool)
        df.loc[ref, "strategy"] = df.loc[ref, "strategy"] + " (reads labels)"
    names = sorted(df["strategy"].unique())
    dashes = {s: (4, 2) if s.endswith("(reads labels)") else "" for s in names}
    ax = ax or plt.subplots(figsize=(9, 4) if len(names) > 4 else (6, 4))[1]
    n_seeds = df.groupby("strategy")["seed"].nunique()
    one = n_seeds.max() == 1
    sns.lineplot(data=df, x="n_labelled", y=metric, hue="strategy", style="strategy", hue_order=names,
                 style_order=names, markers=True, dashes=dashes, errorbar=None if one else "sd", ax=ax)
    seeds = f"{n_seeds.min()}" if n_seeds.min() == n_seeds.max() else f"{n_seeds.min()}-{n_seeds.max()}"
    what = "1 seed, no spread shown" if one else f"mean ± std over {seeds} seeds"
    ax.set(xlabel="number of labelled images", ylabel=metric.replace("_", " "),
           title=f"{title} ({what})" if title else what)
    ax.grid(alpha=0.3)
    if len(names) > 4:   # keep the curves readable: the legend goes beside the axes
        ax.legend(bbox_to_anchor=(1.02, 1), loc="upper left", fontsize="small", title="strategy")
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


def missing_runs(df: pd.DataFrame, grid=PAPER_GRID):
    """(dataset, strategy, seed) of the paper grid that have no finished results in ``df`` (a partial trial
    counts as missing)."""
    done = set()
    if not df.empty:
        fin = df[df["finished"].astype(bool)] if "finished" in df else df
        done = set(fin.groupby(["dataset", "strategy", "seed"]).size().index)
    return [(d, s, k) for d in grid["datasets"] for s in grid["strategies"] for k in grid["seeds"]
            if (d, s, k) not in done]


def make_figures(out: str = "results", fig_dir: str = None, verbose: bool = True) -> list:
    """Draw every figure the results under ``out`` allow; returns the paths written."""
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
    for name, members in PANELS.items():
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
        miss = missing_runs(df)
        if not df.empty and df["dataset"].isin(PAPER_GRID["datasets"]).any():   # say nothing of it after `make bench`
            print(f"\npaper grid: {len(miss)} of {len(missing_runs(df.iloc[0:0]))} runs missing"
                  + (": " + ", ".join(f"{d}/{s}/seed{k}" for d, s, k in miss[:12])
                     + (" ..." if len(miss) > 12 else "") if miss else ""))
        for p in written:
            print("wrote", p)
    return written


def format_summary(summary: pd.DataFrame) -> str:
    """The summary as text: mean ± sample std over finished seeds (the mean alone for one seed, '-' for none)."""
    t = summary.copy()
    for c in ("avg_acc", "final_acc"):
        t[c] = ["-" if pd.isna(m) else f"{m:.4f}" if pd.isna(s) else f"{m:.4f} ± {s:.4f}"
                for m, s in zip(t[c], t[c + "_std"])]
    t = t.drop(columns=["avg_acc_std", "final_acc_std"])
    return t.to_string(index=False, float_format=lambda v: f"{v:.4f}")
