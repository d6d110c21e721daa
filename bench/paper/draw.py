"""How each kind of artifact is drawn in the paper report (the manifest's ``draw``: curve, mean_curve,
sweep_curve, table, top_images, rare_share, per_trial), from the finished trials of an artifact read from
the results tree (``bench.paper.gather``). Each ``draw_*(doc, art, trials, ctx)`` adds its figures, tables
and statistics (``bench.analysis.stats``) to the document; ``@draw_kind(name)`` registers it in ``DRAW``,
which the manifest's loader reads, so a new kind of drawing touches this file only."""
import os
from collections import Counter, OrderedDict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.analysis import stats  # noqa: E402
from bench.analysis.collect import per_seed_curve  # noqa: E402
from bench.analysis.figures import draw_curves, legend, panels, styles_for  # noqa: E402
from bench.paper.gather import Tree  # noqa: E402
from bench.paper.sections import curve_stats, label_of, pm, spread_note, wtl_section  # noqa: E402
from bench.trial.preflight import import_datasets  # noqa: E402

DATA_MISSING = "the dataset could not be loaded"   # said where an artifact's images need data not found here

DRAW = {}   # manifest ``draw`` kind -> its drawing function


def draw_kind(name: str):
    """Register ``fn(doc, art, trials, ctx)`` as the drawing of the manifest's ``draw: name``."""
    def wrap(fn):
        DRAW[name] = fn
        return fn
    return wrap


def _dashed(ref) -> str:
    return " (dashed: reads true labels)" if any(ref.values()) else ""


def refs(rows):
    """Per strategy label: whether its trials read true labels (a reference line, drawn dashed)."""
    if rows.empty:
        return {}
    return rows.groupby("strategy")["reads_true_labels"].any().to_dict()


def _value(art):
    return art.metric


def _unit(art):
    return f"{art.metric.replace('_', ' ')} (%)"


@draw_kind("curve")
def draw_curve(doc, art, t, ctx):
    rows, order, ref = t.rows, list(art.runs[0].strategies), refs(t.rows)
    datasets = [d for d in dict.fromkeys(d for r in art.runs for d in r.datasets) if (rows["dataset"] == d).any()]
    fig, axes = panels(len(datasets))
    curves = {}
    for ax, d in zip(axes, datasets):
        curves[d], _ = per_seed_curve(rows, [d], _value(art))
        draw_curves(ax, curves[d], order, ref, f"{d}\n{spread_note(curves[d])}", _unit(art), ctx.styles)
    legend(fig, axes)
    doc.figure(ctx.fig_name(art), fig, f"{art.title}: {_unit(art)} vs labels, mean ± std over seeds"
               + _dashed(ref) + ".")
    for d in datasets:
        doc.h(3, f"`{d}`")
        curve_stats(doc, curves[d], order, ref, ctx.baseline, _unit(art))
    wtl_section(doc, rows.rename(columns={_value(art): "value"}), order, ref)


@draw_kind("mean_curve")
def draw_mean_curve(doc, art, t, ctx):
    rows, order, ref = t.rows, list(art.runs[0].strategies), refs(t.rows)
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
    draw_curves(ax, curve, order, ref, f"{what}\n{spread_note(curve)}", _unit(art), ctx.styles)
    ax.legend(fontsize="small")
    doc.figure(ctx.fig_name(art), fig, f"{art.title}: per seed the mean over {', '.join(datasets)}, then mean ± "
               "std over seeds" + _dashed(ref) + ".")
    curve_stats(doc, curve, order, ref, ctx.baseline, _unit(art))
    wtl_section(doc, rows.rename(columns={_value(art): "value"}), order, ref)


@draw_kind("sweep_curve")
def draw_sweep_curve(doc, art, t, ctx):
    rows, order, ref = t.rows, list(art.runs[0].strategies), refs(t.rows)
    items = OrderedDict()
    for r in art.runs:
        items.setdefault(r.sweep, []).extend(r.datasets)
    items = [(k, list(dict.fromkeys(v))) for k, v in items.items() if (rows["sweep"] == k).any()]
    fig, axes = panels(len(items))
    curves = []
    for ax, (item, datasets) in zip(axes, items):
        sub = rows[rows["sweep"] == item]
        curve, left = per_seed_curve(sub, datasets, _value(art))
        curves.append((item, datasets, sub, curve, left))
        draw_curves(ax, curve, order, ref, f"{item or 'default'}\n{spread_note(curve)}", _unit(art), ctx.styles)
    legend(fig, axes)
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


