"""``albench parity``: the same trials under two profiles that differ in one setting (precision), paired.

  albench parity --profiles cpu,cpu-bf16                                 # prints the page
  albench parity --profiles cpu,cpu-bf16 --publish docs/precision-parity.md

The first profile is the reference, the second the candidate; both must run the same trials (artifacts,
datasets, strategies, seeds) of the reference's core subset. A trial is paired with its twin (same group,
dataset, strategy and seed: the same initial pool, the same training seeds) when both finished. Per
(group, dataset, strategy): the paired difference candidate − reference in mean test accuracy over rounds
and in final test accuracy (points), with a Student-t 95 % interval over the seeds; over every pair at once
the same two intervals (the pairs of one seed share its initial pool, so they are not independent: this
interval is a summary, the per-strategy rows are the tests); each claim of the paper judged under both
profiles (``bench.paper.report.build``), and whether its verdict changes; the recorded seconds of both.

The decision rule, fixed before the results: the candidate is *within noise* of the reference when no
per-strategy interval (mean over rounds or final) lies wholly above or below 0, and neither interval
over all pairs does. A claim whose verdict changes is listed either way: with 3 seeds a verdict near the
edge of its interval can change with any perturbation, so those rows are read beside the intervals.
"Not within noise" is drawn as soon as a row whose every pair has finished has an interval wholly on one side
of 0 (no later pair can change that row); "within noise" only once every pair has finished.
"""
import os
from typing import Dict, List, Tuple

import numpy as np
import pandas as pd

from bench.analysis import stats
from bench.analysis.collect import collect, recorded_seconds
from bench.core.errors import ConfigError
from bench.paper.doc import Doc
from bench.paper.manifest import load_profile
from bench.paper.report import build
from bench.paper.status import selected_artifacts, trials_of
from bench.trial.store import atomic_write

METRICS = (("mean accuracy over rounds", "avg"), ("final accuracy", "final"))


def _finished(root: str, group: str) -> pd.DataFrame:
    df = collect(os.path.join(root, group))
    return df[df["finished"].astype(bool)] if not df.empty else df


