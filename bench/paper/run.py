"""``albench paper``: the paper's artifacts (``configs/paper/manifest.yaml``) at a scale profile
(``configs/profiles/<name>.yaml``): what they cost and which trials are missing (``plan``), running the
missing ones (``run``), and the report (``bench.paper.report.write_report``).

  albench paper --profile cpu --plan            # per artifact: trials finished / partial / missing, the
                                                # training images they need, a wall-time estimate here
  albench paper --profile smoke                 # run the core subset's missing trials, then the report
  albench paper --profile paper --only fig3b,table1 --executor pool --workers 8

A profile's results live under ``<base>/paper-<profile>/`` beside a ``profile.json`` naming the profile
(its description, departures from the paper and resolved overrides), so two profiles never share a
folder and a report can never mix them.  A trial is one (group, dataset, strategy, seed); trials that
several artifacts draw (Fig. 3(b), Fig. 4, Fig. 7) are counted and run once.
"""
import json
import os
import shutil
import sys
import tempfile
import time

from bench import __version__
from bench.core.config import REPO_ROOT
from bench.core.errors import ConfigError, describe_failure
from bench.paper.draw import DATA_MISSING
from bench.paper.manifest import Profile, command, load_manifest, load_profile, load_study, resolve
from bench.paper.plan import estimate_run
from bench.paper.report import PUBLISHED, write_report
from bench.paper.report import publish as write
from bench.paper.status import check_profile_root, fill_status, selected_artifacts, trials_of
from bench.trial.grid import Trial, run_grid
from bench.trial.preflight import check_writable, import_user_modules, preflight
from bench.trial.store import atomic_write
from strategies import list_strategies


def profile_record(prof: Profile) -> dict:
    """What ``profile.json`` holds: the profile and its resolved runs per artifact."""
    arts = resolve(prof, load_manifest())
    return {"profile": prof.name, "description": prof.description, "departures": list(prof.departures),
            "core": list(prof.core),
            "profile_settings": {k: v for k, v in prof.raw.items() if k not in ("description", "departures", "core")},
            "artifacts": {a.name: [{"group": r.group, "datasets": list(r.datasets), "strategies": list(r.strategies),
                                    "seeds": list(r.seeds), "overrides": r.overrides,
                                    "strategy_params": r.strategy_params, "sweep": r.sweep} for r in a.runs]
                          for a in arts},
            "albench_version": __version__}


