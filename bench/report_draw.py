"""How each kind of artifact is drawn in the paper report (the manifest's ``draw``: curve, mean_curve,
sweep_curve, table, top_images, rare_share, per_trial), from the finished trials of an artifact read from
the results tree (``Tree``, ``gather``). Each ``draw_*(doc, art, trials, ctx)`` adds its figures, tables
and statistics (``bench.stats``) to the document; ``DRAW`` maps a kind to its function."""
import glob
import json
import os
from collections import Counter, OrderedDict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench import stats  # noqa: E402
from bench.errors import ConfigError  # noqa: E402
from bench.results import LEGACY_IDENTITY, collect, trial_dir  # noqa: E402
MARKERS = "osD^vPX*<>"
NOT_DEPLOYABLE = " (reads true labels: not deployable)"


# ---------------------------------------------------------------------------------------------- formatting
def _pct(v, sign=False) -> str:
    return "—" if v is None or not np.isfinite(v) else f"{100 * v:+.2f}" if sign else f"{100 * v:.2f}"


def _pm(values) -> str:
    """'mean ± std' in % over seeds; the mean alone, marked, for one seed; '—' for none."""
    m, s, n = stats.mean_std(values)
    if n == 0:
        return "—"
    return f"{_pct(m)} ± {_pct(s)}" if n > 1 else f"{_pct(m)} (1 seed)"


def _label(s, ref) -> str:
    return s + NOT_DEPLOYABLE if ref.get(s) else s


def _styles(labels):
    """One colour and marker per strategy label for the whole report (labels in manifest order): tab10, then
    tab20's lighter shades."""
    colours = list(plt.get_cmap("tab10").colors) + list(plt.get_cmap("tab20").colors[1::2])
    return {s: (colours[i % len(colours)], MARKERS[i % len(MARKERS)]) for i, s in enumerate(labels)}


def _as_bool(col) -> pd.Series:
    return col.map(lambda v: str(v).strip().lower() in ("true", "1", "1.0"))


# ---------------------------------------------------------------------------------------------- results
class Tree:
    """The results of one profile's root, read once per group: rows (``collect``) and each trial's config."""

    def __init__(self, root):
        self.root, self._groups, self.unreadable = root, {}, []

    def group(self, group):
        if group not in self._groups:
            out = os.path.join(self.root, group)
            df = collect(out)
            configs = {}
            if not df.empty:
                df["seed"] = df["seed"].astype(int)
                df["reads_true_labels"] = (_as_bool(df["reads_true_labels"]) if "reads_true_labels" in df
                                           else False)
                for d, s, k in df[["dataset", "strategy", "seed"]].drop_duplicates().itertuples(index=False):
                    try:
                        with open(os.path.join(trial_dir(out, d, s, k), "config.json")) as f:
                            configs[(d, s, int(k))] = json.load(f)
                    except (OSError, ValueError):
                        configs[(d, s, int(k))] = {}
            read = {trial_dir(out, d, s, k) for d, s, k in configs}
            on_disk = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(out, "*", "*", "seed*", "rounds.csv")))
            self.unreadable += [p for p in on_disk if p not in read]   # collect() left them out
            self._groups[group] = (df, configs)
        return self._groups[group]


class Trials:
    """An artifact's trials: the rows of the finished ones made under the profile's configuration, and
    the expected trials that are missing, partial, or made under another configuration."""

    def __init__(self):
        self.frames, self.expected, self.missing, self.partial, self.other = [], [], [], [], []
        self.configs = {}

    @property
    def rows(self) -> pd.DataFrame:
        return pd.concat(self.frames, ignore_index=True) if self.frames else pd.DataFrame()


def _mismatch(identity: dict, cfg) -> str:
    """The identity fields the profile's configuration fixes in which a trial differs from it (such a trial is
    not used: e.g. one made in another precision is never mixed into the profile's tables)."""
    if cfg is None:
        return ""
    from bench.loop import config_identity

    want = json.loads(json.dumps(config_identity(cfg)))
    want.pop("dataset")
    identity = {**LEGACY_IDENTITY, **identity}
    return ", ".join(f"{k}={identity.get(k)!r} (profile: {want[k]!r})" for k in want
                     if k in identity and identity[k] != want[k])