def trial_scores(df: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, strategy, seed) of finished rows: avg and final test accuracy in %, recorded seconds."""
    keys = ["dataset", "strategy", "seed"]
    if df.empty:
        return pd.DataFrame(columns=keys + ["avg", "final", "seconds"])
    g = df.sort_values("round").groupby(keys, sort=False)
    out = pd.DataFrame({"avg": 100 * g["accuracy"].mean(), "final": 100 * g["accuracy"].last(),
                        "seconds": g.apply(recorded_seconds, include_groups=False)})
    return out.reset_index()


def pairs(reference: Tuple[str, str], candidate: Tuple[str, str], groups) -> pd.DataFrame:
    """One row per trial finished under both profiles: group, dataset, strategy, seed, and for each metric the
    reference's, the candidate's and their difference; ``reference``/``candidate``: (profile name, root)."""
    rows = []
    for group in groups:
        a, b = trial_scores(_finished(reference[1], group)), trial_scores(_finished(candidate[1], group))
        m = a.merge(b, on=["dataset", "strategy", "seed"], suffixes=("_ref", "_cand"))
        m.insert(0, "group", group)
        rows.append(m)
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    for _, key in METRICS:
        if not out.empty:
            out[f"d_{key}"] = out[f"{key}_cand"] - out[f"{key}_ref"]
    return out


def _interval(d) -> str:
    m, _, n = stats.mean_std(d)
    ci = stats.t_interval(d)
    if n == 0:
        return "—"
    return f"{m:+.2f}" + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else " (1 pair: no interval)")


def _excludes_zero(d) -> bool:
    ci = stats.t_interval(d)
    return bool(ci and (ci[0] > 0 or ci[1] < 0))


def _claims(profile: str, root: str, only) -> Dict[Tuple[str, str], str]:
    """{(where, claim): verdict} of the paper's claims judged on ``profile``'s results at ``root``."""

    doc = build(profile, root, only=only)
    return {(v.claim.where, f"`{v.claim.better}` > `{v.claim.worse}` ({v.claim.measure}"
             f"{', ' + v.claim.metric if v.claim.metric else ''})"): v.verdict for v in doc.claims}


def build_page(profiles=("cpu", "cpu-bf16"), base: str = "results", only=None) -> Tuple[Doc, dict]:
    """The parity page as a Doc, and its decision: {'pairs', 'expected', 'within_noise' (None until every
    expected pair finished, unless a row whose pairs have all finished already excludes 0: then False),
    'changed_claims'}."""

    ref, cand = (load_profile(p) for p in profiles)
    arts = selected_artifacts(ref, only, default_core=True)
    expected = sorted(trials_of(arts, ref.root(base)))
    cand_expected = sorted(trials_of(selected_artifacts(cand, only, default_core=True), cand.root(base)))
    if expected != cand_expected:
        raise ConfigError(f"profiles {ref.name} and {cand.name} do not run the same trials: a parity study pairs "
                          "each trial with its twin (make the candidate `extends:` the reference)")
    groups = sorted({k[0] for k in expected})
    p = pairs((ref.name, ref.root(base)), (cand.name, cand.root(base)), groups)
    p = p[[(g, d, s, k) in set(expected) for g, d, s, k in zip(p["group"], p["dataset"], p["strategy"], p["seed"])]] \
        if not p.empty else p
    complete = len(p) == len(expected)
    changes = {}
    differ = [k for k in ref.raw.get("overrides", {}) if ref.raw["overrides"].get(k) != cand.raw["overrides"].get(k)]

    doc = Doc()
    doc.h(1, f"Parity: profile `{cand.name}` against `{ref.name}`")
    doc.p(f"Generated by `albench parity --profiles {ref.name},{cand.name}` from the committed results under "
          f"`{ref.root(base)}` and `{cand.root(base)}`; never edited by hand. The two profiles differ in: "
          + (", ".join(f"`{k}` ({ref.raw['overrides'].get(k)} → {cand.raw['overrides'].get(k)})" for k in differ)
             or "nothing in their overrides") + ". Every other setting, every seed, initial pool and training "
          "seed is the same, so each trial is compared with its twin.")
    doc.p(f"Pairs finished under both: **{len(p)} of {len(expected)}**"
          + ("." if complete else " — the study is not complete: no decision is drawn until every pair is."))
    doc.p("Differences are candidate − reference in accuracy points (test split), mean over seeds with a "
          "Student-t 95 % interval; the decision rule is in `bench/paper/parity.py`'s docstring: within noise when no "
          "interval below lies wholly above or below 0.")
    header = ["group", "dataset", "strategy", "pairs"] + [f"Δ {name}" for name, _ in METRICS] + \
        [f"{ref.name} final", f"{cand.name} final", f"seconds {ref.name} / {cand.name}"]
    table, outside, settled = [], [], []
    seeds_of = pd.Series([k[:3] for k in expected]).value_counts().to_dict()   # (group, dataset, strategy) -> seeds
    if not p.empty:
        for (g, d, s), sub in p.groupby(["group", "dataset", "strategy"], sort=False):
            cells = [_interval(sub[f"d_{key}"]) for _, key in METRICS]
            for (name, key) in METRICS:
                if _excludes_zero(sub[f"d_{key}"]):
                    outside.append(f"`{s}` ({g}, {d}), {name}")
                    if len(sub) == seeds_of.get((g, d, s)):   # every pair of this row in: no later pair moves it
                        settled.append(outside[-1])
            fr, fc = stats.mean_std(sub["final_ref"]), stats.mean_std(sub["final_cand"])
            table.append([g, f"`{d}`", f"`{s}`", len(sub)] + cells +
                         [f"{fr[0]:.2f} ± {fr[1]:.2f}" if fr[2] > 1 else f"{fr[0]:.2f}",
                          f"{fc[0]:.2f} ± {fc[1]:.2f}" if fc[2] > 1 else f"{fc[0]:.2f}",
                          f"{sub['seconds_ref'].sum() / 60:.0f} / {sub['seconds_cand'].sum() / 60:.0f} min"])
    doc.h(2, "Per strategy")
    if table:
        doc.table(header, table)
    else:
        doc.p("No pair has finished yet.")
    doc.h(2, "Over every pair")
    overall = {key: _interval(p[f"d_{key}"]) if not p.empty else "—" for _, key in METRICS}
    overall_out = [name for name, key in METRICS if not p.empty and _excludes_zero(p[f"d_{key}"])]
    ref_scores = pd.concat([trial_scores(_finished(ref.root(base), g)).assign(group=g) for g in groups],
                           ignore_index=True)
    spread = ref_scores.groupby(["group", "dataset", "strategy"])["final"].std(ddof=1).mean() \
        if len(ref_scores) > 1 else np.nan
    doc.items([f"{name}: {overall[key]} points over {len(p)} pairs" for name, key in METRICS] +
              [f"for scale: the reference's seed-to-seed spread of final accuracy, averaged over strategies, is "
               f"{spread:.2f} points (sample std over its finished seeds)" if np.isfinite(spread) else
               "for scale: no seed-to-seed spread yet (fewer than two seeds of a strategy)"])
    if len(p):
        secs = p["seconds_ref"].sum(), p["seconds_cand"].sum()
        doc.p(f"Recorded compute of the paired trials: {secs[0] / 3600:.2f} h under `{ref.name}`, "
              f"{secs[1] / 3600:.2f} h under `{cand.name}` (ratio {secs[0] / max(secs[1], 1e-9):.2f}); each "
              "profile's trials ran one torch thread each, alongside other work on the same machine (and the "
              "candidate's beside development and test runs), so the ratio is indicative: `make perf` measures "
              "the speed.")
    doc.h(2, "The paper's claims under both profiles")
    verdicts = {}
    if complete:
        a, b = _claims(ref.name, ref.root(base), only), _claims(cand.name, cand.root(base), only)
        rows = []
        for key in a:
            rows.append([key[0], key[1], a[key], b.get(key, "—"), "changes" if a[key] != b.get(key) else ""])
            if a[key] != b.get(key):
                changes[key] = (a[key], b.get(key))
        doc.table(["where", "comparison (measure)", ref.name, cand.name, ""], rows)
        verdicts = {"reference": a, "candidate": b}
    else:
        doc.p("Judged once every pair has finished.")
    within = None
    if complete:
        within = not outside and not overall_out
    elif settled:   # the rule needs no interval to exclude 0; a finished row's interval already does
        within = False
    doc.h(2, "Decision")
    if within is None:
        doc.p("Pending: the study is not complete.")
    elif not complete:
        doc.p(f"`{cand.name}` is **not within noise of** `{ref.name}`, already determined before the study is "
              "complete: " + "; ".join(settled) + " lie(s) wholly on one side of 0 in a row whose every pair has "
              "finished, so no later pair can change it (the rule needs no interval to exclude 0). The remaining "
              "pairs still run, to complete this page and the claims' table.")
    else:
        doc.p(f"`{cand.name}` is **{'within noise of' if within else 'not within noise of'}** `{ref.name}`"
              + (": no interval excludes 0." if within else ": " + "; ".join(outside + overall_out) +
                 " lie(s) wholly on one side of 0."))
        doc.p("Claims whose verdict changes: " + ("; ".join(f"{w}: {c} ({x} → {y})" for (w, c), (x, y) in
                                                          changes.items()) if changes else "none") + ".")
    n_tests = len(table) * len(METRICS)
    if within is False and n_tests:
        doc.p(f"Read with the rule's known weakness: {n_tests} per-strategy intervals at 95 % would each exclude 0 "
              f"with probability 1/20 even if the profiles were equivalent (about {n_tests / 20:.1f} of them, and at "
              f"least one with probability {1 - 0.95 ** n_tests:.0%} if they were independent); the rule, fixed "
              "before the results, does not correct for that. So this verdict is the conservative one: the "
              "reference's precision is kept, as the rule says; one or two borderline rows outside 0 are not by "
              "themselves evidence of a bias of the candidate.")
    return doc, {"pairs": len(p), "expected": len(expected), "within_noise": within, "complete": complete,
                 "changed_claims": len(changes), "outside": outside + overall_out, "verdicts": verdicts}


def publish(profiles, path: str, base: str = "results", only=None) -> dict:
    """Write the page's Markdown at ``path`` (atomically); returns the decision."""
    doc, decision = build_page(profiles, base, only)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write(path, doc.markdown())
    return decision


def summary(decision: dict) -> List[str]:
    within = decision["within_noise"]
    return [f"{decision['pairs']} of {decision['expected']} pairs finished",
            "decision: pending" if within is None else f"decision: {'within' if within else 'not within'} noise"
            + ("" if decision.get("complete", True) else " (already determined by a finished row)")]
