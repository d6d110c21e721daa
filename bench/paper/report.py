"""The paper report: ``write_report(profile, root)`` -> ``<root>/report/report.html`` and ``report.md``.

A pure function of (manifest, profile, results on disk): no training, no randomness, no clock. Every
artifact of the manifest (``configs/paper/manifest.yaml``) that has results is drawn as its ``draw`` kind
says, with the statistics of ``bench.analysis.stats`` (mean +- sample std over seeds, normalised area under the
curve, differences from the baseline paired by seed with 95 % t-intervals, a pairwise win/tie/loss matrix),
the paper's numbers beside albench's where the manifest gives them, the paper's claims each with a verdict
(``bench.analysis.claims``), and what is missing. Only finished
trials made under the profile's configuration are used; partial trials are listed and never averaged.

The HTML is self-contained (figures inline as base64 PNG); the Markdown twin links the same PNGs, written
beside it. The document is ``bench.paper.doc``; how each kind of artifact is drawn, ``bench.paper.draw``.
"""
import os
import sys
from collections import Counter, OrderedDict

import numpy as np
import pandas as pd

from bench.analysis import claims
from bench.analysis.collect import recorded_seconds
from bench.core.device import UNRECORDED
from bench.core.errors import ConfigError
from bench.paper.doc import Doc
from bench.paper.draw import DRAW, Context, rare_shares
from bench.paper.gather import Tree, Trials, gather
from bench.paper.manifest import command, load_manifest, load_profile, resolve
from bench.paper.sections import plural
from bench.trial.store import atomic_write

CAVEATS = [
    "The offline CIFAR-10 copy is a JPEG re-encoding (quality 75, 4:2:0) of the original images: mean PSNR "
    "30.5 dB against the original pixels (minimum 23.1 dB); accuracies differ slightly from training on the "
    "original pickles.",
    "NEU contains 7 pairs of byte-identical images (5 in `pa`, 2 in `rp`), kept as distributed; the seeded "
    "80/20 split can put twins on both sides.",
    "There is no offline copy of CIFAR-100: its artifacts need torchvision's files (or a download) on the "
    "machine that ran them.",
    "On a GPU, cuDNN kernels are not bitwise deterministic: the same seed gives the same table on the CPU only.",
]
CLAIMS_HEADING = "The paper's claims"


def _trial_name(key):
    g, d, s, k = key
    return f"`{g}/{d}/{s}/seed{k}`"


def _missing_lines(t: Trials):
    """One line per group and dataset: each strategy with trials missing there, and their seeds."""
    grouped = OrderedDict()
    for g, d, s, k in t.missing:
        grouped.setdefault((g, d), OrderedDict()).setdefault(s, []).append(str(k))
    return [f"`{g}/{d}`: " + "; ".join(f"`{s}` seed {', '.join(ks)}" for s, ks in by.items())
            for (g, d), by in grouped.items()]


def _status(doc, t: Trials):
    """What an artifact's numbers stand on; the trials left out of them come after the numbers (``_left_out``)."""
    doc.p(f"Finished trials used: {len(t.frames)} of {len(t.expected)} expected"
          + (" (those not used are listed below)." if t.missing or t.partial or t.other else "."))


def _left_out(doc, t: Trials, level: int = 3):
    if t.missing or t.partial or t.other:
        doc.h(level, "Trials not used")   # a heading of its own, not under a drawing's last sub-heading
    if t.missing:
        doc.p(f"Missing ({plural(len(t.missing), 'trial')}, not run yet):")
        doc.items(_missing_lines(t))
    if t.partial:
        doc.p(f"Partial ({plural(len(t.partial), 'trial')}, listed only, never averaged; rerun to finish them):")
        doc.items(f"{_trial_name(k)}: rounds 0-{r} of 0-{p} done" for k, r, p in t.partial)
    if t.other:
        doc.p(f"Made under another configuration than this profile's ({plural(len(t.other), 'trial')}, not used):")
        doc.items(f"{_trial_name(k)}: {why}" for k, why in t.other)


