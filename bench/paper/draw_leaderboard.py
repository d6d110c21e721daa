"""How a study's leaderboard is drawn: ``draw: leaderboard`` (one regime: its curves, a table of scores with the
paired difference from the baseline, and which strategies beat it) and ``draw: ranking`` (every regime of the
artifact: the mean rank with its bootstrap interval, the pairwise win/tie/loss matrix, and the short answer a
study's README block shows). The numbers are ``bench.analysis.leaderboard``'s; registered in
``bench.paper.draw.DRAW`` like every other kind."""
import math
from collections import Counter

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bench.analysis import leaderboard as lb  # noqa: E402
from bench.analysis.collect import per_seed_curve  # noqa: E402
from bench.analysis.figures import draw_curves  # noqa: E402
from bench.core.device import UNRECORDED  # noqa: E402
from bench.paper.draw import draw_kind, recorded_classes, refs  # noqa: E402
from bench.paper.sections import label_of, pct, plural, pm_of, spread_note, wtl_section  # noqa: E402
from bench.trial.preflight import import_datasets  # noqa: E402


def _rare_columns(dataset, t):
    """The count columns of ``dataset``'s rare classes (``lb.rare_classes`` of its spec, named from the class
    list its trials recorded), and the rare classes' names ('' for a balanced dataset or unknown classes)."""
    classes = recorded_classes(t, dataset)
    try:
        p = import_datasets().parse_spec(dataset)
    except (KeyError, ValueError):
        return [], ""
    if not classes:
        return [], ""
    rare = lb.rare_classes(p.kind, p.value, len(classes))
    others = [str(c) for i, c in enumerate(classes) if i not in rare]
    names = (", ".join(str(classes[i]) for i in rare) if len(rare) <= len(classes) // 2
             else "every class but " + ", ".join(others))
    return [f"count_{classes[i]}" for i in rare], names if rare else ""


def _datasets(art, rows):
    return [d for d in dict.fromkeys(d for r in art.runs for d in r.datasets) if (rows["dataset"] == d).any()]


def _scores(art, t):
    """Per dataset of ``art`` with results: (its ``regime_scores``, the rare classes' names)."""
    out = {}
    for d in _datasets(art, t.rows):
        cols, names = _rare_columns(d, t)
        out[d] = (lb.regime_scores(t.rows[t.rows["dataset"] == d], cols), names)
    return out


def _names(labels, ref):
    return ", ".join(f"`{label_of(s, ref)}`" for s in labels) or "none"


@draw_kind("leaderboard")
def draw_leaderboard(doc, art, t, ctx):
    rows, order, ref = t.rows, list(art.runs[0].strategies), refs(t.rows)
    for d, (scores, rare) in _scores(art, t).items():
        curve, _ = per_seed_curve(rows, [d], "accuracy")
        fig, ax = plt.subplots(figsize=(7, 4.5))
        draw_curves(ax, curve, order, ref, f"{d}\n{spread_note(curve)}", "accuracy (%)", ctx.styles)
        ax.legend(fontsize="x-small", ncol=2)
        doc.figure(ctx.fig_name(art), fig, f"`{d}`: test accuracy vs labels, mean ± std over seeds"
                   + (" (dashed: reads true labels)" if any(ref.values()) else "") + ".")
        table = lb.regime_table(scores, order, ctx.baseline)
        table = table.sort_values("nauc", ascending=False, kind="stable")
        here = rows[rows["dataset"] == d]
        same = "balanced_accuracy" in here and bool((here["accuracy"] - here["balanced_accuracy"]).abs().max() <= 1e-4)
        doc.p(f"`{d}`, every strategy sorted by nAUC (the normalised area under the accuracy curve: its mean "
              "height over the labelled range), mean ± std over seeds, in %; final: the last round; balanced: "
              "the mean of per-class recalls at the last round"
              + (" (equal to final in every round recorded here: the test set holds as many images of every "
                 "class)" if same else "") + "; "
              + (f"rare share: the labelled pool's share of the rare classes ({rare}) at the last round; rare "
                 "recall: the classifier's recall on the test images of those classes at the last round (their mean)"
                 if rare
                 else "rare share and rare recall: not applicable (no rare class in this dataset)")
              + f"; Δ nAUC: minus `{ctx.baseline}`'s, paired by seed, mean [95 % t-interval]; select: seconds "
              "spent selecting over the whole trial, mean over seeds.")
        cells = []
        for rank, r in enumerate(table.itertuples(), 1):
            diff = ("(baseline)" if r.vs_baseline == "baseline" else "—" if not r.d_n else
                    f"{pct(r.d_mean, True)} (1 seed)" if r.d_n < 2 else
                    f"{pct(r.d_mean, True)} [{pct(r.d_lo, True)}, {pct(r.d_hi, True)}]")
            cells.append([rank, label_of(r.strategy, ref), r.seeds, pm_of(r.nauc, r.nauc_std),
                          pm_of(r.final, r.final_std), pm_of(r.final_balanced, r.final_balanced_std),
                          pm_of(r.rare_share, r.rare_share_std) if rare else "—",
                          pm_of(r.rare_recall, r.rare_recall_std) if rare else "—", diff,
                          pm_of(r.select_s, r.select_s_std, 1 if r.select_s < 10 else 0, 1.0)])
        doc.table(["#", "strategy", "seeds", "nAUC", "final", "balanced (final)", "rare share (final)",
                   "rare recall (final)",
                   f"Δ nAUC vs {ctx.baseline} [95 % CI]", "select s"], cells)
        by = {v: list(table.loc[table["vs_baseline"] == v, "strategy"]) for v in ("better", "no difference", "worse",
                                                                                  "n/a")}
        doc.p(f"Against `{ctx.baseline}` on `{d}` (nAUC, paired 95 % interval): better: {_names(by['better'], ref)}; "
              f"not distinguishable: {_names(by['no difference'], ref)}; worse: {_names(by['worse'], ref)}"
              + (f"; fewer than 2 paired seeds: {_names(by['n/a'], ref)}" if by["n/a"] else "") + ".")
        if rare:
            _rare_recall_note(doc, table, rare, ref, ctx.baseline)
        _start_note(doc, d, here)
        oracle = [s for s in table["strategy"] if ref.get(s)]
        for s in oracle:
            pos = list(table["strategy"]).index(s) + 1
            doc.p(f"The reference line `{s}` (reads true labels, not deployable) ranks {pos} of {len(table)} by "
                  f"mean nAUC; {pos - 1} strateg{'y' if pos == 2 else 'ies'} above it.")


