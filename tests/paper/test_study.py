"""`albench study` (a study manifest read by the paper's machinery): the imbalance study resolves under every
profile into the paper's own trials where they coincide, a tiny study runs at smoke scale into a leaderboard
report, and a user's strategy added with --import/--strategies runs only its own trials and is ranked beside
the others."""
import json
import os

import numpy as np
import pandas as pd
import pytest

from bench import cli
from bench.analysis import leaderboard as lb
from bench.core.errors import ConfigError
from bench.paper import run as paper_run
from bench.paper.manifest import load_profile, load_study, resolve
from bench.paper.status import selected_artifacts, trials_of
from bench.trial.identity import config_identity
from strategies import list_strategies
from tests.helpers import run_cli

TINY_STUDY = """\
study: "a tiny study"
baseline: random
artifacts:
  overall: {title: "All regimes", group: main, datasets: [digits, digits_dom1], strategies: &s [random, margin,
            balanced_random_oracle], draw: ranking}
  balanced: {title: "Balanced", group: main, datasets: [digits], strategies: *s, draw: leaderboard}
  dominant: {title: "Dominant", group: main, datasets: [digits_dom1], strategies: *s, draw: leaderboard}
"""

USER_STRATEGY = '''\
import numpy as np
from strategies import Strategy, register

@register("mine")
class Mine(Strategy):
    """The unlabelled images with the lowest index: a toy rule of a user's own."""
    def select(self, pool, budget):
        return np.sort(pool.unlabelled)[:budget].astype(np.int64)
'''


def test_imbalance_study_names_every_regime_and_shares_the_papers_trials():
    study = load_study("imbalance")
    arts = resolve(load_profile("cpu"), study)
    datasets = {d for a in arts for r in a.runs for d in r.datasets}
    assert datasets == {"cifar10", "cifar10_dom1", "cifar10_rare5", "cifar10_lt100"}
    labels = {s for a in arts for r in a.runs for s in r.strategies}
    registered = set(list_strategies())
    variants = {s for a in arts for r in a.runs for s in r.strategies if "strategy" in r.strategy_params.get(s, {})}
    assert labels - variants <= registered                      # every plain label is a registered strategy
    assert {"random", "vabal", "badge", "galaxy", "balanced_random_oracle"} <= labels
    # the paper's Fig. 3(b) trial on cifar10_dom1 and the study's are one and the same (key and config)
    paper = trials_of(selected_artifacts(load_profile("cpu"), ["fig3b"]), "r")
    mine = trials_of(selected_artifacts(load_profile("cpu"), manifest=study), "r")
    key = ("main", "cifar10_dom1", "vabal", 0)
    assert key in paper and key in mine
    a, b = paper[key].cfg, mine[key].cfg
    assert config_identity(a) == config_identity(b) and a.params_for("vabal") == b.params_for("vabal")
    assert a.out == b.out
    # under smoke, every regime has its digits analogue
    smoke = {d for a in resolve(load_profile("smoke"), study) for r in a.runs for d in r.datasets}
    assert smoke == {"digits", "digits_dom1", "digits_rare5", "digits_lt100"}


def test_unknown_study_says_which_exist():
    with pytest.raises(ConfigError, match="available: .*imbalance"):
        load_study("no_such_study")


def test_ranking_is_paired_deterministic_and_puts_the_better_strategy_first():
    rng = np.random.default_rng(0)
    scores = {}
    for regime in ("a", "b"):
        rows = []
        for k in range(3):
            base = rng.normal(0.5, 0.05)   # a seed's luck, shared by every strategy under that seed
            rows += [{"strategy": "good", "seed": k, "nauc": base + 0.05}, {"strategy": "bad", "seed": k, "nauc": base},
                     {"strategy": "mid", "seed": k, "nauc": base + 0.02}]
        scores[regime] = pd.DataFrame(rows)
    r = lb.ranking(scores, ["bad", "mid", "good"], draws=200)
    assert list(r["strategy"]) == ["good", "mid", "bad"]
    assert list(r["mean_rank"]) == [1.0, 2.0, 3.0]
    # paired resampling: the seed's luck cancels, so the order never changes and every interval is a point
    assert (r["lo"] == r["mean_rank"]).all() and (r["hi"] == r["mean_rank"]).all()
    assert r.equals(lb.ranking(scores, ["bad", "mid", "good"], draws=200))
    # a strategy missing from one regime is not ranked
    scores["b"] = scores["b"][scores["b"]["strategy"] != "mid"]
    assert list(lb.ranking(scores, ["bad", "mid", "good"], draws=50)["strategy"]) == ["good", "bad"]