def shown_source(source: str, data_root: str) -> str:
    """A trial's data source as a report shows it: relative to its data root (trials recorded before sources
    were recorded that way hold a path of the machine that ran them: under their ``data_root`` made relative
    to it, else an absolute path reduced to its file name), so a published page names no machine's folders."""
    if data_root and source.startswith(data_root.rstrip("/") + "/"):
        return source[len(data_root.rstrip("/")) + 1:]
    return os.path.basename(source) if os.path.isabs(source) else source


def _provenance(doc, configs, round_processors=None):
    """The versions and machines of the finished trials used (``configs``: one config.json each) and, from
    ``round_processors`` (one list per trial, a processor per round), where their rounds ran."""
    if not configs:
        return
    fields = OrderedDict()
    for c in configs:
        v = c.get("versions") or {}
        commit = v.get("git_commit") or "unknown"
        vals = {"git commit": commit + (" (uncommitted changes)" if v.get("git_dirty") else ""),
                "device": v.get("gpu") or "CPU", "requested device": (c.get("config") or {}).get("device", "?")}
        for k in ("albench", "python", "torch", "torchvision", "numpy", "scikit-learn", "pandas", "cuda",
                  "platform"):
            vals[k] = str(v.get(k))
        # seeded fp32 differs in its last bits between CPU kernel sets: where each trial started (its rounds.jsonl
        # says where each round ran); trials started before 2026-12-07 did not record it
        vals["processor (first round)"] = v.get("processor") or UNRECORDED
        for k, val in vals.items():
            fields.setdefault(k, Counter())[val] += 1
    fields = OrderedDict((k, c) for k, c in fields.items() if set(c) != {"None"})
    doc.p(f"Provenance, from the `config.json` of the {len(configs)} distinct finished trials used (value: trials):")
    doc.table(["item", "value (trials)"],
              [[k, "; ".join(f"{v} ({n})" for v, n in sorted(c.items()))] for k, c in fields.items()])
    if round_processors:   # the config names where a trial started; a resumed one may have finished elsewhere
        rounds = Counter(p for ps in round_processors for p in ps)
        moved = sum(len(set(ps) - {UNRECORDED}) > 1 for ps in round_processors)
        straddle = sum(UNRECORDED in ps and len(set(ps)) > 1 for ps in round_processors)
        doc.p(f"Where their {sum(rounds.values())} rounds ran, from each round's record in `rounds.jsonl` "
              "(value: rounds): " + "; ".join(f"{v} ({n})" for v, n in sorted(rounds.items()))
              + f". {plural(moved, 'trial')} ran on more than one recorded processor (resumed on another machine)"
              + (f"; {plural(straddle, 'trial')} began before processors were recorded and finished after."
                 if straddle else "."))
    sources = Counter()
    for c in configs:
        i = c.get("identity") or {}
        shown = shown_source(i.get("data_source", "?"), (c.get("config") or {}).get("data_root") or "")
        sources[(i.get("dataset", "?"), shown, i.get("data_fingerprint") or "—")] += 1
    doc.p("Data each trial read (relative to the data root of the machine that ran it):")
    doc.table(["dataset", "source", "fingerprint", "trials"], [[f"`{d}`", s, f, n]
                                                               for (d, s, f), n in sorted(sources.items())])


