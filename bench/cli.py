"""``albench`` / ``python -m bench``: run, list, paper, study, parity, features, verify, figures, summary (= report).

  albench run --strategy vabal --data SPEC --seeds 0,1,2 --device cuda epochs=100   # SPEC: see `albench list`
  albench run --strategy random,coreset,bald,vaal,vabal --data SPEC1,SPEC2 --executor pool --workers 4
  albench figures            # every figure the results allow, and which paper runs are missing
  albench paper --profile smoke              # the paper's artifacts at a scale profile, then the report
  albench paper --profile cpu --plan         # what a profile's trials cost here and which are missing
  albench features --data BASE --method simclr --profile cpu   # for typiclust/probcover features=simclr
"""
import argparse
import os
import sys
import time

from bench import __version__
from bench.core import priority
from bench.core.errors import AlbenchError, ConfigError, RunStopped, describe_failure
from bench.trial import stop

# Each command imports what it runs inside its own function (deliberate: `albench --help` and a mistyped
# command answer at once instead of loading torch, pandas and matplotlib first).


def _csv(text):
    return [t for t in (text or "").replace(" ", "").split(",") if t]


def _seeds(text):
    if text is None:
        return None
    try:
        seeds = [int(s) for s in _csv(text)]
    except ValueError:
        raise ConfigError(f"--seeds takes comma-separated integers (e.g. --seeds 0,1,2), got {text!r}") from None
    if not seeds:
        raise ConfigError("--seeds is empty; give comma-separated integers (e.g. --seeds 0,1,2) or leave it out")
    return seeds