def gather(art, tree: Tree, root: str, seeds=None) -> Trials:
    t = Trials()
    for run in art.runs:
        try:
            expected = dict(run.configs(root))
        except (ConfigError, TypeError, ValueError):
            expected = {}
        df, configs = tree.group(run.group)
        for d in run.datasets:
            for s in run.strategies:
                for k in run.seeds:
                    if seeds is not None and k not in seeds:
                        continue
                    key = (run.group, d, s, k)
                    t.expected.append(key)
                    sub = df[(df["dataset"] == d) & (df["strategy"] == s) & (df["seed"] == k)] if not df.empty \
                        else df
                    if sub.empty:
                        t.missing.append(key)
                        continue
                    conf = configs.get((d, s, k), {})
                    t.configs[key] = conf
                    identity = conf.get("identity") or {}
                    why = _mismatch(identity, expected.get(d))
                    if why:
                        t.other.append((key, why))
                    elif not _as_bool(sub["finished"]).all():
                        t.partial.append((key, int(sub["round"].max()), identity.get("rounds")))
                    else:
                        t.frames.append(sub.assign(group=run.group, sweep=run.sweep))
    return t


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


# ---------------------------------------------------------------------------------------------- figures
def _draw_curves(ax, curve, order, ref, title, ylabel, styles, spread=True):
    sty = {**_styles(order), **styles}
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


def _panels(n, width=4.2, height=3.2, ncols=3, sharey=False):
    ncols = min(n, ncols)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, sharey=sharey)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _legend(fig, axes):
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), bbox_to_anchor=(0.5, -0.02),
                   fontsize="small", frameon=False)
        fig.tight_layout(rect=(0, 0.06 if len(axes) > 1 else 0.1, 1, 1))


# ---------------------------------------------------------------------------------------------- statistics
def _spread_note(curve) -> str:
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
        rows.append([_label(s, ref), g["seed"].nunique()]
                    + [_pm(g.loc[g["n_labelled"] == x, "value"]) for x in xs])
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
        row = [_label(s, ref), len(a), _pm(a["auc"])]
        if has_base:
            row.append("(baseline)" if s == baseline else _diff_cell(diff[diff["strategy"] == s]))
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
    rows = [[_label(s, ref)] + [_diff_cell(d[(d["strategy"] == s) & (d["n_labelled"] == x)]) for x in xs]
            for s in order if s != baseline and (d["strategy"] == s).any()]
    doc.p(f"{unit} minus `{baseline}`, paired by seed (same seed = same initial pool), in percentage points: "
          "mean [95 % t-interval over seeds]:")
    doc.table(["strategy"] + [f"{x:g}" for x in xs], rows)


def _diff_cell(d) -> str:
    if d.empty or d["n"].iloc[0] == 0:
        return "—"
    r = d.iloc[0]
    if r["n"] < 2:
        return f"{_pct(r['mean'], True)} (1 seed: interval not available)"
    return f"{_pct(r['mean'], True)} [{_pct(r['lo'], True)}, {_pct(r['hi'], True)}]"


def wtl_section(doc, cells, order, ref):
    """The pairwise win/tie/loss matrix over (dataset, round) cells."""
    order = [s for s in order if s in set(cells["strategy"])]
    cells = cells[cells["round"] > 0]   # round 0: every strategy has the same initial pool, a tie by construction
    wins, tested = stats.win_tie_loss(cells, "value", cell=("dataset", "round"), order=order)
    if int(tested.to_numpy().sum()) == 0:
        doc.p("Win/tie/loss matrix: not available (no (dataset, round) cell has 2 or more seeds of both "
              "strategies of a pair).")
        return
    rows = []
    for a in order:
        w, tt, ll = wins.loc[a].sum(), tested.loc[a].sum(), wins[a].sum()
        rows.append([_label(a, ref)] + ["·" if a == b else
                                        f"{wins.loc[a, b]}/{tested.loc[a, b] - wins.loc[a, b] - wins.loc[b, a]}"
                                        f"/{wins.loc[b, a]}" for b in order] + [f"{w}/{tt - w - ll}/{ll}"])
    n_cells = cells.groupby(["dataset", "round"]).ngroups
    doc.p(f"Pairwise win/tie/loss over {n_cells} (dataset, round) cells after round 0 (where every strategy has "
          "the same initial pool): row A vs column B, A wins a cell when "
          "its mean is higher and a paired two-sided t-test over seeds rejects equality at 0.05 (as BADGE's "
          "paper summarises benchmarks, without its 1/L weighting); cells with fewer than 2 common seeds are "
          "not counted. Entries are wins/ties/losses of the row; with 3 seeds a single round's test has little "
          "power, so ties dominate where the curves' paired differences above are still positive.")
    doc.table(["A \\ B"] + order + ["total"], rows)