def test_ranking_leaves_out_a_strategy_without_a_finite_score_and_counts_shared_firsts():
    rows = [{"strategy": s, "seed": k, "nauc": v} for k in range(2) for s, v in (("a", 0.5), ("b", 0.5),
                                                                                   ("c", float("nan")))]
    r = lb.ranking({"x": pd.DataFrame(rows)}, ["a", "b", "c"], draws=20)
    assert list(r["strategy"]) == ["a", "b"] and list(r["best_in"]) == [1, 1] and list(r["mean_rank"]) == [1.5, 1.5]


def test_a_study_refuses_an_unknown_strategy_and_a_reserved_name(tmp_path):
    with pytest.raises(ConfigError, match="neither in study 'imbalance' nor a registered strategy"):
        paper_run.study("imbalance", strategies=["no_such_strategy"])
    assert "vabal_released" in paper_run.study("imbalance", strategies=["vabal_released"], profile="cpu")["_added"]
    (tmp_path / "claims.yaml").write_text("artifacts: {}\n")
    with pytest.raises(ConfigError, match="cannot be named 'claims'"):
        load_study(str(tmp_path / "claims.yaml"))


def test_rare_classes_of_each_imbalance():
    assert lb.rare_classes("dom", (0,), 4) == [1, 2, 3]
    assert lb.rare_classes("rare", (4,), 10) == [4]
    assert lb.rare_classes("lt", 100, 10) == [5, 6, 7, 8, 9] and lb.rare_classes("lt", 1, 10) == []
    assert lb.rare_classes(None, (), 10) == []


def test_rare_share_and_rare_recall_are_the_last_rounds_over_the_rare_classes():
    rows = pd.DataFrame([{"strategy": "a", "seed": 0, "round": r, "n_labelled": 10 * (r + 1), "accuracy": 0.5,
                          "count_cat": 2 * r + 1, "count_dog": 9 * (r + 1) - 2 * r, "count_elk": 1,
                          "recall_cat": 0.1 * r, "recall_dog": 0.9, "recall_elk": 0.3 + 0.2 * r}
                         for r in (1, 0)])   # out of order: the last round is the larger, not the last row
    sc = lb.regime_scores(rows, ["count_cat", "count_elk"]).iloc[0]
    assert sc["rare_share"] == pytest.approx((3 + 1) / 20) and sc["rare_recall"] == pytest.approx((0.1 + 0.5) / 2)
    sc = lb.regime_scores(rows.drop(columns="recall_elk"), ["count_cat", "count_elk"]).iloc[0]
    assert np.isnan(sc["rare_recall"]) and sc["rare_share"] == pytest.approx(0.2)   # a recall not recorded
    assert np.isnan(lb.regime_scores(rows).iloc[0]["rare_recall"])                # a balanced regime


