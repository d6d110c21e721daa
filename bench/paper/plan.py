"""``albench paper --plan``: per artifact, the trials finished / partial / missing, the training images they need and a
wall-time estimate measured on this machine.

The estimate is measured, not guessed, on this machine and device (``bench.trial.timing.Meter``):
  training   images/s of ``bench.trial.train.train_classifier`` at the trial's classifier (arch, width, batch,
             image shape) on synthetic images, timed until a call lasts >= 0.5 s (after a warm-up call on 1/8
             of a batch, a whole one on CUDA); a round trains n_labelled x epochs images (twice for a strategy whose
             ``scoring_model_options`` asks for its own scoring model, but for the last round, which
             selects nothing: ``bench.trial.loop.models_per_round``);
  evaluation images/s of ``bench.trial.train.predict`` over the test (and validation) split, every round;
  select     seconds of the strategy's own ``select`` (its parameters, this profile's classifier) on a
             synthetic pool of 4 labelled + 4 unlabelled images, the unlabelled grown 4x (rungs skipped where
             the line so far predicts a short call) until a call lasts >= 0.25 s with >= 256 unlabelled, or the
             next would last > 3 s; the last two sizes give a line
             a + b x pool images (one size, when the first call is that slow: through 0, an upper bound), applied to
             the dataset's pool (labelled + unlabelled: VAAL's iterations and the features of CoreSet and
             VaB-AL grow with both; BALD's passes see the unlabelled only, so it is overestimated by up to
             the labelled share, at most 3,000 of 9,500 images in the paper's CIFAR-10+[K] rounds).
             A strategy whose cost is proportional to one of its parameters (VAAL's epochs and width squared,
             BALD's passes: ``Strategy.for_planning``) is timed on a cheaper copy and scaled, and the log says so;
             a select is timed once per classifier / image shape / class count only where its cost depends on
             it (``Strategy.select_cost_depends_on``).
  data       seconds to load the trial's dataset's files here (once per trial, as the loop does; measured
             once per base file: ``bench.paper.status.base_labels``).
Every speed measured is kept per machine (``speed_cache_path``) and read back by later plans. A call measures
for about ``PLAN_BUDGET_S`` seconds (``--measure-budget``; a measurement starts only where its predicted length
fits), the most common classifier and image shape first: past it, a speed like one measured (the same training
recipe or strategy at another classifier, image shape or class count) is extrapolated from it by the ratio of
forward FLOPs (image values, classes: ``Meter``), marked ``~`` in the table, and measured by later calls (one
at least each); a speed with nothing like it measured is always measured; ``--remeasure`` measures all now.
Not counted: process start-up, several trials sharing the device.
"""
import os
import textwrap
import time
from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Optional

from bench.core.device import resolve_device
from bench.paper.manifest import Profile, command, load_profile
from bench.paper.status import (
    STATUSES,
    TrialPlan,
    check_profile_root,
    dataset_info,
    fill_status,
    selected_artifacts,
    strategy_of,
    trials_of,
)
from bench.trial.loop import models_per_round
from bench.trial.progress import human
from bench.trial.timing import Meter, speed_cache_path


def estimate(t: TrialPlan, info: dict, meter: Optional[Meter]):
    """Fill ``t``'s training images and (with a meter) its estimated seconds, whole and left."""
    cfg = t.cfg
    strategy = strategy_of(cfg, t.strategy)

    sizes = [cfg.initial + r * cfg.budget for r in range(cfg.rounds + 1)]
    images = [n * cfg.epochs * m for n, m in zip(sizes, models_per_round(strategy, cfg.rounds))]
    t.train_images, t.train_images_left = sum(images), sum(images[t.rounds_done:])
    if meter is None:
        return
    rate, fwd = meter.train(cfg, info)
    a, b = meter.select(cfg, t.strategy, info)[:2]
    t.approx = meter.notes(cfg, t.strategy, info)
    per_round = [images[r] / rate + (info["n_test"] + info["n_val"]) / fwd
                 + (a + b * info["n_train"] if r < cfg.rounds else 0.0) for r in range(len(sizes))]
    t.seconds = info["load_s"] + sum(per_round)   # every run of a trial loads its dataset once
    t.seconds_left = info["load_s"] + sum(per_round[t.rounds_done:])


@dataclass
class Plan:
    profile: str
    root: str
    artifacts: List[dict]            # per artifact: name, title, source, trials, statuses, images, seconds
    total: dict                      # distinct trials of all listed artifacts
    core: dict                       # distinct trials of the profile's core subset (among those listed)
    trials: Dict[tuple, TrialPlan]
    measured: dict
    text: str = ""