def _compute(doc, tree: Tree, gathered):
    """The compute the trials of this report recorded: per (group, strategy), the seconds of every recorded
    round (``bench.trial.store.recorded_seconds``), finished and partial trials apart; trials made under another
    configuration are left out, as everywhere in the report."""
    status = {}
    for _, t in gathered:
        other = {k for k, _ in t.other}
        partial = {k for k, *_ in t.partial}
        status.update({k: "partial" if k in partial else "finished" for k in t.configs if k not in other})
    per = OrderedDict()
    for (g, d, s, k), st in status.items():
        df, configs = tree.group(g)
        seconds = recorded_seconds(df[(df["dataset"] == d) & (df["strategy"] == s) & (df["seed"] == k)])
        conf = configs.get((d, s, k)) or {}
        threads = (conf.get("config") or {}).get("threads", "?")
        e = per.setdefault((g, s), {"finished": [], "partial": 0.0, "n_partial": 0, "threads": set()})
        e["threads"].add("auto" if threads in (0, None) else str(threads))
        if st == "finished":
            e["finished"].append(seconds)
        else:
            e["partial"] += seconds
            e["n_partial"] += 1
    if not per:
        return
    total = sum(sum(e["finished"]) + e["partial"] for e in per.values())
    doc.h(2, "Compute")
    doc.p(f"Recorded compute of the trials in this report: **{total / 3600:.1f} h** in all, the sum over every "
          "recorded round of its training, scoring-model, selection and evaluation seconds, each timed inside the "
          "trial's process (torch threads shown; *auto*: the cores split between concurrent workers). Not "
          "counted: trials made under another configuration or with unreadable tables, artifacts outside this "
          "report, a round lost when a run was stopped mid-round, loading the data at a trial's start or resume, "
          "the validation split's evaluation and writing the tables. These are wall seconds: on a shared machine "
          "(trials side by side, tests beside them) a round's seconds include the slow-down of sharing it, so a "
          "strategy's mean per trial can be inflated by a few stalled rounds; the median is shown beside it.")
    doc.table(["group", "strategy", "finished trials", "h (finished)", "min per finished trial: mean / median",
               "partial trials (h so far)", "torch threads"],
              [[f"`{g}`", f"`{s}`", len(e["finished"]), f"{sum(e['finished']) / 3600:.2f}",
                f"{sum(e['finished']) / 60 / len(e['finished']):.1f} / {np.median(e['finished']) / 60:.1f}"
                if e["finished"] else "—",
                f"{e['n_partial']} ({e['partial'] / 3600:.2f})" if e["n_partial"] else "0",
                ", ".join(sorted(e["threads"]))] for (g, s), e in per.items()])


def _substitutions(manifest, art, profile):
    subst = profile.raw.get("datasets") or {}
    spec = manifest["artifacts"][art.name]
    orig = spec.get("datasets") or manifest["artifacts"].get(spec.get("from", ""), {}).get("datasets", [])
    return [f"`{d}` → `{subst[d]}`" for d in orig if subst.get(d, d) != d]


def _restricted(manifest, art, profile):
    """The manifest's datasets and strategies of ``art`` that the profile's ``restrict`` leaves out."""
    subst = profile.raw.get("datasets") or {}
    spec = manifest["artifacts"][art.name]
    src = manifest["artifacts"].get(spec.get("from", ""), {})
    ran_d = {d for r in art.runs for d in r.datasets}
    ran_s = {s for r in art.runs for s in r.strategies}
    if not art.runs:
        return []
    return ([subst.get(d, d) for d in spec.get("datasets") or src.get("datasets", []) if subst.get(d, d) not in ran_d]
            + [s for s in spec.get("strategies") or src.get("strategies", []) if s not in ran_s])