def _rare_recall_note(doc, table, rare, ref, baseline):
    """Whether any strategy taught the classifier the rare classes: the baseline's recall on them at the last
    round beside the best deployable strategy's and a reference line's (the table sorts by nAUC, not by this)."""
    t = table[np.isfinite(table["rare_recall"].astype(float))]
    if t.empty:
        return
    fmt = lambda r: f"`{label_of(r.strategy, ref)}` {pm_of(r.rare_recall, r.rare_recall_std)}"  # noqa: E731
    best = t[[not ref.get(s) and s != baseline for s in t["strategy"]]].sort_values(
        "rare_recall", ascending=False, kind="stable")
    parts = [fmt(r) for r in t[t["strategy"] == baseline].itertuples()]
    parts += [f"the highest of the others, {fmt(r)}" for r in best.head(1).itertuples()]
    parts += [f"the reference line {fmt(r)}" for r in t.itertuples() if ref.get(r.strategy)]
    doc.p(f"Recall on the test images of the rare classes ({rare}) at the last round, in %, mean ± std over seeds: "
          + "; ".join(parts) + ".")


def _where(processors):
    return ["processor not recorded" if p == UNRECORDED else p for p in processors]


def _start_note(doc, d, rows):
    """How far the machines that made a regime's trials move one and the same experiment (``lb.start_spread``)."""
    spread = lb.start_spread(rows if "processor" in rows else rows.assign(processor=UNRECORDED))
    if spread.empty:
        return
    split = {k: g for k, g in spread.groupby("seed") if len(g) > 1}
    if not split:
        doc.p(f"Round 0 (the same initial pool and training seed for every strategy) reached one accuracy per seed "
              f"in every trial on `{d}`: the paired differences start from the same point.")
        return
    seeds = "; ".join(f"seed {k}: " + ", ".join(f"{pct(a)} % ({plural(n, 'trial')}; {' / '.join(_where(p))})"
                                              for a, n, p in zip(g["accuracy"], g["trials"], g["processors"]))
                      for k, g in split.items())
    widest = max(g["accuracy"].max() - g["accuracy"].min() for g in split.values())
    # one recorded processor behind two accuracies of a seed is not the machines' doing: say so, never hide it
    shared = sorted({p for g in split.values() for p, n in Counter(x for ps in g["processors"] for x in ps).items()
                     if n > 1 and p != UNRECORDED})
    doc.p(f"Round 0 is the same experiment for every strategy of a seed (the same initial pool and training seed), "
          f"yet on `{d}` it reached more than one accuracy: {seeds}. On different processors fp32 kernels differ in "
          f"their last bits and training amplifies that: up to {pct(widest)} points here. A paired difference "
          "between trials of two processors carries that noise beside the strategies' difference."
          + (f" **The same processor ({'; '.join(shared)}) gave two round-0 accuracies of one seed: training was "
             "not deterministic there; please report it.**" if shared else ""))