# ---------------------------------------------------------------------------------------------- draw kinds
def _dashed(ref) -> str:
    return " (dashed: reads true labels)" if any(ref.values()) else ""


def _refs(rows):
    if rows.empty:
        return {}
    return rows.groupby("strategy")["reads_true_labels"].any().to_dict()


def _value(art):
    return art.metric


def _unit(art):
    return f"{art.metric.replace('_', ' ')} (%)"


def draw_curve(doc, art, t, ctx):
    rows, order, ref = t.rows, list(art.runs[0].strategies), _refs(t.rows)
    datasets = [d for d in dict.fromkeys(d for r in art.runs for d in r.datasets) if (rows["dataset"] == d).any()]
    fig, axes = _panels(len(datasets))
    curves = {}
    for ax, d in zip(axes, datasets):
        curves[d], _ = per_seed_curve(rows, [d], _value(art))
        _draw_curves(ax, curves[d], order, ref, f"{d}\n{_spread_note(curves[d])}", _unit(art), ctx.styles)
    _legend(fig, axes)
    doc.figure(ctx.fig_name(art), fig, f"{art.title}: {_unit(art)} vs labels, mean ± std over seeds"
               + _dashed(ref) + ".")
    for d in datasets:
        doc.h(3, f"`{d}`")
        curve_stats(doc, curves[d], order, ref, ctx.baseline, _unit(art))
    wtl_section(doc, rows.rename(columns={_value(art): "value"}), order, ref)


def draw_mean_curve(doc, art, t, ctx):
    rows, order, ref = t.rows, list(art.runs[0].strategies), _refs(t.rows)
    datasets = list(dict.fromkeys(d for r in art.runs for d in r.datasets))
    curve, left = per_seed_curve(rows, datasets, _value(art))
    if left:
        doc.p("Left out of the mean (not finished on every dataset of the mean): "
              + "; ".join(f"`{s}` seed {k} (missing {', '.join(m)})" for s, k, m in left) + ".")
    if curve.empty:
        doc.p("No (strategy, seed) is finished on every dataset of the mean: nothing to draw.")
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    what = f"mean of {len(datasets)} datasets" if len(datasets) > 1 else datasets[0]
    _draw_curves(ax, curve, order, ref, f"{what}\n{_spread_note(curve)}", _unit(art), ctx.styles)
    ax.legend(fontsize="small")
    doc.figure(ctx.fig_name(art), fig, f"{art.title}: per seed the mean over {', '.join(datasets)}, then mean ± "
               "std over seeds" + _dashed(ref) + ".")
    curve_stats(doc, curve, order, ref, ctx.baseline, _unit(art))
    wtl_section(doc, rows.rename(columns={_value(art): "value"}), order, ref)


def draw_sweep_curve(doc, art, t, ctx):
    rows, order, ref = t.rows, list(art.runs[0].strategies), _refs(t.rows)
    items = OrderedDict()
    for r in art.runs:
        items.setdefault(r.sweep, []).extend(r.datasets)
    items = [(k, list(dict.fromkeys(v))) for k, v in items.items() if (rows["sweep"] == k).any()]
    fig, axes = _panels(len(items))
    curves = []
    for ax, (item, datasets) in zip(axes, items):
        sub = rows[rows["sweep"] == item]
        curve, left = per_seed_curve(sub, datasets, _value(art))
        curves.append((item, datasets, sub, curve, left))
        _draw_curves(ax, curve, order, ref, f"{item or 'default'}\n{_spread_note(curve)}", _unit(art), ctx.styles)
    _legend(fig, axes)
    doc.figure(ctx.fig_name(art), fig, f"{art.title}: one panel per sweep item, per seed the mean over its "
               "datasets, then mean ± std over seeds.")
    for item, datasets, sub, curve, left in curves:
        doc.h(3, f"`{item or 'default'}` (mean of {', '.join(datasets)})")
        if left:
            doc.p("Left out of the mean (not finished on every dataset): "
                  + "; ".join(f"`{s}` seed {k} (missing {', '.join(m)})" for s, k, m in left) + ".")
        if not curve.empty:
            curve_stats(doc, curve, order, ref, ctx.baseline, _unit(art))
        wtl_section(doc, sub.rename(columns={_value(art): "value"}), order, ref)