def _claims(doc, manifest, profile, gathered):
    """The paper's claims on the artifacts in this report, each with albench's measurement and a verdict
    (``bench.analysis.claims``)."""
    by_name = {a.name: (a, t) for a, t in gathered}
    subst = profile.raw.get("datasets") or {}
    verdicts = []
    for c in claims.load_claims(manifest):
        if c.artifact not in by_name:
            continue
        art, t = by_name[c.artifact]
        ran = list(dict.fromkeys(d for r in art.runs for d in r.datasets))
        labels = {s for r in art.runs for s in r.strategies}
        want = [subst.get(d, d) for d in c.datasets] or ran
        absent = [f"`{d}`" for d in want if d not in ran] + [f"`{x}`" for x in (c.better, c.worse) if x not in labels]
        if absent:
            verdicts.append(claims.Verdict(c, "not measured", f"this profile does not run {', '.join(absent)}",
                                           datasets=tuple(want)))
            continue
        if c.metric == "rare_share":   # from the class counts recorded each round (as Fig. 7 draws them)
            shares, _ = rare_shares(art, t)
            rows = pd.concat([sub.assign(rare_share=sub["value"]) for sub, _ in shares.values()], ignore_index=True) \
                if shares else None
            verdicts.append(claims.check(c, rows, "rare_share", want))
        else:
            verdicts.append(claims.check(c, t.rows, c.metric or art.metric, want))
    if not verdicts:
        return
    doc.h(2, CLAIMS_HEADING)
    doc.p("Each claim is a comparison the paper makes; albench's score per seed is the metric's mean over all "
          "rounds (avg) or its last round (final), in %, averaged over the artifact's datasets (shown as mean ± "
          "sample std over seeds); the difference "
          "is paired by seed with a Student-t 95 % interval. Verdict: *agrees* when the interval lies above 0, "
          "*does not agree* when below 0 or when the two are identical in every seed, *inconclusive at this "
          "scale* when it contains 0, *not measured* "
          "with fewer than 2 paired seeds. A verdict concerns its one comparison on the datasets it was judged "
          "on: where the paper's statement covers several methods or datasets, it agrees with the paper only "
          "when every row of that statement does. Only the sign is judged: the paper's numbers are shown for "
          "reference" + (", not as a target (this profile departs from the paper's protocol)."
                         if profile.departures else "."))
    doc.table(*claims.table(verdicts))
    doc.p(claims.tally(verdicts))
    doc.claims = verdicts


def _about(doc, profile, tree, gathered):
    """Departures, caveats, provenance and compute of the trials in the document."""
    doc.p("Departures from the paper's protocol:" if profile.departures else
          "Departures from the paper's protocol: none.")
    doc.items(profile.departures)
    doc.h(2, "Caveats")
    doc.p("Of this profile's results:")
    doc.items([f"This profile departs from the paper's protocol in {plural(len(profile.departures), 'way')} (listed "
               "above): its numbers are not the paper's experiment." if profile.departures else
               "This profile runs the paper's protocol unchanged."] + list(profile.raw.get("caveats") or []))
    doc.p("Of the data and machines (general):")
    doc.items(CAVEATS)
    doc.h(2, "Provenance")
    used = {}   # the finished trials used, each once (an artifact drawn from another's runs shares them)
    for _, t in gathered:
        skip = {k for k, *_ in t.partial} | {k for k, _ in t.other}
        used.update({k: c for k, c in t.configs.items() if c and k not in skip})
    _provenance(doc, list(used.values()), [tree.round_processors(*k) for k in used])
    _compute(doc, tree, gathered)
    if tree.unreadable:
        doc.h(2, "Unreadable results (left out)")
        doc.p("These trial folders hold a `rounds.csv` that could not be read as a results table (or an empty "
              "one); their trials count as missing below:")
        doc.items(f"`{m}`" for m in tree.unreadable)