def summarise(trials) -> dict:
    trials = list(trials)
    out = {s: sum(t.status == s for t in trials) for s in STATUSES}
    secs = [t.seconds for t in trials]
    left = [t.seconds_left if t.status != "finished" else 0.0 for t in trials]
    out.update(trials=len(trials), approx=sum(bool(t.approx) for t in trials),
               train_images=sum(t.train_images for t in trials),
               train_images_left=sum(t.train_images_left for t in trials if t.status != "finished"),
               seconds=None if any(s is None for s in secs) else sum(secs),
               seconds_left=None if any(s is None for s in left) else sum(left))
    return out


PLAN_BUDGET_S = 15.0   # seconds a plan spends measuring before it extrapolates (see the module docstring)


def plan(profile, only=None, base: str = "results", measure=True, device: str = "auto", data_root: str = None,
         quiet: bool = False, remeasure: bool = False, manifest: dict = None, budget_s: float = PLAN_BUDGET_S) -> Plan:
    """The cost and progress of ``profile``'s artifacts (``only``: those; default all; of a study's
    ``manifest``, default the paper's), printed unless
    ``quiet``. ``measure``: True (measure speeds here for up to ``budget_s`` seconds (0: no bound), or read those
    an earlier plan measured on this machine from ``speed_cache_path()``; ``remeasure``: measure them all
    again, whatever the budget), False (images only, no time) or a ``Meter``."""
    prof = load_profile(profile) if isinstance(profile, str) else profile
    root = prof.root(base)
    check_profile_root(prof, root)
    arts = selected_artifacts(prof, only, manifest=manifest)
    fields = {"data_root": data_root} if data_root else {}
    trials = trials_of(arts, root, fields)
    fill_status(trials)
    cache = speed_cache_path()
    if remeasure and cache and os.path.exists(cache):
        os.remove(cache)
    meter = measure if isinstance(measure, Meter) else (
        Meter(device, cache=cache, budget_s=0.0 if remeasure else budget_s) if measure else None)
    started = time.perf_counter()
    if meter is not None:
        meter.log(f"{command(prof.name, manifest)} --plan: measuring speeds on {meter.describe()}")
    infos = {k: dataset_info(t.cfg) for k, t in trials.items()}
    # the most common classifier and image shape first: what the budget measures covers the most trials
    shape = {k: (t.cfg.arch, t.cfg.width, infos[k]["channels"], infos[k]["size"], infos[k]["num_classes"])
             for k, t in trials.items()}
    common = Counter(shape.values())
    for k in sorted(trials, key=lambda k: -common[shape[k]]):
        estimate(trials[k], infos[k], meter)
    if meter is not None and meter.cache_path:
        n = len(meter.train_cache) + len(meter.select_cache)
        meter.log(f"  speeds: {meter.reused} read from this machine's earlier measurements, "
                  f"{n - meter.reused - len(meter.approx)} measured now ({time.perf_counter() - started:.0f} s; "
                  f"kept in {meter.cache_path}; --remeasure to measure all again)"
                  + (f", {len(meter.approx)} extrapolated past the {meter.budget_s:g} s measuring budget (marked ~; "
                     "later --plan calls measure them, at least one each)" if meter.approx else "")
                  + (f"; {len(meter.shared)} not kept: they waited for a CPU other processes had"
                     if meter.shared else ""))
    rows = []
    for art in arts:
        keys = {(r.group, d, s, k) for r in art.runs for d in r.datasets for s in r.strategies for k in r.seeds}
        rows.append({"name": art.name, "title": art.title, "source": art.source,
                     **summarise(trials[k] for k in keys)})
    core = set(prof.core) if manifest is None else {a.name for a in arts}   # a study runs all of its own
    core_keys = [k for k, t in trials.items() if set(t.artifacts) & core]
    measured = {}
    if meter is not None:
        measured = {"device": meter.describe(), "kept": bool(meter.cache_path),
                    "train": [{"arch": k[0], "width": k[1], "batch": k[2], "shape": f"{k[4]}x{k[5]}x{k[5]}",
                               "train_img_s": v[0], "forward_img_s": v[1], "approx": meter.approx.get(("train", k), ""),
                               "waited_for_cpu": meter.shared.get(("train", k))}
                              for k, v in meter.train_cache.items()],
                    "select": [{"strategy": meter.select_labels.get(k, k[0]), "registry_key": k[0], "params": k[1],
                                "arch": k[2], "width": k[3], "classes": k[7],
                                "shape": f"{k[5]}x{k[6]}x{k[6]}" if k[5] != "any" else "any",
                                "a_s": v[0], "b_s_per_image": v[1], "measured_at_pool": v[2], "one_size": v[3],
                                "approx": meter.approx.get(("select", k), ""), "note": meter.select_notes.get(k, ""),
                                "waited_for_cpu": meter.shared.get(("select", k))}
                               for (k, _), v in meter.select_cache.items()]}
    p = Plan(prof.name, root, rows, summarise(trials.values()), summarise(trials[k] for k in core_keys), trials,
             measured)
    p.text = format_plan(p, prof, infos, manifest)
    if not quiet:
        print(p.text)
    return p