def write_profile_json(prof: Profile, root: str):

    check_profile_root(prof, root)
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, "profile.json")
    record = json.loads(json.dumps(profile_record(prof), default=list))
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
        if {k: v for k, v in old.items() if k != "written"} == record:
            return path
        if "written" in old:
            print(f"albench: {prof.name}'s profile changed since {old['written']}; {path} updated (trials "
                  "made under the old settings are refused by their identity)", file=sys.stderr)
    record["written"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    atomic_write(path, json.dumps(record, indent=2) + "\n")
    return path


def _only(todo, trials, arts, field: str, wanted, option: str) -> list:
    """The trials of ``todo`` whose ``field`` (strategy or seed) is in ``wanted``; ConfigError naming the
    values ``arts`` have when one of ``wanted`` (the command line's ``option``) is none of theirs."""
    have = sorted({getattr(t, field) for t in trials.values()})
    unknown = [w for w in wanted if w not in have]
    if unknown:
        raise ConfigError(f"{option} {','.join(map(str, unknown))}: not a "
                          f"{field} of {', '.join(a.name for a in arts)}; they have {', '.join(map(str, have))}")
    return [t for t in todo if getattr(t, field) in wanted]


def study(name: str, imports=(), strategies=(), profile: str = None) -> dict:
    """The study manifest ``name`` (``bench.paper.manifest.load_study``) after importing the user's modules
    (``imports``: they register their strategies), with ``strategies`` it does not name added to it: each a
    registered strategy or a variant of ``profile``'s ``strategy_params``."""
    import_user_modules(list(imports))
    manifest = load_study(name, strategies or ())
    variants = {k for k, v in ((load_profile(profile).raw.get("strategy_params") or {}) if profile else {}).items()
                if isinstance(v, dict) and "strategy" in v}
    unknown = [s for s in manifest["_added"] if s not in list_strategies() and s not in variants]
    if unknown:
        raise ConfigError(f"--strategies {','.join(unknown)}: neither in study {manifest['_name']!r} nor a registered "
                          f"strategy (registered: {', '.join(list_strategies())}; your own: --import its module)")
    return manifest


def run(profile, only=None, base: str = "results", executor: str = "local", workers: int = 1,
        device: str = None, data_root: str = None, address: str = None, progress: bool = True,
        strategies=None, seeds=None, manifest: dict = None, imports=()) -> dict:
    """Run the missing and partial trials of ``profile``'s artifacts (``only``; default its core subset; of a
    study's ``manifest``: all of them), in manifest order, each trial once, through
    ``bench.trial.grid.run_grid`` (resumable). ``strategies`` (labels) runs only those, in that order (e.g.
    the cheap ones first); ``seeds`` only those seeds (e.g. two seeds of every variant before anyone's third,
    so that a stopped session still leaves paired seeds); ``imports``: the user's modules, imported by every
    worker. Returns a summary."""

    prof = load_profile(profile) if isinstance(profile, str) else profile
    root = prof.root(base)
    arts = selected_artifacts(prof, only, default_core=True, manifest=manifest)
    fields = {k: v for k, v in (("device", device), ("data_root", data_root)) if v}
    trials = trials_of(arts, root, fields)
    check_writable(root)   # before profile.json is written there
    write_profile_json(prof, root)
    fill_status(trials)
    conflicts = [t for t in trials.values() if t.status == "conflict"]
    if conflicts:
        raise ConfigError(f"{len(conflicts)} trial folder(s) under {root} were made under another configuration "
                          f"or cannot be verified, e.g. {conflicts[0].why}; move them away (or run with --out "
                          "elsewhere)")
    todo = [t for t in trials.values() if t.status != "finished"]
    n_finished = len(trials) - len(todo)
    if strategies:
        todo = sorted(_only(todo, trials, arts, "strategy", strategies, "--strategies"),
                      key=lambda t: list(strategies).index(t.strategy))
    if seeds:   # seed by seed, in this order: every strategy's first seed before any second (a stable sort)
        todo = sorted(_only(todo, trials, arts, "seed", seeds, "--seeds"), key=lambda t: list(seeds).index(t.seed))
    preflight([Trial(t.cfg, t.strategy, t.seed) for t in todo], root)
    print(f"{command(prof.name, manifest)}: {len(arts)} artifact(s) ({', '.join(a.name for a in arts)}), "
          f"{len(trials)} trial(s), {n_finished} finished, {len(todo)} to run"
          + (f" (--strategies {','.join(strategies)})" if strategies else "")
          + (f" (--seeds {','.join(map(str, seeds))})" if seeds else "") + f" -> {root}/",
          file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    if todo:
        grid = [Trial(t.cfg, t.strategy, t.seed) for t in todo]
        try:   # each trial's estimate weighs the time left (measured only for a long run; cached per machine)
            cost = estimate_run(grid, device or "auto", log=lambda text: print(
                f"albench: for the time left, {text.strip()}", file=sys.stderr, flush=True)).get("per_trial")
        except Exception as err:   # an estimate never stops a run
            cost = None
            print(f"albench: no estimate ({describe_failure(err)}); the time left counts trials alike",
                  file=sys.stderr)
        run_grid(grid, executor, workers, address, progress, imports=list(imports), cost=cost)
    seconds = time.perf_counter() - t0
    if todo:
        print(f"{command(prof.name, manifest)}: {len(todo)} trial(s) run in {seconds / 60:.1f} min "
              f"({executor}, {workers} worker(s))", file=sys.stderr, flush=True)
    return {"profile": prof.name, "root": root, "artifacts": [a.name for a in arts], "trials": len(trials),
            "ran": len(todo), "skipped": n_finished, "seconds": seconds}


def checkout_readme():
    """This checkout's README.md, the default README a publish refreshes and a check compares; None without one."""
    readme = os.path.join(REPO_ROOT, "README.md")
    return readme if os.path.exists(readme) else None


def publish(profile, path: str, only=None, base: str = "results", readme: str = None, manifest: dict = None,
            data_root: str = None):
    """``bench.paper.report.publish`` for ``profile``'s results: the Markdown twin at ``path`` for committing;
    ``readme`` (default: this checkout's README.md, where there is one) gets its claims block refreshed."""
    readme = checkout_readme() if readme is None else readme
    prof = load_profile(profile) if isinstance(profile, str) else profile
    root = prof.root(base)
    check_profile_root(prof, root)

    return write(prof.name, root, path, readme, list(only) if only else None, manifest, data_root)


def check_published(profile, path: str, only=None, base: str = "results", readme: str = None, manifest: dict = None,
                    data_root: str = None) -> list:
    """What differs between the page published at ``path`` (its figures, and ``readme``'s block where the page
    lies under the README's folder: default this checkout's README.md) and the same page generated now from the
    results, in a temporary folder: [] when they are byte-identical. Give the ``only`` (and manifest) it was
    published with. Writes nothing beside the temporary copy; ConfigError where the page needs data (images)
    that cannot be loaded here, rather than a difference that publishing here would make."""
    if not os.path.exists(path):
        raise ConfigError(f"--check {path}: no such page; publish it first (--report --publish {path})")
    readme = checkout_readme() if readme is None else readme
    home = os.path.dirname(os.path.abspath(readme or path))
    rel = os.path.relpath(os.path.abspath(path), home)
    if rel.startswith(".."):   # a page outside the README's folder: the page alone
        readme, home, rel = None, os.path.dirname(os.path.abspath(path)), os.path.basename(path)
    listing = os.path.join(os.path.splitext(rel)[0], PUBLISHED)
    with tempfile.TemporaryDirectory() as tmp:
        page = os.path.join(tmp, rel)
        os.makedirs(os.path.dirname(page), exist_ok=True)
        copy = os.path.join(tmp, os.path.basename(readme)) if readme else ""
        if readme:
            shutil.copyfile(readme, copy)
        publish(profile, page, only, base, copy, manifest, data_root)
        text = open(page).read()
        if DATA_MISSING in text and DATA_MISSING not in open(path).read():
            raise ConfigError(f"--check {path}: the page shows images of a dataset that cannot be loaded here; give "
                              "--data-root DIR (where it was published from), or the check would compare a page "
                              "without them")
        made = {os.path.relpath(os.path.join(d, f), tmp) for d, _, fs in os.walk(tmp) for f in fs}
        old_listing = os.path.join(home, listing)
        published = {os.path.join(os.path.dirname(listing), n) for n in open(old_listing).read().split()} \
            if os.path.exists(old_listing) else set()
        diffs = [f"{r}: published, no longer generated" for r in sorted(published - made)]
        for r in sorted(made):
            old = os.path.join(home, r)
            if not os.path.exists(old):
                diffs.append(f"{r}: generated, not published")
            elif open(old, "rb").read() != open(os.path.join(tmp, r), "rb").read():
                diffs.append(f"{r}: differs from what the results give now")
    return diffs


def report(profile, only=None, base: str = "results", manifest: dict = None, data_root: str = None):
    """``bench.paper.report.write_report`` for ``profile``'s results (of a study: ``manifest``);
    (html_path, md_path)."""
    prof = load_profile(profile) if isinstance(profile, str) else profile
    root = prof.root(base)
    check_profile_root(prof, root)
    return write_report(prof.name, root, list(only) if only else None, manifest=manifest, data_root=data_root)