@draw_kind("ranking")
def draw_ranking(doc, art, t, ctx):
    rows, order, ref = t.rows, list(art.runs[0].strategies), refs(t.rows)
    per = _scores(art, t)
    scores = {d: sc for d, (sc, _) in per.items()}
    rank = lb.ranking(scores, order)
    left = [s for s in order if s in set(rows["strategy"]) and s not in set(rank["strategy"])]
    if rank.empty:
        doc.p("No strategy has finished trials in every regime yet: no ranking.")
        doc.answer = (_progress(art, t, rank, left) or ["- No ranking: no strategy has finished trials in every "
                                                         "regime."], "")
        return
    verdicts = {d: lb.regime_table(sc, order, ctx.baseline).set_index("strategy")["vs_baseline"]
                for d, sc in scores.items()}
    fig, ax = plt.subplots(figsize=(6.5, 0.32 * len(rank) + 1.2))
    y = np.arange(len(rank))[::-1]
    for yi, r in zip(y, rank.itertuples()):
        color = ctx.styles.get(r.strategy, ("C0", "o"))[0]
        ax.errorbar(r.mean_rank, yi, xerr=[[max(0.0, r.mean_rank - r.lo)], [max(0.0, r.hi - r.mean_rank)]], fmt="o",
                    color=color,
                    capsize=3, mfc="white" if ref.get(r.strategy) else color)
    ax.set_yticks(y, [label_of(s, {}) + (" (reads labels)" if ref.get(s) else "") for s in rank["strategy"]],
                  fontsize="small")
    n_regimes, common = int(rank["regimes"].iloc[0]), int(rank["seeds"].min())
    ax.set_xlabel(f"mean rank by nAUC over {n_regimes} regimes (1 = best), 95 % bootstrap interval over seeds")
    ax.grid(axis="x", alpha=0.3)
    ax.invert_xaxis()
    name = ctx.fig_name(art)
    doc.figure(name, fig, f"{art.title}: mean rank over {', '.join(scores)}, best at the top (hollow: reads "
               "true labels).")
    doc.p(f"Each strategy's rank by mean nAUC within each regime (1 = best, ties share the mean rank), averaged "
          f"over the {int(rank['regimes'].iloc[0])} regimes; the interval is the 2.5-97.5 percentile of "
          f"{lb.BOOTSTRAP_DRAWS} bootstrap draws that resample each regime's seeds with replacement (the same draw "
          f"for every strategy: paired; a fixed generator, so the page is the same each time it is generated). "
          f"Against `{ctx.baseline}`: in how many regimes the paired 95 % interval of the nAUC difference lies "
          "above 0 (better), holds 0, or lies below 0 (worse); not tested where fewer than 2 seeds are paired with "
          f"`{ctx.baseline}`'s. " + _ranked_on(rank, scores) + " Read both as a guide, not as tests: "
          + (f"with {plural(common, 'seed')} a regime has only {math.comb(2 * common - 1, common)} distinct "
             "bootstrap resamples, so the rank interval under-covers and need not contain the point estimate; and "
             if common > 1 else "") + "with one comparison per strategy and regime, about 1 in 20 verdicts of "
          "'better' or 'worse' is expected by chance alone.")
    cells = []
    for i, r in enumerate(rank.itertuples(), 1):
        v = [verdicts[d].get(r.strategy, "n/a") for d in scores]
        cells.append([i, label_of(r.strategy, ref), f"{r.mean_rank:.2f} (1 seed: no interval)" if r.seeds < 2 else
                      f"{r.mean_rank:.2f} [{r.lo:.2f}, {r.hi:.2f}]", r.best_in,
                      "/".join(str(v.count(x)) for x in ("better", "no difference", "worse", "n/a")) if r.strategy
                      != ctx.baseline else "(baseline)", r.seeds])
    doc.table(["#", "strategy", "mean rank [95 % bootstrap]", "first in (regimes)",
               f"vs {ctx.baseline}: better / no difference / worse / not tested (regimes)",
               "common seeds per regime"], cells)
    if left:
        doc.p("Not ranked, and so left out of every regime's ranks above (no finished trial in every regime yet): "
              + _names(left, ref) + ".")
    wtl_section(doc, rows.rename(columns={"accuracy": "value"}), order, ref,
                "the paired nAUC differences in the regimes' tables below")
    doc.answer = (_progress(art, t, rank, left) + _answer(rank, verdicts, ref, ctx.baseline), name)