@draw_kind("per_trial")
def draw_per_trial(doc, art, t, ctx):
    rows, order, ref = t.rows, list(art.runs[0].strategies), refs(t.rows)
    datasets = [d for d in dict.fromkeys(d for r in art.runs for d in r.datasets) if (rows["dataset"] == d).any()]
    aucs = {}
    for d in datasets:
        curve, _ = per_seed_curve(rows, [d], _value(art))
        aucs[d] = stats.auc_per_seed(curve, "value")
        seeds = sorted(curve["seed"].unique())
        fig, axes = panels(1 + len(seeds), width=3.6, height=2.8, ncols=4, sharey=True)
        draw_curves(axes[0], curve, order, ref, f"{d}: mean ± std", _unit(art), ctx.styles)
        for ax, k in zip(axes[1:], seeds):
            draw_curves(ax, curve[curve["seed"] == k], order, ref, f"{d}: seed {k}", _unit(art), ctx.styles,
                         spread=False)
        legend(fig, axes)
        doc.figure(ctx.fig_name(art), fig, f"`{d}`: the mean over seeds, then one panel per seed (trial).")
    rows_t = [[label_of(s, ref)] + [pm(aucs[d].loc[aucs[d]["strategy"] == s, "auc"]) for d in datasets]
              for s in order]
    doc.p(f"Normalised area under each dataset's {_unit(art)} curve, mean ± std over seeds:")
    doc.table(["strategy"] + [f"`{d}`" for d in datasets], rows_t)
    wtl_section(doc, rows.rename(columns={_value(art): "value"}), order, ref)


@draw_kind("table")
def draw_table(doc, art, t, ctx):
    rows, order, ref, value = t.rows, list(art.runs[0].strategies), refs(t.rows), art.metric
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
            out.append([f"`{d}`", f"`{pcols[0]}`" if pcols else "—", label_of(s, ref), len(g),
                        pm(g["avg"]), pap[0], pm(g["final"]), pap[1]])
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

    try:
        p = import_datasets().parse_spec(spec)
    except (KeyError, ValueError):
        return None
    return tuple(p.value) if p.kind == "dom" else None


def recorded_classes(t, dataset):
    """The class names ``dataset``'s trials recorded in their config.json (None if none did)."""
    return next((c.get("classes") for k, c in t.configs.items() if k[1] == dataset and c.get("classes")), None)


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
        classes = recorded_classes(t, d)
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


@draw_kind("rare_share")
def draw_rare_share(doc, art, t, ctx):
    order, ref = list(art.runs[0].strategies), refs(t.rows)
    shares, notes = rare_shares(art, t)
    if notes:
        doc.p("Not drawn: " + "; ".join(notes) + ".")
    if not shares:
        return
    fig, axes = panels(len(shares))
    for ax, (d, (sub, dom)) in zip(axes, shares.items()):
        draw_curves(ax, sub, order, ref, f"{d} (dominant: {dom})", "share of non-dominant classes (%)", ctx.styles)
    legend(fig, axes)
    doc.figure(ctx.fig_name(art), fig, f"{art.title}: share of every class but the dominant one in the labelled "
               "pool, mean ± std over seeds.")
    for d, (sub, dom) in shares.items():
        xs = sorted(sub["n_labelled"].unique())
        doc.p(f"`{d}` (dominant class {dom}): share of the other classes in the labelled pool (%), mean ± std "
              "over seeds, per number of labelled images:")
        doc.table(["strategy"] + [f"{x:g}" for x in xs],
                  [[label_of(s, ref)] + [pm(sub.loc[(sub["strategy"] == s) & (sub["n_labelled"] == x), "value"])
                                       for x in xs] for s in order if (sub["strategy"] == s).any()])


@draw_kind("top_images")
def draw_top_images(doc, art, t, ctx):
    n, rnd, seed = int(art.options.get("n", 10)), int(art.options.get("round", 0)), int(art.options.get("seed", 0))
    found, notes = [], []
    partial = {k for k, *_ in t.partial}
    for key, conf in t.configs.items():
        group, d, s, k = key
        if key in {k2 for k2, _ in t.other}:
            continue
        records = ctx.tree.round_records(group, d, s, k, keys=("round", "selected", "selected_classes"))
        rec = next((r for r in records if r.get("round") == rnd), None)
        if rec is None or not rec.get("selected"):
            notes.append(f"`{d}/{s}` seed {k}: no selection recorded after round {rnd}")
            continue
        ds, err = ctx.dataset(d, k, conf)
        if ds is None:
            notes.append(f"`{d}/{s}` seed {k}: {DATA_MISSING} ({err}), so its images cannot be "
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


class Context:
    def __init__(self, profile, root, baseline, labels=(), data_root=None, tree=None):
        self.profile, self.root, self.baseline, self.data_root = profile, root, baseline, data_root
        self.tree = tree or Tree(root)   # the report's reader of the results, shared so each file is read once
        self.styles = styles_for(list(dict.fromkeys(labels)))
        self._data, self._figs = {}, Counter()

    def fig_name(self, art):
        self._figs[art.name] += 1
        return f"{art.name}-{self._figs[art.name]}.png"

    def dataset(self, spec, seed, conf):
        """(dataset, '') or (None, why) for the trial's dataset: from the report's ``data_root`` (``--data-root``)
        where one is given, else the trial's recorded root where it exists here (a relative one, such as
        ``data``, from the current folder), else $ALBENCH_DATA."""

        c = conf.get("config") or {}
        recorded = c.get("data_root")
        root = self.data_root or (recorded if recorded and os.path.isdir(recorded) else None) \
            or os.environ.get("ALBENCH_DATA") or recorded or None
        key = (spec, root, seed, int(c.get("image_size") or 0))
        if key not in self._data:
            try:
                kw = {"image_size": key[3]} if key[3] else {}
                self._data[key] = (import_datasets().get_dataset(spec, root, seed=seed, **kw), "")
            except Exception as err:   # any loader failure becomes a line in the report, never a crash
                self._data[key] = (None, f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}")
        return self._data[key]