def draw_per_trial(doc, art, t, ctx):
    rows, order, ref = t.rows, list(art.runs[0].strategies), _refs(t.rows)
    datasets = [d for d in dict.fromkeys(d for r in art.runs for d in r.datasets) if (rows["dataset"] == d).any()]
    aucs = {}
    for d in datasets:
        curve, _ = per_seed_curve(rows, [d], _value(art))
        aucs[d] = stats.auc_per_seed(curve, "value")
        seeds = sorted(curve["seed"].unique())
        fig, axes = _panels(1 + len(seeds), width=3.6, height=2.8, ncols=4, sharey=True)
        _draw_curves(axes[0], curve, order, ref, f"{d}: mean ± std", _unit(art), ctx.styles)
        for ax, k in zip(axes[1:], seeds):
            _draw_curves(ax, curve[curve["seed"] == k], order, ref, f"{d}: seed {k}", _unit(art), ctx.styles,
                         spread=False)
        _legend(fig, axes)
        doc.figure(ctx.fig_name(art), fig, f"`{d}`: the mean over seeds, then one panel per seed (trial).")
    rows_t = [[_label(s, ref)] + [_pm(aucs[d].loc[aucs[d]["strategy"] == s, "auc"]) for d in datasets]
              for s in order]
    doc.p(f"Normalised area under each dataset's {_unit(art)} curve, mean ± std over seeds:")
    doc.table(["strategy"] + [f"`{d}`" for d in datasets], rows_t)
    wtl_section(doc, rows.rename(columns={_value(art): "value"}), order, ref)


def draw_table(doc, art, t, ctx):
    rows, order, ref, value = t.rows, list(art.runs[0].strategies), _refs(t.rows), art.metric
    last = rows["round"] == rows.groupby(["dataset", "strategy", "seed"])["round"].transform("max")
    per_seed = rows.groupby(["dataset", "strategy", "seed"]).agg(avg=(value, "mean")).reset_index()
    final = rows[last].set_index(["dataset", "strategy", "seed"])[value]
    per_seed["final"] = final.reindex(pd.MultiIndex.from_frame(per_seed[["dataset", "strategy", "seed"]])).to_numpy()
    paper = art.paper or {}
    cols = list(paper.get("columns") or ["avg", "final"])
    prow = paper.get("rows") or {}
    subst = ctx.profile.raw.get("datasets") or {}
    paper_ds = list(dict.fromkeys(p for r in prow.values() for p in r))
    datasets = list(dict.fromkeys(d for r in art.runs for d in r.datasets))
    out, matched = [], []
    for d in datasets:
        pcols = [p for p in paper_ds if subst.get(p, p) == d]
        if pcols and pcols[0] != d:
            matched.append(f"`{pcols[0]}` → `{d}`")
        for s in order:
            g = per_seed[(per_seed["dataset"] == d) & (per_seed["strategy"] == s)]
            nums = (prow.get(s) or {}).get(pcols[0]) if pcols else None
            pap = [f"{nums[cols.index(c)]:.2f}" if nums and c in cols and cols.index(c) < len(nums)
                   and nums[cols.index(c)] is not None else "—" for c in ("avg", "final")]
            out.append([f"`{d}`", f"`{pcols[0]}`" if pcols else "—", _label(s, ref), len(g),
                        _pm(g["avg"]), pap[0], _pm(g["final"]), pap[1]])
    unit = value.replace("_", " ")
    doc.p(f"{unit} in %, per seed the average over all rounds (avg) and the last round (final), then mean ± "
          "sample std over finished seeds; the paper's numbers (the manifest's `paper` block) beside them.")
    if matched:
        doc.p("This profile substitutes datasets: albench's rows are matched to the paper's columns through the "
              f"profile's `datasets` mapping ({', '.join(matched)}); the paper's numbers are for the original "
              "datasets and are shown for reference, not as a target at this scale.")
    not_run = [p for p in paper_ds if subst.get(p, p) not in datasets]
    if not_run:
        doc.p(f"Paper columns not run under this profile: {', '.join(f'`{p}`' for p in not_run)}.")
    doc.table(["dataset", "paper's column", "strategy", "seeds", "avg (albench)", "avg (paper)",
               "final (albench)", "final (paper)"], out)