def _shared(m) -> str:
    share = m.get("waited_for_cpu")
    return f" [slow: it waited for a CPU {share:.0%} of its time]" if share else ""


def format_plan(p: Plan, prof: Profile, infos, manifest: dict = None) -> str:
    lines = [f"{command(p.profile, manifest)}: {prof.description}", f"results: {p.root}/"]
    for d in prof.departures:
        lines.append(f"  departs from the paper: {d}")
    if p.measured:
        lines.append(f"measured on {p.measured['device']}:")
        for m in p.measured["train"]:
            lines.append(f"{m['approx'][:1] or ' '} train {m['arch']} width {m['width']} batch {m['batch']} "
                         f"{m['shape']}: {m['train_img_s']:,.0f} img/s training, {m['forward_img_s']:,.0f} img/s "
                         "forward" + (f" ({m['approx'][2:]})" if m["approx"] else "") + _shared(m))
        noted = set()
        for m in p.measured.get("select", []):
            lines.append(f"{m['approx'][:1] or ' '} select {m['strategy']} "
                         + (f"{m['arch']} width {m['width']} " if m["arch"] != "any" else "any classifier ")
                         + (f"{m['shape']} " if m["shape"] != "any" else "any images ")
                         + (f"{m['classes']} classes: " if m["classes"] != "any" else "any classes: ")
                         + f"{m['a_s']:.3g} s + {m['b_s_per_image'] * 1000:.3g} ms x pool image "
                         + (f"({m['approx'][2:]})" if m["approx"] else f"(measured up to {m['measured_at_pool']} "
                            "images" + (", one size: an upper bound)" if m["one_size"] else ")")) + _shared(m))
            if m.get("note") and (m["strategy"], m["note"]) not in noted:   # once per strategy, at its first shape
                noted.add((m["strategy"], m["note"]))
                lines += textwrap.wrap(f"{m['strategy']}: {m['note']}", 116, initial_indent="    ",
                                       subsequent_indent="    ")
    else:
        lines.append("no speeds measured (measure=False): training images only, no wall time")
    lines.append("datasets:")
    seen = {}
    for k, i in infos.items():
        seen.setdefault(k[1], {})[i["n_val"]] = i
    for d, by_val in sorted(seen.items()):
        i = by_val[min(by_val)]
        val = "".join(f", {v['n_train']:,} + {n:,} validation" for n, v in sorted(by_val.items()) if n)
        lines.append(f"  {d}: {i['n_train']:,} training images{val}, {i['n_test']:,} test, {i['num_classes']} "
                     f"classes, {i['channels']}x{i['size']}x{i['size']} ({i['source']})")
    head = f"{'artifact':10s} {'trials':>6s} {'done':>5s} {'part':>5s} {'miss':>5s} {'confl':>5s} " \
           f"{'train images':>14s} {'est. all':>10s} {'est. left':>10s}  title"
    lines += ["", head, "-" * len(head)]

    def row(name, r, title=""):
        mark = "~" if r.get("approx") else ""   # some of its speeds extrapolated, not measured
        return (f"{name:10s} {r['trials']:6d} {r['finished']:5d} {r['partial']:5d} {r['missing']:5d} "
                f"{r['conflict']:5d} {r['train_images']:14,d} {mark + human(r['seconds']):>10s} "
                f"{mark + human(r['seconds_left']):>10s}  {title}")

    for r in p.artifacts:
        title = r["title"] + (f" (draws {r['source']}'s runs)" if r["source"] else "")
        lines.append(row(r["name"], r, title))
    lines.append("-" * len(head))
    lines.append(row("total", p.total, "distinct trials of the artifacts above (shared trials once)"))
    if manifest is None:
        lines.append(row("core", p.core, f"the profile's core subset: {', '.join(prof.core)} (run by default)"))
    conflicts = [t for t in p.trials.values() if t.status == "conflict"]
    for t in conflicts[:5]:
        lines.append(f"conflict: {t.why}")
    if len(conflicts) > 5:
        lines.append(f"... and {len(conflicts) - 5} more conflicts")
    if p.measured:
        lines += left_by_strategy(p)
        lines.append("est. = the measured speeds above x each trial's rounds (training, evaluation, select) + loading "
                     "its dataset, one trial at a time on this device; not counted: start-up, concurrent trials")
        if p.total.get("approx"):
            lines.append(f"~ = {p.total['approx']} trial(s) estimated with speeds extrapolated from like ones past the "
                         "measuring budget (by the ratio of forward FLOPs, image values or classes): "
                         + ("later --plan calls measure them, at least one each (--remeasure: all now)"
                            if p.measured.get("kept") else "with no speed cache ($ALBENCH_SPEED_CACHE is empty) "
                            "every call extrapolates them again; --measure-budget 0 measures them all"))
        lines += recorded_lines(p)
    return "\n".join(lines)