def build(profile_name: str, root: str, only=None, manifest=None, data_root=None) -> Doc:
    """The report as a Doc (no file written): of the paper's manifest, or of a study's (``manifest`` with a
    ``_name``: ``bench.paper.manifest.load_study``), whose results come first and the provenance last;
    ``data_root``: where drawings that show images (Fig. 4) find the data (default: each trial's own)."""
    profile = load_profile(profile_name)
    manifest = manifest or load_manifest()
    study = manifest.get("_name")
    arts = resolve(profile, manifest, only=only)
    labels = [s for a in resolve(profile, manifest) for r in a.runs for s in r.strategies]
    tree = Tree(root)
    ctx = Context(profile, root, manifest.get("baseline", "random"), labels, data_root, tree)
    gathered = []
    for art in arts:
        seeds = {int(art.options.get("seed", 0))} if art.draw == "top_images" else None
        gathered.append((art, gather(art, tree, root, seeds)))

    doc = Doc()
    if study:
        doc.h(1, f"albench study `{study}`: profile `{profile.name}`")
        doc.p(f"{manifest.get('study', study)}. Results read from `{root}` (the profile's results tree, shared "
              "with the paper's reproduction: a trial both need is run once); every number below is computed "
              "from the trials' tables (`rounds.csv`, `rounds.jsonl`), only from trials that finished every "
              f"round of the profile's schedule. Regenerate it with `{command(profile.name, manifest)} --report`.")
        if manifest.get("description"):
            doc.p(str(manifest["description"]).strip())
        if manifest.get("_added"):
            doc.p("Added to the study on the command line (`--strategies`): "
                  + ", ".join(f"`{s}`" for s in manifest["_added"]) + ".")
        doc.p(f"Profile: {profile.description}")
    else:
        doc.h(1, f"albench paper report: profile `{profile.name}`")
        doc.p(f"Reproduction of {manifest.get('paper', 'the paper')}. Results read from `{root}`; every number "
              "below is computed from the trials' tables (`rounds.csv`, `rounds.jsonl`), only from trials that "
              "finished every round of the profile's schedule.")
        doc.p(f"Profile: {profile.description}")
        _about(doc, profile, tree, gathered)
    doc.h(2, "Artifacts")
    doc.table(["artifact", "title", "draw", "finished / expected trials", "partial", "missing"],
              [[f"`{a.name}`", a.title, a.draw, f"{len(t.frames)} / {len(t.expected)}", len(t.partial),
                len(t.missing)] for a, t in gathered])
    _claims(doc, manifest, profile, gathered)
    empty = []
    for art, t in gathered:
        if not t.frames and not (art.draw == "top_images" and t.configs):
            empty.append((art, t))
            continue
        doc.h(2, f"`{art.name}`: {art.title}")
        if art.source:
            doc.p(f"Drawn from the runs of `{art.source}` (no training of its own).")
        subs = _substitutions(manifest, art, profile)
        if subs:
            doc.p("Datasets substituted by this profile: " + ", ".join(subs) + ".")
        left = _restricted(manifest, art, profile)
        if left:
            doc.p("This profile restricts the artifact: it does not run " + ", ".join(f"`{x}`" for x in left)
                  + " (the title is the paper's).")
        if art.note:
            doc.p(f"Note: {art.note}")
        _status(doc, t)
        rows = t.rows
        if art.draw != "top_images" and (art.metric not in rows or rows[art.metric].isna().all()):
            doc.p(f"The finished trials hold no `{art.metric}` column: this artifact cannot be drawn from them.")
        else:
            DRAW[art.draw](doc, art, t, ctx)
        _left_out(doc, t)
    if empty:
        doc.h(2, "Artifacts without results")
        doc.p(f"Run them with `{command(profile.name, manifest)} --only <artifact>`.")
        for art, t in empty:
            doc.h(3, f"`{art.name}`: {art.title}")
            _status(doc, t)
            _left_out(doc, t, 4)
    if study:
        doc.h(2, "The profile, its departures and the trials' provenance")
        _about(doc, profile, tree, gathered)
    return doc


def _write_figures(doc, out, owned=None):
    """The report's PNGs into ``out``; a PNG of an earlier report that this one no longer has is removed
    (``owned``: only those names, e.g. the ones listed when they were written; default: any PNG)."""
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if f.endswith(".png") and f not in doc.figures and (owned is None or f in owned):
            os.remove(os.path.join(out, f))
    for name, png in doc.figures.items():
        atomic_write(os.path.join(out, name), png)


README_BLOCK = "<!-- albench:{kind}:{profile} {edge} -->"
PUBLISHED = ".albench-figures"   # the PNG names a publish wrote into its folder (the only ones it may remove)