def test_each_rounds_processor_and_per_class_recall_come_from_its_jsonl_record():
    from bench.paper.gather import per_round_columns

    sub = pd.DataFrame({"round": [0, 1, 2], "count_cat": [1, 2, 3], "count_dog": [1, 1, 1]})
    records = [{"round": 1, "processor": "B", "per_class_accuracy": [0.25, None]},
               {"round": 0, "processor": "A", "per_class_accuracy": [0.5, 0.75]},
               {}]   # a line that was not JSON: the third round, by its position
    cols = per_round_columns(sub, records)
    assert cols["processor"] == ["A", "B", "not recorded"]
    assert cols["recall_cat"][:2] == [0.5, 0.25] and np.isnan(cols["recall_cat"][2])
    assert cols["recall_dog"][0] == 0.75 and np.isnan(cols["recall_dog"][1])
    short = per_round_columns(sub, [{"round": 0, "per_class_accuracy": [0.5]}])   # not one value per class
    assert all(np.isnan(v) for v in short["recall_cat"]) and short["processor"][0] == "not recorded"
    # a group's table holds every dataset's count columns: a trial's own are its classes', or those it filled
    mixed = sub.assign(count_elk=np.nan)
    for cols in (per_round_columns(mixed, records), per_round_columns(mixed, records, ["cat", "dog"])):
        assert cols["recall_cat"][:2] == [0.5, 0.25] and "recall_elk" not in cols


def test_the_tree_reads_each_rounds_record_past_a_bad_line_and_keeps_only_the_keys_asked_for(tmp_path):
    from bench.paper.gather import Tree
    from bench.trial.store import trial_dir

    folder = trial_dir(str(tmp_path / "main"), "cifar10", "margin", 0)
    os.makedirs(folder)
    lines = [{"round": 0, "processor": "A", "per_class_accuracy": [0.5], "selected": [3, 1]},
             "{not json", {"round": 2, "processor": "B", "selected": [7], "selected_classes": [1]}]
    with open(os.path.join(folder, "rounds.jsonl"), "w") as f:
        f.write("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n\n")
    tree = Tree(str(tmp_path))
    assert tree.round_records("main", "cifar10", "margin", 0) == [
        {"round": 0, "processor": "A", "per_class_accuracy": [0.5]}, {}, {"round": 2, "processor": "B"}]
    assert tree.round_records("main", "cifar10", "margin", 0, keys=("round", "selected", "selected_classes")) == [
        {"round": 0, "selected": [3, 1]}, {}, {"round": 2, "selected": [7], "selected_classes": [1]}]
    assert tree.round_records("main", "cifar10", "random", 0) == []   # no file: no records


def _mtimes(root):
    return {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns
            for d, _, files in os.walk(root) for f in files if f == "rounds.csv"}