def _ranked_on(rank, scores):
    """What the ranks stand on: in each regime the seeds every ranked strategy finished (a paired draw needs the
    same seeds), and, where some strategy has more, that a rank can then differ from the order of the regime
    tables' means (which use every seed a strategy has)."""
    on = rank.attrs.get("common_seeds") or {}
    groups = {}
    for regime, seeds in on.items():
        groups.setdefault(tuple(seeds), []).append(f"`{regime}`")
    where = "; ".join(", ".join(map(str, seeds)) + (f" in {', '.join(r)}" if len(groups) > 1 else " in every regime")
                      for seeds, r in groups.items())
    more = any(np.isfinite(sc.loc[sc["strategy"] == s, "nauc"]).sum() > len(on[regime])
               for regime, sc in scores.items() if regime in on for s in rank["strategy"])
    return (f"The ranks use, in each regime, only the seeds that every ranked strategy has finished there (seed"
            f"{'s' if any(len(k) > 1 for k in groups) else ''} {where}), so that each bootstrap draw pairs them"
            + ("; as some strategies have more seeds, a rank need not follow the order of the means in the "
               "regimes' tables below, which use every seed a strategy has" if more else "") + ".")


def _progress(art, t, rank, left):
    """While the study is not complete (trials not run, partial or made under another configuration, a regime
    left out of the ranking, fewer common seeds than the study's): a first line saying so and what the ranking
    below it stands on, so a short answer read early is not taken for the study's. [] once complete."""
    regimes = list(dict.fromkeys(d for r in art.runs for d in r.datasets))
    seeds = len(art.runs[0].seeds)
    ranked_in = int(rank["regimes"].iloc[0]) if len(rank) else 0
    common = int(rank["seeds"].min()) if len(rank) else 0
    if not (t.missing or t.partial or t.other) and ranked_in == len(regimes) and common == seeds:
        return []
    why = ([f"{len(t.missing)} not run yet"] if t.missing else []) + (
        [f"{len(t.partial)} partial"] if t.partial else []) + (
        [f"{len(t.other)} made under another configuration, to run again"] if t.other else [])
    line = f"- **In progress**: {len(t.frames)} of {len(t.expected)} trials used" + (
        f" ({', '.join(why)})" if why else "") + "."
    if rank.empty:
        return [line + " No ranking yet: no strategy has finished trials in every regime."]
    where = "every regime" if ranked_in == len(regimes) else f"{ranked_in} of {len(regimes)} regimes"
    return [line + f" Ranked: the {len(rank)} strateg{'y' if len(rank) == 1 else 'ies'} with "
            f"finished trials in {where}, on {plural(common, 'common seed')} per regime (of {seeds})"
            + (f"; {len(left)} more have some" if left else "") + ". Every line below can still change."]


def _answer(rank, verdicts, ref, baseline):
    """Five lines: the best and the worst three by mean rank, who beats the baseline in every regime with results
    and who in none, and where a reference that reads true labels sits."""
    deploy = rank[[not ref.get(s) for s in rank["strategy"]]]
    one_seed = int(rank["seeds"].min()) < 2
    fmt = lambda r: (f"`{r.strategy}` ({r.mean_rank:.2f})" if one_seed else  # noqa: E731
                     f"`{r.strategy}` ({r.mean_rank:.2f} [{r.lo:.2f}, {r.hi:.2f}])")
    count = {s: sum(v.get(s) == "better" for v in verdicts.values()) for s in rank["strategy"] if s != baseline}
    tested = {s: sum(v.get(s, "n/a") != "n/a" for v in verdicts.values()) for s in count}
    n = len(verdicts)   # the regimes with results, where each verdict is taken
    worst = deploy.iloc[3:].tail(3)   # never the best ones again when few strategies are ranked
    lines = [f"- Best mean rank over {plural(int(rank['regimes'].iloc[0]), 'regime')} (by nAUC, "
             + ("1 common seed per regime: no interval): " if one_seed else "95 % bootstrap interval): ")
             + ", ".join(fmt(r) for r in deploy.head(3).itertuples()) + ".",
             "- Worst: " + (", ".join(fmt(r) for r in worst.iloc[::-1].itertuples()) if len(worst) else
                            f"none apart from the best yet ({len(deploy)} strateg{'y' if len(deploy) == 1 else 'ies'} "
                            "ranked, all above)")
             + "."]
    if not any(tested.values()):
        lines.append(f"- Against `{baseline}`: no paired test yet (fewer than 2 common seeds in every regime).")
    else:
        lines += [f"- Better than `{baseline}` in every regime (paired 95 % interval above 0): "
                  + (", ".join(f"`{s}`" for s, c in count.items() if c == n and not ref.get(s)) or "none") + ".",
                  f"- Better than `{baseline}` in no regime where it was tested: "
                  + (", ".join(f"`{s}`" + (f" (tested in {tested[s]} of {n})" if tested[s] < n else "")
                               for s, c in count.items() if c == 0 and tested[s] and not ref.get(s)) or "none")
                  + "."]
    for r in rank.itertuples():
        if ref.get(r.strategy):
            pos = list(rank["strategy"]).index(r.strategy) + 1
            lines.append(f"- The reference `{r.strategy}` (reads true labels: not deployable) ranks {pos} of "
                         f"{len(rank)} ({r.mean_rank:.2f}).")
    return lines