def _dominant(spec):
    from bench import import_datasets

    try:
        p = import_datasets().parse_spec(spec)
    except (KeyError, ValueError):
        return None
    return tuple(p.value) if p.kind == "dom" else None


def rare_shares(art, t):
    """Per dominant dataset of ``art`` with results: (its rows with ``value`` = the share of every class but
    the dominant one(s) in the labelled pool, the dominant class names); and notes on datasets left out."""
    rows = t.rows
    if rows.empty:   # no finished trial yet
        return {}, []
    datasets = [d for d in dict.fromkeys(d for r in art.runs for d in r.datasets) if (rows["dataset"] == d).any()]
    shares, notes = {}, []
    for d in datasets:
        dom = _dominant(d)
        sub = rows[rows["dataset"] == d]
        classes = next((c.get("classes") for k, c in t.configs.items() if k[1] == d and c.get("classes")), None)
        if dom is None or classes is None:
            notes.append(f"`{d}`: " + ("no dominant class in its spec" if dom is None else "class names unknown"))
            continue
        cols = [f"count_{classes[i]}" for i in dom]
        if not set(cols) <= set(sub.columns):
            notes.append(f"`{d}`: class-count columns {', '.join(cols)} not recorded")
            continue
        shares[d] = (sub.assign(value=1 - sub[cols].sum(axis=1) / sub["n_labelled"]),
                     ", ".join(classes[i] for i in dom))
    return shares, notes


def draw_rare_share(doc, art, t, ctx):
    order, ref = list(art.runs[0].strategies), _refs(t.rows)
    shares, notes = rare_shares(art, t)
    if notes:
        doc.p("Not drawn: " + "; ".join(notes) + ".")
    if not shares:
        return
    fig, axes = _panels(len(shares))
    for ax, (d, (sub, dom)) in zip(axes, shares.items()):
        _draw_curves(ax, sub, order, ref, f"{d} (dominant: {dom})", "share of non-dominant classes (%)", ctx.styles)
    _legend(fig, axes)
    doc.figure(ctx.fig_name(art), fig, f"{art.title}: share of every class but the dominant one in the labelled "
               "pool, mean ± std over seeds.")
    for d, (sub, dom) in shares.items():
        xs = sorted(sub["n_labelled"].unique())
        doc.p(f"`{d}` (dominant class {dom}): share of the other classes in the labelled pool (%), mean ± std "
              "over seeds, per number of labelled images:")
        doc.table(["strategy"] + [f"{x:g}" for x in xs],
                  [[_label(s, ref)] + [_pm(sub.loc[(sub["strategy"] == s) & (sub["n_labelled"] == x), "value"])
                                       for x in xs] for s in order if (sub["strategy"] == s).any()])


def _records(path):
    out = []
    try:
        with open(os.path.join(path, "rounds.jsonl"), errors="replace") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    break
    except OSError:
        pass
    return out