def test_a_users_strategy_runs_only_its_trials_and_is_ranked_beside_the_others(tmp_path, capsys):
    study = tmp_path / "tiny.yaml"
    study.write_text(TINY_STUDY)
    (tmp_path / "mymod.py").write_text(USER_STRATEGY)
    base = str(tmp_path / "results")
    common = ["study", str(study), "--profile", "smoke", "--out", base, "--no-progress"]
    r = run_cli(*common, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "albench study tiny --profile smoke: 3 artifact(s)" in r.stderr and "12 to run" in r.stderr
    root = os.path.join(base, "paper-smoke")
    report = open(os.path.join(root, "report-tiny", "report.md")).read()
    assert "# albench study `tiny`: profile `smoke`" in report
    assert "mean rank [95 % bootstrap]" in report and "`mine`" not in report
    dom = report.split("`digits_dom1`, every strategy sorted by nAUC")[1].split("\n\n")[1].splitlines()
    assert dom[0].split(" | ")[7] == "rare recall (final)"
    assert all(float(line.split(" | ")[7].split()[0]) >= 0 for line in dom[2:])   # recorded, not "—"
    recall = [line for line in report.splitlines() if line.startswith("Recall on the test images of the rare")]
    assert len(recall) == 1 and "every class but " in recall[0] and "`random` " in recall[0]   # digits_dom1 only
    assert "the reference line `balanced_random_oracle" in recall[0]
    for d in ("digits", "digits_dom1"):   # seeded training repeats exactly on one machine: one round 0 per seed
        assert (f"reached one accuracy per seed in every trial on `{d}`: the paired differences start from the "
                "same point.") in report
    before = _mtimes(root)
    assert len(before) == 12

    r = run_cli(*common, "--import", "mymod", "--strategies", "mine", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "16 trial(s), 12 finished, 4 to run (--strategies mine)" in r.stderr
    after = _mtimes(root)
    assert {k: v for k, v in after.items() if k in before} == before          # nobody else ran again
    assert sorted(os.path.relpath(k, root) for k in set(after) - set(before)) == [
        f"main/{d}/mine/seed{k}/rounds.csv" for d in ("digits", "digits_dom1") for k in (0, 1)]
    report = open(os.path.join(root, "report-tiny", "report.md")).read()
    assert "Added to the study on the command line (`--strategies`): `mine`." in report
    ranking = report.split("mean rank [95 % bootstrap]")[1].split("\n\n")[0]
    ranked = [line.split("|")[2].strip() for line in ranking.splitlines()[2:]]
    assert sorted(ranked) == sorted(["random", "margin", "balanced_random_oracle (reads true labels: not "
                                     "deployable)", "mine"])

    # publish: the page and its figures, and the README's block refreshed with the short answer
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- albench:tiny:smoke start -->\nold\n<!-- albench:tiny:smoke end -->\nrest\n")
    page = str(tmp_path / "docs" / "board.md")
    os.makedirs(os.path.dirname(page))
    written = paper_run.publish("smoke", page, base=base, readme=str(readme), manifest=load_study(str(study)))
    assert str(readme) in written
    text = readme.read_text()
    assert "old" not in text and "- Best mean rank over 2 regimes" in text and "(docs/board/overall-1.png)" in text
    assert "In progress" not in text   # every trial finished
    assert text.startswith("intro\n") and text.endswith("end -->\nrest\n")
    assert os.path.exists(str(tmp_path / "docs" / "board" / "overall-1.png"))
    # generated again from the same results: the same bytes (the bootstrap's generator is fixed, PNGs carry no
    # date), so the committed page can be checked on a fresh clone without training
    again = str(tmp_path / "again" / "board.md")
    os.makedirs(os.path.dirname(again))
    paper_run.publish("smoke", again, base=base, readme=None, manifest=load_study(str(study)))
    assert open(again, "rb").read() == open(page, "rb").read()
    for name in os.listdir(str(tmp_path / "docs" / "board")):
        assert open(os.path.join(os.path.dirname(again), "board", name), "rb").read() == \
            open(str(tmp_path / "docs" / "board" / name), "rb").read(), name

    # --check: the published page, figures and README block against what the results give now
    study_m = load_study(str(study))
    (tmp_path / "docs" / "board" / "mine-1.png").write_bytes(b"a figure of the user's own, never published")
    assert paper_run.check_published("smoke", page, base=base, readme=str(readme), manifest=study_m) == []
    png = tmp_path / "docs" / "board" / "overall-1.png"
    png.write_bytes(png.read_bytes() + b"x")
    readme.write_text(readme.read_text().replace("Best mean rank", "Best rank"))
    assert paper_run.check_published("smoke", page, base=base, readme=str(readme), manifest=study_m) == [
        "README.md: differs from what the results give now",
        "docs/board/overall-1.png: differs from what the results give now"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:   # the command: the page alone (outside the checkout's README's folder)
        cli.main([*common, "--check", page])
    err = capsys.readouterr().err
    assert "board/overall-1.png: differs from what the results give now" in err and "README.md" not in err
    assert f"is not what the results give now (1 file(s)); to publish it again, run the same command with " \
           f"--report --publish {page} in place of --check {page}" in str(stop.value)
    assert cli.main([*common, "--check", page, "--publish", page]) == 2
    assert "--check runs alone" in capsys.readouterr().err


def test_round_zero_accuracies_that_differ_are_named_with_their_processors():
    """Round 0 is one experiment for every strategy of a seed: accuracies that differ there are shown with the
    processors that made them, and two accuracies from one processor are flagged as nondeterminism."""
    from bench.paper.doc import Doc
    from bench.paper.draw_leaderboard import _start_note

    def rows(first):
        return pd.DataFrame([{"strategy": s, "seed": k, "round": r, "accuracy": a if r == 0 else 0.9,
                              "processor": p} for s, k, a, p in first for r in (0, 1)])

    spread = lb.start_spread(rows([("a", 0, 0.3439, "A"), ("b", 0, 0.3439, "A"), ("c", 0, 0.3722, "B"),
                                   ("a", 1, 0.35, "A"), ("b", 1, 0.35, "B")]))
    assert spread.to_dict("list") == {"seed": [0, 0, 1], "accuracy": [0.3439, 0.3722, 0.35], "trials": [2, 1, 2],
                                      "processors": [("A",), ("B",), ("A", "B")]}
    doc = Doc()
    _start_note(doc, "d", rows([("a", 0, 0.3439, "A"), ("b", 0, 0.3439, "not recorded"), ("c", 0, 0.3722, "B")]))
    text = doc.markdown()
    assert "seed 0: 34.39 % (2 trials; A / processor not recorded), 37.22 % (1 trial; B)" in text
    assert "up to 2.83 points here" in text and "not deterministic" not in text
    doc = Doc()
    _start_note(doc, "d", rows([("a", 0, 0.3439, "A"), ("b", 0, 0.3722, "A"), ("c", 0, 0.36, "B")]))
    assert "**The same processor (A) gave two round-0 accuracies of one seed" in doc.markdown()


def test_the_ranking_draws_when_a_point_estimate_falls_outside_its_bootstrap_interval(tmp_path):
    """With 3 seeds and near-ties the bootstrap's ranks shrink toward the middle, so the best strategy's mean
    rank (1.0) can lie below its interval: the figure's error bars are clipped instead of crashing the page."""
    from bench.paper.doc import Doc
    from bench.paper.draw import DRAW, Context
    from bench.paper.gather import Trials

    names = [f"s{i}" for i in range(28)]
    regimes = ["digits", "digits_dom1", "digits_rare5", "digits_lt100"]
    (tmp_path / "t.yaml").write_text(f"artifacts:\n  overall: {{group: main, datasets: [{', '.join(regimes)}], "
                                     f"strategies: [{', '.join(names)}], draw: ranking}}\n")
    art = resolve(load_profile("smoke"), load_study(str(tmp_path / "t.yaml")), only=["overall"])[0]
    rng = np.random.default_rng(0)
    rows = []
    for d in regimes:
        acc = {s: rng.normal(0.5, 0.01, 3) for s in names}
        best = max(v.mean() for s, v in acc.items() if s != "s0")
        acc["s0"] += best - acc["s0"].mean() + 1e-4   # s0 first by its mean in every regime, by a hair
        for s, v in acc.items():
            rows += [{"dataset": d, "strategy": s, "seed": k, "round": r, "n_labelled": 20 + 10 * r,
                      "accuracy": v[k], "balanced_accuracy": v[k], "select_seconds": 0.0, "reads_true_labels": False}
                     for k in range(3) for r in range(3)]
    t = Trials()
    t.frames += [f for _, f in pd.DataFrame(rows).groupby(["dataset", "strategy", "seed"], sort=False)]   # a trial each
    rank = lb.ranking({d: lb.regime_scores(t.rows[t.rows["dataset"] == d]) for d in regimes}, names)
    s0 = rank[rank["strategy"] == "s0"].iloc[0]
    assert s0["mean_rank"] == 1.0 and s0["lo"] > 1.0   # the case in question
    t.expected = [("main", d, s, k) for d in regimes for s in names for k in range(3)] + [("main", "digits", "s0", 3)]
    t.missing.append(("main", "digits", "s0", 3))   # a study still running (a finished one: the CLI test above)
    doc = Doc()
    DRAW["ranking"](doc, art, t, Context(load_profile("smoke"), str(tmp_path), "s1", names))
    assert doc.figures and doc.answer
    # its short answer opens by saying so, and what the ranking stands on
    assert doc.answer[0][0] == ("- **In progress**: 336 of 337 trials used (1 not run yet). Ranked: the 28 strategies "
                                f"with finished trials in every regime, on 3 common seeds per regime (of "
                                f"{len(art.runs[0].seeds)}). Every line below can still change.")
    assert doc.answer[0][1].startswith("- Best mean rank over 4 regimes")


def _answer_of(tmp_path, trials, regimes=("digits", "digits_dom1"), names=("random", "a", "b"), other=(),
               missing=(), page=None):
    """The short answer a ranking draws from ``trials`` {(dataset, strategy): accuracies by seed}."""
    from bench.paper.doc import Doc
    from bench.paper.draw import DRAW, Context
    from bench.paper.gather import Trials

    (tmp_path / "t.yaml").write_text(f"artifacts:\n  overall: {{group: main, datasets: [{', '.join(regimes)}], "
                                     f"strategies: [{', '.join(names)}], draw: ranking}}\n")
    art = resolve(load_profile("smoke"), load_study(str(tmp_path / "t.yaml")), only=["overall"])[0]
    t = Trials()
    for (d, s), accs in trials.items():
        for k, a in enumerate(accs):
            t.frames.append(pd.DataFrame([{"dataset": d, "strategy": s, "seed": k, "round": r,
                                           "n_labelled": 20 + 10 * r, "accuracy": a + 0.01 * r,
                                           "balanced_accuracy": a, "select_seconds": 0.0, "reads_true_labels": False}
                                          for r in range(3)]))
            t.expected.append(("main", d, s, k))
    t.other, t.missing = list(other), list(missing)
    t.expected += [k for k, _ in t.other] + list(t.missing)
    doc = Doc()
    DRAW["ranking"](doc, art, t, Context(load_profile("smoke"), str(tmp_path), "random", list(names)))
    if page is not None:
        page.append(doc.markdown())
    return doc.answer[0] if doc.answer else []


def test_an_early_answer_says_what_it_stands_on_and_claims_nothing_it_has_not_tested(tmp_path):
    seeds = len(resolve(load_profile("smoke"), load_study("imbalance"))[0].runs[0].seeds)
    one = {(d, s): [0.5 + 0.01 * i] for d in ("digits", "digits_dom1") for i, s in enumerate(("random", "a", "b"))}
    page = []
    lines = _answer_of(tmp_path, one, page=page)
    assert "| b | 1.00 (1 seed: no interval) |" in page[0] and "[1.00, 1.00]" not in page[0]   # no 0-width interval
    assert lines[0].startswith("- **In progress**: 6 of 6 trials used. Ranked: the 3 strategies with finished "
                               f"trials in every regime, on 1 common seed per regime (of {seeds}).")
    assert lines[1] == ("- Best mean rank over 2 regimes (by nAUC, 1 common seed per regime: no interval): `b` "
                        "(1.00), `a` (2.00), `random` (3.00).")
    assert lines[2] == "- Worst: none apart from the best yet (3 strategies ranked, all above)."   # not a bare dash
    assert lines[3] == "- Against `random`: no paired test yet (fewer than 2 common seeds in every regime)."
    # a regime with no finished trial at all: the ranking covers the other one, and says so
    lines = _answer_of(tmp_path, {k: v for k, v in one.items() if k[0] == "digits"},
                       missing=[("main", "digits_dom1", "a", 0)])
    assert "(1 not run yet). Ranked: the 3 strategies with finished trials in 1 of 2 regimes" in lines[0]
    assert lines[1].startswith("- Best mean rank over 1 regime (")
    # every trial run, one of them under another configuration: to run again, not "in progress" by itself
    lines = _answer_of(tmp_path, one, other=[(("main", "digits", "b", 1), "epochs 2 != 3")])
    assert lines[0].startswith("- **In progress**: 6 of 7 trials used (1 made under another configuration, to run "
                               "again).")
    # nothing ranked yet: the answer says so rather than leaving the README's block empty
    lines = _answer_of(tmp_path, {("digits", "random"): [0.5], ("digits_dom1", "a"): [0.5]},
                       missing=[("main", "digits_dom1", "random", 0)])
    assert lines == ["- **In progress**: 2 of 3 trials used (1 not run yet). No ranking yet: no strategy has "
                     "finished trials in every regime."]


def test_the_ranking_says_which_seeds_it_stands_on_when_some_strategies_have_more(tmp_path):
    """The ranks pair seeds, so they use only those every ranked strategy has: the page names them, warns that a
    rank may then differ from the regime tables' order, and sizes the bootstrap caveat by the seeds it has."""
    # `a` beats `random` on seed 0 alone, `random`'s other two seeds are far higher: its table mean is the best
    uneven = {("digits", "random"): [0.50, 0.90, 0.90], ("digits", "a"): [0.60],
              ("digits_dom1", "random"): [0.50, 0.90, 0.90], ("digits_dom1", "a"): [0.60], ("digits", "b"): [0.4]}
    page = []
    _answer_of(tmp_path, uneven, page=page)
    para = next(p for p in page[0].split("\n\n") if p.startswith("Each strategy's rank"))
    assert "only the seeds that every ranked strategy has finished there (seed 0 in every regime)" in para
    assert "a rank need not follow the order of the means in the regimes' tables below" in para
    assert "distinct bootstrap resamples" not in para   # one seed: no interval, no caveat about its resamples
    assert "| 1 | a | 1.00 (1 seed: no interval) |" in page[0]
    assert "Not ranked, and so left out of every regime's ranks above (no finished trial in every regime yet): " \
        "`b`." in page[0]
    even = {(d, s): [0.5 + 0.1 * i + 0.01 * k for k in range(3)] for d in ("digits", "digits_dom1")
            for i, s in enumerate(("random", "a", "b"))}
    page = []
    _answer_of(tmp_path, even, page=page)
    para = next(p for p in page[0].split("\n\n") if p.startswith("Each strategy's rank"))
    assert "(seeds 0, 1, 2 in every regime), so that each bootstrap draw pairs them. Read" in para
    assert "with 3 seeds a regime has only 10 distinct bootstrap resamples" in para
    # seeds that differ between regimes are named regime by regime
    page = []
    _answer_of(tmp_path, {**even, **{("digits_dom1", s): v[:2] for (d, s), v in even.items() if d == "digits"}},
               page=page)
    assert "(seeds 0, 1, 2 in `digits`; 0, 1 in `digits_dom1`)" in page[0]
    assert "with 2 seeds a regime has only 3 distinct bootstrap resamples" in page[0]


def test_a_regime_table_says_when_balanced_accuracy_cannot_differ_from_accuracy(tmp_path):
    """On a test set with as many images of every class, the mean of per-class recalls is the accuracy: the page
    says so instead of leaving a reader to suspect a copied column; where they differ it says nothing."""
    from bench.paper.doc import Doc
    from bench.paper.draw import DRAW, Context
    from bench.paper.gather import Trials

    (tmp_path / "t.yaml").write_text("artifacts:\n  one: {group: main, datasets: [digits], strategies: [random, a], "
                                     "draw: leaderboard}\n")
    art = resolve(load_profile("smoke"), load_study(str(tmp_path / "t.yaml")), only=["one"])[0]

    def text(gap):
        t = Trials()
        for i, s in enumerate(("random", "a")):
            for k in range(2):
                t.frames.append(pd.DataFrame([{"dataset": "digits", "strategy": s, "seed": k, "round": r,
                                               "n_labelled": 20 + 10 * r, "accuracy": 0.5 + 0.01 * (i + r),
                                               "balanced_accuracy": 0.5 + 0.01 * (i + r) - gap,
                                               "select_seconds": 0.0, "reads_true_labels": False}
                                              for r in range(3)]))
        doc = Doc()
        DRAW["leaderboard"](doc, art, t, Context(load_profile("smoke"), str(tmp_path), "random", ["random", "a"]))
        return doc.markdown()

    note = "equal to final in every round recorded here"
    assert note in text(0.0)
    assert note not in text(0.02)