def publish(profile_name: str, root: str, path: str, readme: str = None, only=None, manifest=None,
            data_root=None):
    """The report's Markdown twin at ``path`` (a .md file, e.g. docs/reproduction-cpu.md) with its figures
    in the folder of the same name (``docs/reproduction-cpu/``), for committing beside the code; and, if
    ``readme`` holds the block ``<!-- albench:claims:<profile> start -->`` ... ``end -->`` once (a study's:
    ``albench:<study>:<profile>``), that block replaced by the claims table (a study's: its short answer and
    picture), so the README and the published report cannot disagree. Returns the paths written; a README
    without the block is left alone, with a warning."""
    if not path.endswith(".md"):
        raise ConfigError(f"--publish {path}: give a Markdown file path ending in .md (its figures go in the "
                          "folder of the same name without .md)")
    kind = (manifest or {}).get("_name") or "claims"
    start, end = (README_BLOCK.format(kind=kind, profile=profile_name, edge=e) for e in ("start", "end"))
    text = None
    if readme:
        if not os.path.exists(readme):
            raise ConfigError(f"{readme} not found: run from the repository root (or leave the README out)")
        text = open(readme).read()
        counts = (text.count(start), text.count(end))
        if counts != (0, 0) and (counts != (1, 1) or text.index(end) < text.index(start)):
            raise ConfigError(f"{readme}: the block {start} ... {end} must appear once, start before end "
                              f"(found {counts[0]} start and {counts[1]} end marker(s))")
    doc = build(profile_name, root, only, manifest, data_root)
    stem = os.path.splitext(os.path.basename(path))[0]
    fig_dir = os.path.join(os.path.dirname(path), stem)
    listing = os.path.join(fig_dir, PUBLISHED)
    owned = set(open(listing).read().split()) if os.path.exists(listing) else set()
    _write_figures(doc, fig_dir, owned)
    atomic_write(listing, "".join(n + "\n" for n in doc.figures))
    atomic_write(path, doc.markdown(figure_dir=stem))
    written = [path] + [os.path.join(fig_dir, n) for n in doc.figures]
    if text is not None and start in text:
        head, rest = text.split(start, 1)
        tail = rest.split(end, 1)[1]
        block = claims_markdown(doc) if kind == "claims" else answer_markdown(
            doc, os.path.relpath(fig_dir, os.path.dirname(os.path.abspath(readme))))
        atomic_write(readme, f"{head}{start}\n{block}{end}{tail}")
        written.append(readme)
    elif text is not None:
        print(f"albench: {readme} has no block {start} ... {end}: left as it is", file=sys.stderr)
    return written


def answer_markdown(doc, fig_dir: str) -> str:
    """A study's short answer (``doc.answer``: its lines and the figure they go with) for the README, the
    figure linked in ``fig_dir`` (relative to the README); '' if the document has none."""
    if not doc.answer:
        return ""
    lines, fig = doc.answer
    alt = next((b[2] for b in doc.blocks if b[0] == "fig" and b[1] == fig), fig)
    alt = alt.replace("`", "").replace("[", "\\[").replace("]", "\\]")
    return (f"![{alt}]({fig_dir}/{fig})\n\n" if fig else "") + "".join(f"{line}\n" for line in lines)


def claims_markdown(doc) -> str:
    """The claims of ``doc`` as a short Markdown table for the README (the full one is in the report) and
    the tally line; '' if the report has none."""
    verdicts = doc.claims
    if not verdicts:
        return ""
    sub = Doc()
    sub.table(*claims.table(verdicts, compact=True))
    sub.p(claims.tally(verdicts))
    return sub.markdown()


def write_report(profile_name: str, root: str = None, only=None, base: str = None, manifest=None, data_root=None):
    """Write ``<root>/report/report.html`` (self-contained) and ``report.md`` (with its PNGs beside it); a
    study's into ``<root>/report-<study>/``; returns (html_path, md_path).  ``root``: the profile's results
    folder (default: ``<base>/paper-<profile>``, ``base`` defaulting to ``results``); ``only``: artifact
    names; ``manifest``: a manifest dict (default: configs/paper/manifest.yaml)."""
    root = root or load_profile(profile_name).root(base or "results")
    doc = build(profile_name, root, only, manifest, data_root)
    study = (manifest or {}).get("_name")
    out = os.path.join(root, f"report-{study}" if study else "report")
    _write_figures(doc, out)
    md_path, html_path = os.path.join(out, "report.md"), os.path.join(out, "report.html")
    atomic_write(md_path, doc.markdown())
    atomic_write(html_path, doc.html(f"albench {'study ' + study if study else 'paper report'}: {profile_name}"))
    return html_path, md_path