def draw_top_images(doc, art, t, ctx):
    n, rnd, seed = int(art.options.get("n", 10)), int(art.options.get("round", 0)), int(art.options.get("seed", 0))
    found, notes = [], []
    partial = {k for k, *_ in t.partial}
    for key, conf in t.configs.items():
        group, d, s, k = key
        if key in {k2 for k2, _ in t.other}:
            continue
        rec = next((r for r in _records(trial_dir(os.path.join(ctx.root, group), d, s, k))
                    if r.get("round") == rnd), None)
        if rec is None or not rec.get("selected"):
            notes.append(f"`{d}/{s}` seed {k}: no selection recorded after round {rnd}")
            continue
        ds, err = ctx.dataset(d, k, conf)
        if ds is None:
            notes.append(f"`{d}/{s}` seed {k}: the dataset could not be loaded ({err}), so its images cannot be "
                         "shown; selected indices " + ", ".join(map(str, rec["selected"][:n])))
            continue
        idx = np.asarray(rec["selected"][:n], dtype=np.int64)
        if idx.max() >= len(ds.y_train) or (rec.get("selected_classes") and
                                            list(ds.y_train[idx]) != list(rec["selected_classes"][:n])):
            notes.append(f"`{d}/{s}` seed {k}: the dataset loaded here is not the copy the trial used (its labels "
                         "disagree with the recorded classes); images not shown")
            continue
        fp = (conf.get("identity") or {}).get("data_fingerprint")
        if fp and getattr(ds, "fingerprint", "") and fp != ds.fingerprint:
            notes.append(f"`{d}/{s}` seed {k}: data fingerprint {ds.fingerprint} differs from the trial's {fp} "
                         "(labels agree; the pixels may differ)")
        found.append((d, s, k, ds, idx, key in partial))
    if notes:
        doc.items(notes)
    if not found:
        return
    order = {s: i for i, s in enumerate(art.runs[0].strategies)}
    found.sort(key=lambda f: (f[0], order.get(f[1], 99)))
    fig, axes = plt.subplots(len(found), n, figsize=(1.1 * n, 1.35 * len(found) + 0.3), squeeze=False)
    for row, (d, s, k, ds, idx, part) in zip(axes, found):
        dom = _dominant(d) or ()
        for j, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(idx):
                ax.axis("off")
                continue
            img = ds.x_train[idx[j]]
            img = img[0] if img.shape[0] == 1 else np.transpose(img, (1, 2, 0))
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
            c = int(ds.y_train[idx[j]])
            ax.set_title(str(ds.classes[c])[:10], fontsize=7, color="red" if c in dom else "black")
            for sp in ax.spines.values():
                sp.set_visible(c in dom)
                sp.set_color("red")
                sp.set_linewidth(3)
        row[0].set_ylabel(f"{s}\n{d}" + (" (partial)" if part else ""), fontsize=7)
    fig.tight_layout()
    dom = sorted({str(ds.classes[i]) for d, _, _, ds, _, _ in found for i in (_dominant(d) or ())})
    doc.figure(ctx.fig_name(art), fig, f"{art.title}: the first {n} images each strategy selected after round "
               f"{rnd} of seed {seed}, in its ranked order; dominant class ({', '.join(dom) or 'none'}) with a "
               "red border and red class name.")


DRAW = {"curve": draw_curve, "mean_curve": draw_mean_curve, "sweep_curve": draw_sweep_curve,
        "table": draw_table, "top_images": draw_top_images, "rare_share": draw_rare_share,
        "per_trial": draw_per_trial}


# ---------------------------------------------------------------------------------------------- context
class Context:
    def __init__(self, profile, root, baseline, labels=()):
        self.profile, self.root, self.baseline = profile, root, baseline
        self.styles = _styles(list(dict.fromkeys(labels)))
        self._data, self._figs = {}, Counter()

    def fig_name(self, art):
        self._figs[art.name] += 1
        return f"{art.name}-{self._figs[art.name]}.png"

    def dataset(self, spec, seed, conf):
        """(dataset, '') or (None, why) for the trial's dataset, from its data root (else $ALBENCH_DATA)."""
        from bench import import_datasets

        c = conf.get("config") or {}
        root = c.get("data_root") or os.environ.get("ALBENCH_DATA") or None
        key = (spec, root, seed, int(c.get("image_size") or 0))
        if key not in self._data:
            try:
                kw = {"image_size": key[3]} if key[3] else {}
                self._data[key] = (import_datasets().get_dataset(spec, root, seed=seed, **kw), "")
            except Exception as err:   # any loader failure becomes a line in the report, never a crash
                self._data[key] = (None, f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}")
        return self._data[key]