def left_by_strategy(p: Plan, width: int = 116) -> List[str]:
    """What is left, by strategy (label), costliest first: which rows a short budget should leave out."""
    left = Counter()
    for t in p.trials.values():
        if t.status != "finished" and t.seconds_left:
            left[t.strategy] += t.seconds_left
    if len(left) < 2:
        return []
    lines, line = [], "est. left by strategy, one trial at a time:"
    for label, seconds in left.most_common():
        item = f" {label} {human(seconds)},"
        if len(line) + len(item) > width:
            lines.append(line)
            line = " "
        line += item
    return lines + [line.rstrip(",")]


def recorded_lines(p: Plan) -> List[str]:
    """The estimate checked against what the finished trials here took (the sum of their rounds' timing
    columns, as they ran: alone or beside others), per strategy, and what is left at that ratio."""
    done = [t for t in p.trials.values() if t.status == "finished" and t.seconds and t.recorded_seconds > 0]
    if not done:
        return []
    lines = ["recorded: the finished trials here, as they ran (timing columns of their rounds) vs estimated:"]
    by = {}
    for t in done:
        by.setdefault(t.strategy, []).append(t)
    for label, ts in by.items():
        rec, est = sum(t.recorded_seconds for t in ts), sum(t.seconds for t in ts)
        lines.append(f"  {label}: {len(ts)} trial(s), {human(rec / len(ts))} each recorded vs {human(est / len(ts))} "
                     f"estimated (x{rec / est:.2f})")
    ratio = sum(t.recorded_seconds for t in done) / sum(t.seconds for t in done)
    if p.total["seconds_left"] is not None:
        lines.append(f"  at the recorded/estimated ratio x{ratio:.2f} of these {len(done)} trial(s), what is left "
                     f"would take {human(ratio * p.total['seconds_left'])} one trial at a time (core: "
                     f"{human(ratio * p.core['seconds_left'])}); concurrent workers divide it at best by their number")
    return lines


LONG_RUN_S = 30 * 60   # `albench run` says what a run costs, and how to shrink it, above this


# an optimistic training speed (images/s of a width-16 ResNet-18 on 32x32 images; about 4x what this
# project's 2-core CPU reaches, and a fraction of a GPU's): a run whose images cannot be trained within
# LONG_RUN_S even at this speed is measured and estimated; a shorter one is not measured at all
OPTIMISTIC_IMG_S = {"cpu": 5_000.0, "cuda": 100_000.0}


def estimate_run(trials, device: str = "auto", meter: Optional[Meter] = None, always: bool = False,
                 log=None) -> dict:
    """What ``albench run``'s ``trials`` (``bench.trial.grid.Trial``s) still cost here, measured as the plan
    measures (speeds kept per machine: a second call measures nothing): training images and seconds left,
    summed over the trials not finished, run one after another (``per_trial``: each one's by trial name, 0 for a
    finished one, for ``run_grid``'s time left). Unless ``always``, speeds are measured only
    where the training images alone could take longer than ``LONG_RUN_S`` at ``OPTIMISTIC_IMG_S`` (scaled by
    width^2), for about ``PLAN_BUDGET_S`` seconds as a plan does (``log``: where its lines go; default none);
    otherwise ``seconds`` is None."""
    plans, names = {}, {}
    for t in trials:
        tp = TrialPlan("", t.cfg.dataset, t.strategy, t.seed, t.cfg)
        plans[tp.key], names[tp.key] = tp, t.name
    fill_status(plans)
    left = [tp for tp in plans.values() if tp.status != "finished"]
    dev = resolve_device(device)
    bound = 0.0
    for tp in left:
        estimate(tp, {}, None)   # training images only
        bound += tp.train_images_left / (OPTIMISTIC_IMG_S.get(dev.type, 5_000.0) * (16 / tp.cfg.width) ** 2)
    out = {"trials": len(left), "train_images": sum(tp.train_images_left for tp in left), "seconds": None,
           "device": dev.type}
    if not left or (bound <= LONG_RUN_S and not always):
        return out
    meter = meter or Meter(device, log=log or (lambda text: None), cache=speed_cache_path(), budget_s=PLAN_BUDGET_S)
    for tp in left:
        estimate(tp, dataset_info(tp.cfg), meter)
    return dict(out, seconds=sum(tp.seconds_left for tp in left), device=meter.describe(),
                per_trial={names[k]: tp.seconds_left if tp.status != "finished" else 0.0 for k, tp in plans.items()})