def cmd_run(a):
    stop.listen()   # a stop asked while the run is prepared is kept for run_grid (bench.trial.stop)
    from bench.analysis.collect import collect, format_summary, summarise
    from bench.paper.manifest import load_profile
    from bench.paper.plan import LONG_RUN_S, estimate_run, human
    from bench.trial.grid import expand, run_grid
    from bench.trial.preflight import import_user_modules, preflight



    import_user_modules(a.imports)
    if a.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {a.workers}")
    fields = {k: v for k, v in (("device", a.device), ("data_root", a.data_root), ("out", a.out)) if v}
    given = [o.split("=", 1)[0].strip() for o in a.overrides]
    if "dataset" in given:
        raise ConfigError("dataset= is not a run override: name the data with --data (a spec of `albench list`)")
    base = None
    if a.profile:   # a scale profile's recipe (configs/profiles/<name>.yaml) under the user's overrides

        prof = load_profile(a.profile)
        base = dict(prof.raw.get("overrides") or {}, strategy_params=dict(prof.raw.get("strategy_params") or {}))
        print(f"albench: profile {prof.name}: {prof.description}", file=sys.stderr)
    trials = expand(_csv(a.data) or ["digits"], _csv(a.strategy) or None, _seeds(a.seeds), a.config,
                    a.overrides, base, **fields)
    preflight(trials, trials[0].cfg.out)
    print(f"albench: {len(trials)} trial(s) -> {trials[0].cfg.out}/", file=sys.stderr)
    try:   # advisory: it times each strategy once on a synthetic pool; a strategy failing there fails its trial
        cost = estimate_run(trials, a.device or trials[0].cfg.device)
    except Exception as err:   # the estimate never stops a run
        cost = {"seconds": None}
        print(f"albench: no estimate ({describe_failure(err)})", file=sys.stderr)
    if cost["seconds"] is not None:
        hint = ""
        if cost["seconds"] > LONG_RUN_S and not a.profile:
            hint = (" (never refused; the same trials at a laptop-sized scale: add --profile cpu, or PROFILE=cpu to "
                    "make bench; `albench paper --profile cpu --plan` shows what that scale keeps)")
        print(f"albench: estimated {human(cost['seconds'])} for {cost['trials']} trial(s) on {cost['device']}, "
              f"{cost['train_images']:,} training images"
              + (" (trial after trial)" if a.workers == 1 else f" (summed; {a.workers} workers share the machine)")
              + hint, file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    run_grid(trials, a.executor, a.workers, a.address, progress=not a.no_progress, imports=a.imports,
             cost=cost.get("per_trial"))
    print(f"albench: {len(trials)} trial(s) done in {(time.perf_counter() - t0) / 60:.1f} min "
          f"({a.executor}, {a.workers} worker(s))", file=sys.stderr)

    df = collect(trials[0].cfg.out)
    names = {(t.cfg.dataset, t.strategy) for t in trials}
    df = df[[(d, s) in names for d, s in zip(df["dataset"], df["strategy"])]]
    print(format_summary(summarise(df)))


def cmd_list(a):
    from bench.trial.preflight import import_datasets
    from strategies import get_strategy, list_strategies

    print("strategies:")
    for s in list_strategies():
        print(f"  {s:24s} {get_strategy(s)!r}")
    datasets = import_datasets()
    print("datasets (the paper's specs):")
    print("  " + " ".join(datasets.list_datasets()))
    print(datasets.describe_grammar())


def cmd_figures(a):
    from bench.analysis.figures import make_figures
    from bench.paper.manifest import averaged_panels, main_grid

    if not os.path.isdir(a.out or "results"):
        raise ConfigError(f"no results folder {a.out or 'results'!r}: pass --out the folder a run wrote")
    make_figures(a.out or "results", a.figures_dir, panels=averaged_panels(), grid=main_grid())


def cmd_report(a):
    from bench.analysis.collect import collect, format_summary, summarise

    s = summarise(collect(a.out or "results"))
    print(format_summary(s) if not s.empty else f"no results under {a.out or 'results'}")


def cmd_paper(a):
    if not (a.check or a.plan or a.report):   # it runs trials: a stop asked while it prepares them is kept
        stop.listen()
    from bench.paper import plan as paper_plan
    from bench.paper import run as paper_run

    if a.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {a.workers}")
    if (a.measure_budget or 0) < 0:
        raise ConfigError(f"--measure-budget takes seconds >= 0 (0: measure everything), got {a.measure_budget:g}")
    only, base = _csv(a.only) or None, a.out or "results"
    strategies, imports = _csv(a.strategies) or None, getattr(a, "imports", [])
    manifest = paper_run.study(a.study, imports, strategies, a.profile) if getattr(a, "study", None) else None
    if a.check:
        if a.plan or a.report or a.publish:
            raise ConfigError("--check runs alone: leave out --plan, --report and --publish")
        diffs = paper_run.check_published(a.profile, a.check, only, base, manifest=manifest, data_root=a.data_root)
        for d in diffs:
            print(f"albench: {d}", file=sys.stderr)
        if diffs:
            raise SystemExit(f"albench: {a.check} is not what the results give now ({len(diffs)} file(s)); to "
                             f"publish it again, run the same command with --report --publish {a.check} in place "
                             f"of --check {a.check}, and commit it with the results")
        print(f"albench: {a.check} and what it publishes beside it are what the results give, byte for byte",
              file=sys.stderr)
        return
    if a.plan:
        paper_plan.plan(a.profile, only, base, measure=not a.no_measure, device=a.device or "auto",
                        data_root=a.data_root, remeasure=a.remeasure, manifest=manifest,
                        **({} if a.measure_budget is None else {"budget_s": a.measure_budget}))
    if not a.plan and not a.report:
        paper_run.run(a.profile, only, base, a.executor, a.workers, a.device, a.data_root, a.address,
                      progress=not a.no_progress, strategies=strategies, seeds=_seeds(a.seeds), manifest=manifest,
                      imports=imports)
    if a.report or not a.plan:
        html, md = paper_run.report(a.profile, only, base, manifest=manifest, data_root=a.data_root)
        print(f"albench: report written: {html} and {md}", file=sys.stderr)
    if a.publish:
        for path in paper_run.publish(a.profile, a.publish, only, base, manifest=manifest, data_root=a.data_root):
            print(f"albench: published {path}", file=sys.stderr)


def cmd_parity(a):
    from bench.paper import parity

    profiles = _csv(a.profiles)
    if len(profiles) != 2:
        raise ConfigError("--profiles takes two profiles, reference then candidate (e.g. cpu,cpu-bf16), "
                          f"got {a.profiles!r}")
    if a.publish:
        decision = parity.publish(profiles, a.publish, a.out or "results", _csv(a.only) or None)
        print(f"albench: published {a.publish}", file=sys.stderr)
    else:
        doc, decision = parity.build_page(profiles, a.out or "results", _csv(a.only) or None)
        print(doc.markdown())
    for line in parity.summary(decision):
        print(f"albench: {line}", file=sys.stderr)


def cmd_features(a):
    from bench.features.make import make_features

    make_features(a.data, a.method, a.profile, a.out, a.device or "auto", a.data_root, a.seed, a.epochs,
                  progress=not a.no_progress, adopt=a.adopt)


def cmd_verify(a):
    from bench.trial import verify

    if verify.main(a.paths or ["results"], quiet=a.quiet):
        raise SystemExit(1)


def _nice_option(parser):
    parser.add_argument("--nice", type=int, metavar="N", help="run at nice N (1..19; 19: the lowest), local workers "
                        "too; started with `setsid`, also below other sessions' work (see docs/scale.md)")


def build_parser():
    p = argparse.ArgumentParser(prog="albench", description="active-learning benchmark (VaB-AL reproduction)")
    p.add_argument("--version", action="version", version=f"albench {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run trials (a grid of datasets x strategies x seeds); resumes finished rounds")
    r.add_argument("--strategy", "-s", help="comma-separated registry keys (default: the preset's strategies)")
    r.add_argument("--data", "-d", help="comma-separated dataset specs (default: digits)")
    r.add_argument("--seeds", help="comma-separated integer seeds (default: the preset's)")
    r.add_argument("--config", "-c", help="preset YAML (default: configs/paper/<family>.yaml or configs/digits.yaml)")
    r.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    r.add_argument("--profile", "-p", help="a scale profile's recipe over the preset (e.g. cpu: width 16, 30 epochs; "
                   "configs/profiles/<name>.yaml); key=value overrides still apply on top")
    r.add_argument("--data-root", help="where datasets live (default: $ALBENCH_DATA, else ~/.cache/albench)")
    r.add_argument("--out", help="results root (default: results)")
    r.add_argument("--executor", default="local", choices=["local", "pool", "ray"])
    r.add_argument("--workers", type=int, default=1, help="processes (pool) or concurrent tasks (ray)")
    r.add_argument("--address", help="ray: address of an existing cluster ('auto' joins the local one)")
    r.add_argument("--import", dest="imports", action="append", default=[],
                   help="import this module first (registers your own strategies)")
    r.add_argument("--no-progress", action="store_true")
    _nice_option(r)
    r.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. epochs=50")
    r.set_defaults(fn=cmd_run)
    sub.add_parser("list", help="registered strategies and dataset specs").set_defaults(fn=cmd_list)
    pp = sub.add_parser("paper", help="the paper's figures and tables at a scale profile: run the missing trials "
                        "and write the report (--plan: cost and progress; --report: the report only)")
    st = sub.add_parser("study", help="a study beside the paper (configs/studies/<name>.yaml, e.g. imbalance: the "
                        "leaderboard) at a scale profile, in the same results tree: run the missing trials, report")
    st.add_argument("study", help="a study's name (configs/studies/<name>.yaml) or the path of a study manifest")
    st.add_argument("--import", dest="imports", action="append", default=[],
                    help="import this module first (registers your own strategies; name them in --strategies)")
    for q, what in ((pp, "paper"), (st, "study")):
        q.add_argument("--profile", "-p", required=True, help="paper | cpu | smoke (configs/profiles/<name>.yaml)")
        q.add_argument("--plan", action="store_true", help="print each artifact's trials (finished / partial / "
                       "missing), training images and a wall-time estimate measured here; run nothing")
        q.add_argument("--report", action="store_true", help="write the report from the results there; run nothing")
        q.add_argument("--only", help="comma-separated artifacts (default: " + (
            "the profile's core subset; --plan: all)" if what == "paper" else "all of the study's)"))
        q.add_argument("--publish", metavar="PATH", help="also write the report's Markdown at PATH (figures in the "
                       "folder PATH without .md) and refresh README.md's block "
                       + ("<!-- albench:claims:<profile> start/end -->" if what == "paper" else
                          "<!-- albench:<study>:<profile> start/end -->"))
        q.add_argument("--check", metavar="PATH", help="compare the page published at PATH (its figures, the "
                       "README's block) with the same page generated now from the results; exit 1 if any byte "
                       "differs; run nothing")
        q.add_argument("--strategies", help="run only these strategies (labels, e.g. random,vabal), in this order "
                       + ("(running only: --plan and --report cover every strategy)" if what == "paper" else
                          "; one the study does not name (your own, with --import) is added to every artifact, "
                          "for running, --plan, --report and --publish alike"))
        q.add_argument("--seeds", help="run only these seeds, seed by seed in this order (e.g. 0,1,2: every "
                       "strategy's seed 0, then every seed 1, ...; running only)")
        q.add_argument("--out", help="results base (default: results); the profile's folder is <out>/paper-<profile>")
        q.add_argument("--executor", default="local", choices=["local", "pool", "ray"])
        q.add_argument("--workers", type=int, default=1, help="processes (pool) or concurrent tasks (ray)")
        q.add_argument("--address", help="ray: address of an existing cluster")
        q.add_argument("--device", help="auto | cpu | cuda | cuda:N (training, and the plan's measurements)")
        q.add_argument("--data-root", help="where datasets live (default: $ALBENCH_DATA, else ~/.cache/albench)")
        q.add_argument("--no-measure", action="store_true", help="--plan without measuring speeds (no wall time)")
        q.add_argument("--remeasure", action="store_true", help="--plan: measure every speed again (by default a "
                       "speed measured on this machine by an earlier plan is reused)")
        q.add_argument("--measure-budget", type=float, metavar="S",
                       help="--plan: seconds to spend measuring (default 15; 0: no bound); past it, a speed like one "
                       "measured is extrapolated from it (marked ~) and measured by a later --plan")
        q.add_argument("--no-progress", action="store_true")
        _nice_option(q)
        q.set_defaults(fn=cmd_paper)
    pa = sub.add_parser("parity", help="the same trials under two profiles (e.g. fp32 and bf16), paired by seed: "
                        "per-strategy intervals, the paper's claims under both, a decision")
    pa.add_argument("--profiles", default="cpu,cpu-bf16", help="reference,candidate (default: cpu,cpu-bf16)")
    pa.add_argument("--only", help="comma-separated artifacts (default: the reference's core subset)")
    pa.add_argument("--out", help="results base (default: results)")
    pa.add_argument("--publish", metavar="PATH",
                    help="write the page's Markdown at PATH (e.g. docs/precision-parity.md)")
    pa.set_defaults(fn=cmd_parity)
    fe = sub.add_parser("features", help="self-supervised features of a base dataset's training images (no "
                        "labels), for typiclust/probcover features=<method>; resumable, with k-NN accuracy")
    fe.add_argument("--data", "-d", required=True, help="a base dataset (e.g. digits): every suffix of it uses them")
    fe.add_argument("--method", default="simclr", help="simclr (configs/features/<method>.yaml)")
    fe.add_argument("--profile", "-p", default="cpu", help="the recipe's scale: smoke | cpu | paper (default: cpu)")
    fe.add_argument("--out", help="features root (default: $ALBENCH_FEATURES, else results/features)")
    fe.add_argument("--epochs", type=int, default=0, help="override the recipe's epochs")
    fe.add_argument("--seed", type=int, default=0)
    fe.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    fe.add_argument("--data-root", help="where datasets live (default: $ALBENCH_DATA, else ~/.cache/albench)")
    fe.add_argument("--no-progress", action="store_true")
    fe.add_argument("--adopt", action="store_true", help="where the features file made again from the weights "
                    "differs from the recorded one (another CPU's kernels), keep this machine's and record it")
    _nice_option(fe)
    fe.set_defaults(fn=cmd_features)
    v = sub.add_parser("verify", help="check every trial under the results trees given (default: results): "
                       "complete, consistent, checksums; exit 1 naming each failure")
    v.add_argument("paths", nargs="*", metavar="PATH", help="results trees or trial folders")
    v.add_argument("--quiet", "-q", action="store_true", help="print failures and the count only")
    v.set_defaults(fn=cmd_verify)
    for name, fn, text in (("figures", cmd_figures, "draw every figure the results allow"),
                           ("summary", cmd_report, "print the summary table (mean and spread over seeds)"),
                           ("report", cmd_report, "the same as summary (its older name)")):
        f = sub.add_parser(name, help=text)
        f.add_argument("--out", help="results root (default: results)")
        if name == "figures":
            f.add_argument("--figures-dir", help="default: <out>/figures")
        f.set_defaults(fn=fn)
    return p


def main(argv=None):
    parser = build_parser()
    a, extra = parser.parse_known_args(argv)
    # key=value overrides may stand anywhere, also after options (`run ... --out x epochs=3`)
    strays = [e for e in extra if e.startswith("-") or "=" not in e or not hasattr(a, "overrides")]
    if strays:
        parser.error(f"unrecognized arguments: {' '.join(strays)}")
    if extra:
        a.overrides = list(a.overrides) + extra
    try:
        if getattr(a, "nice", None) is not None:
            print(f"albench: priority: {'; '.join(priority.lower(a.nice))}", file=sys.stderr)
        a.fn(a)
        sys.stdout.flush()
    except BrokenPipeError:   # `albench list | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except AlbenchError as err:   # the user's input or data: one line saying what to do (a bug shows its traceback)
        print(f"albench: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:   # a results folder that cannot be written mid-run (disk full, permissions)
        print(f"albench: error: {err.strerror or err}"
              + (f": {err.filename}" if getattr(err, "filename", None) else "")
              + "; finished rounds are saved, fix the cause and run the same command to resume", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("albench: interrupted; finished rounds are saved, the same command resumes", file=sys.stderr)
        return 130
    except RunStopped as why:   # asked for (SIGUSR1, bench.trial.stop): not an error
        print(f"albench: {why}", file=sys.stderr)
        return 3
    finally:   # a stop asked as the command line ends no longer kills it; called in a process, it is as before
        stop.stop_listening(ending=argv is None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
