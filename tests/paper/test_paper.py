"""`albench paper` (bench.paper.run) and `make gpu-check` (bench.perf.gpu_check): the plan's counts and arithmetic for
every profile, a run of one smoke artifact (folders, profile.json, a second run does nothing), profiles that
never share results, and the GPU check's CPU path."""
import dataclasses
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from bench.core.errors import ConfigError
from bench.paper import plan as paper_plan
from bench.paper import run as paper_run
from bench.paper.manifest import load_manifest, load_profile
from bench.perf import gpu_check
from bench.trial.timing import Meter, machine_signature
from tests.helpers import ROOT, TINY, run_cli

ARTIFACTS = list(load_manifest()["artifacts"])


class CannedMeter(Meter):
    """Fixed speeds instead of measured ones: the plan's arithmetic, checkable by hand."""
    TRAIN, FORWARD, SELECT, APART = 1000.0, 4000.0, (0.5, 0.001, 100, False), 2.0

    def _train(self, cfg, info):
        return self.TRAIN, self.FORWARD

    def _select(self, cfg, label, strategy, info):
        return self.SELECT

    def _apart(self, apart):
        return (self.APART,) if apart else ()


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """A smoke run sets torch's threads to its profile's threads=1 (bench.trial.grid.run_one); other tests keep
    theirs."""
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture
def no_data(tmp_path):
    """An empty data root: CIFAR / NEU sizes come from their specs (digits is bundled with scikit-learn)."""
    d = tmp_path / "no-data"
    d.mkdir()
    return str(d)


@pytest.mark.parametrize("name", ["paper", "cpu"])
def test_plan_lists_every_artifact_with_counts_and_estimates(name, tmp_path, no_data):
    p = paper_plan.plan(name, base=str(tmp_path), measure=CannedMeter("cpu", log=lambda s: None), data_root=no_data,
                   quiet=True)
    assert [a["name"] for a in p.artifacts] == ARTIFACTS
    for a in p.artifacts:
        assert a["trials"] > 0 and a["missing"] == a["trials"] and a["seconds"] > 0, a
        assert f"\n{a['name']:10s} {a['trials']:6d}" in p.text
    assert "total" in p.text and "core" in p.text
    # shared trials (Fig. 4, 7, 10-21 draw Fig. 3(b)'s) count once: the total is below the artifacts' sum
    assert p.total["trials"] == len(p.trials) < sum(a["trials"] for a in p.artifacts)
    assert p.core["trials"] == len([t for t in p.trials.values() if set(t.artifacts) & set(load_profile(name).core)])
    # one trial by hand: fig3b, cifar10_dom1, seed 0 (9,500 selectable, 10,000 test images)
    cfg_epochs = 200 if name == "paper" else 30
    sizes = [500, 1000, 1500, 2000, 2500, 3000]
    t = p.trials[("main", "cifar10_dom1", "random", 0)]
    assert t.train_images == sum(sizes) * cfg_epochs
    want = sum(n * cfg_epochs / CannedMeter.TRAIN + 10_000 / CannedMeter.FORWARD for n in sizes) \
        + sum(0.5 + 0.001 * 9500 for n in sizes[:-1])
    assert t.seconds == pytest.approx(want)
    # BALD trains its dropout scoring network beside the evaluated classifier wherever it selects next
    bald = p.trials[("main", "cifar10_dom1", "bald", 0)]
    assert bald.train_images == t.train_images + sum(sizes[:-1]) * cfg_epochs
    if name == "paper":
        assert p.total["trials"] == 333   # 10 x 5 x 3 + λ variants 27 + Table 1 24 + Table 2 27 + 5(a) 90 + 6 15
        fig3b = next(a for a in p.artifacts if a["name"] == "fig3b")
        assert fig3b["train_images"] == 45 * 200 * 10_500 + 9 * 200 * 7_500   # no dropout net at 3,000


def test_plan_without_measuring_counts_images_only(tmp_path, no_data):
    p = paper_plan.plan("paper", only=["fig6"], base=str(tmp_path), measure=False, data_root=no_data, quiet=True)
    assert p.total["trials"] == 15 and p.total["seconds"] is None and p.total["train_images"] > 0
    assert "no speeds measured" in p.text


def test_plan_measures_here(tmp_path):
    p = paper_plan.plan("smoke", only=["fig6"], base=str(tmp_path), quiet=True)
    assert p.total["trials"] == 10 and p.total["seconds"] > 0
    (train,) = p.measured["train"]
    assert train["arch"] == "resnet34" and train["train_img_s"] > 0 and train["forward_img_s"] > 0
    assert {m["strategy"] for m in p.measured["select"]} == {"random", "coreset", "bald", "vaal", "vabal"}
    assert "measured on" in p.text


def test_plan_keeps_its_speeds_per_machine_and_remeasure_measures_again(tmp_path, monkeypatch):
    cache = str(tmp_path / "speeds.json")
    monkeypatch.setenv("ALBENCH_SPEED_CACHE", cache)
    # every speed kept even when the suite runs beside a busy job (what is not kept then: test_plan_budget)
    monkeypatch.setattr("bench.trial.timing.thread_cpu_seconds", lambda: None)
    logs = []
    first = paper_plan.plan("smoke", only=["fig6"], base=str(tmp_path), quiet=True)
    with open(cache) as f:
        kept = json.load(f)
    assert list(kept) == [machine_signature(Meter("cpu").device)]
    assert len(next(iter(kept.values()))) == len(first.measured["train"]) + len(first.measured["select"])
    meter = Meter("auto", log=logs.append, cache=cache)
    again = paper_plan.plan("smoke", only=["fig6"], base=str(tmp_path), quiet=True, measure=meter)
    assert meter.reused == len(kept[next(iter(kept))]) and again.total["seconds"] == first.total["seconds"]
    assert not any("measuring training" in line for line in logs)
    paper_plan.plan("smoke", only=["fig6"], base=str(tmp_path), quiet=True, remeasure=True)
    assert os.path.exists(cache)   # measured again and kept anew


def test_run_smoke_artifact_then_nothing_left(tmp_path):
    base = str(tmp_path)
    res = paper_run.run("smoke", only=["fig3e"], base=base, progress=False)
    root = os.path.join(base, "paper-smoke")
    assert res["ran"] == res["trials"] == 10 and res["root"] == root
    for s in ("random", "coreset", "bald", "vaal", "vabal"):
        for k in (0, 1):
            assert os.path.exists(os.path.join(root, "main", "digits", s, f"seed{k}", "rounds.csv"))
    record = json.load(open(os.path.join(root, "profile.json")))
    assert record["profile"] == "smoke" and record["departures"] and "fig3e" in record["artifacts"]
    assert record["artifacts"]["fig3e"][0]["overrides"]["epochs"] == 2
    again = paper_run.run("smoke", only=["fig3e"], base=base, progress=False)
    assert again["ran"] == 0 and again["skipped"] == 10
    p = paper_plan.plan("smoke", only=["fig3e", "fig3f"], base=base, measure=False, quiet=True)
    assert p.total["finished"] == 10 and p.total["train_images_left"] == 0   # fig3e and fig3f share digits
    # the estimate beside what the finished trials recorded (their rounds' timing columns), per strategy
    p = paper_plan.plan("smoke", only=["fig3e"], base=base, measure=CannedMeter("cpu"), quiet=True)
    t = p.trials[("main", "digits", "random", 0)]
    rows = pd.read_csv(os.path.join(root, "main", "digits", "random", "seed0", "rounds.csv"))
    want = rows[["train_seconds", "select_seconds", "eval_seconds"]].fillna(0).to_numpy().sum()
    assert t.recorded_seconds == pytest.approx(want) and t.recorded_seconds > 0
    assert "recorded: the finished trials here" in p.text and "  random: 2 trial(s)" in p.text
    assert "est. left by strategy" not in p.text   # every trial finished: nothing left to any strategy
    # what is left, by strategy, costliest first (fig6's ResNet-34 trials: none run)
    p = paper_plan.plan("smoke", only=["fig3e", "fig6"], base=base, measure=CannedMeter("cpu"), quiet=True)
    left = p.text[p.text.index("est. left by strategy"):p.text.index("est. = ")]
    by = {s: sum(t.seconds_left for t in p.trials.values() if t.strategy == s) for s in
          ("random", "coreset", "bald", "vaal", "vabal")}
    assert all(v > 0 for v in by.values())
    order = sorted(by, key=lambda s: -by[s])
    assert [left.index(f" {s} ") for s in order] == sorted(left.index(f" {s} ") for s in order)

    # profiles never mix: cpu's root is its own, and a folder holding smoke's profile.json is refused to cpu
    cpu = paper_plan.plan("cpu", only=["table1"], base=base, measure=False, quiet=True)
    assert cpu.root == os.path.join(base, "paper-cpu") and cpu.total["finished"] == 0
    os.makedirs(cpu.root)
    with open(os.path.join(cpu.root, "profile.json"), "w") as f:
        json.dump(record, f)
    with pytest.raises(ConfigError, match="profile 'smoke', not 'cpu'"):
        paper_plan.plan("cpu", only=["table1"], base=base, measure=False, quiet=True)
    with pytest.raises(ConfigError, match="profile 'smoke', not 'cpu'"):
        paper_run.run("cpu", only=["table1"], base=base, progress=False)

    # the same profile with other settings: its old trials are conflicts, and run refuses before training
    prof = load_profile("smoke")
    changed = dataclasses.replace(prof, raw={**prof.raw, "overrides": {**prof.raw["overrides"], "epochs": 3}})
    p = paper_plan.plan(changed, only=["fig3e"], base=base, measure=False, quiet=True)
    assert p.total["conflict"] == 10 and "made with another epochs" in p.text
    with pytest.raises(ConfigError, match="another configuration"):
        paper_run.run(changed, only=["fig3e"], base=base, progress=False)


def test_partial_trial_is_counted_partial(tmp_path):
    base = str(tmp_path)
    paper_run.run("smoke", only=["fig6"], base=base, progress=False)
    csv = os.path.join(base, "paper-smoke", "fig6", "digits_dom1", "vabal", "seed1", "rounds.csv")
    lines = open(csv).read().splitlines()
    with open(csv, "w") as f:   # as if killed after round 1
        f.write("\n".join(lines[:-1]) + "\n")
    p = paper_plan.plan("smoke", only=["fig6"], base=base, measure=False, quiet=True)
    t = p.trials[("fig6", "digits_dom1", "vabal", 1)]
    assert (t.status, t.rounds_done) == ("partial", 2) and p.total["partial"] == 1
    assert 0 < t.train_images_left < t.train_images
    # --strategies: only those labels run (random is finished: nothing to do); an unknown label is refused
    assert paper_run.run("smoke", only=["fig6"], base=base, progress=False, strategies=["random"])["ran"] == 0
    with pytest.raises(ConfigError, match="not a strategy of fig6"):
        paper_run.run("smoke", only=["fig6"], base=base, progress=False, strategies=["vabal", "badge"])
    # --seeds: only those seeds (seed 1's vabal is the partial one; seed 0 is finished); an unknown seed is refused
    assert paper_run.run("smoke", only=["fig6"], base=base, progress=False, seeds=[0])["ran"] == 0
    with pytest.raises(ConfigError, match="--seeds 7: not a seed of fig6"):
        paper_run.run("smoke", only=["fig6"], base=base, progress=False, seeds=[1, 7])
    assert paper_run.run("smoke", only=["fig6"], base=base, progress=False, strategies=["vabal"], seeds=[1])["ran"] == 1


def test_seeds_run_seed_by_seed_in_their_order_and_strategies_in_theirs_within_a_seed(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(paper_run, "run_grid", lambda grid, *a, **k: ran.extend((t.seed, t.strategy) for t in grid))
    paper_run.run("smoke", only=["fig6"], base=str(tmp_path), progress=False, strategies=["vabal", "random"],
                  seeds=[1, 0])
    assert ran and ran == sorted(ran, key=lambda t: ([1, 0].index(t[0]), ["vabal", "random"].index(t[1])))
    assert {s for s, _ in ran} == {0, 1} and {k for _, k in ran} == {"vabal", "random"}


def test_cli_plan_and_unknown_artifact(tmp_path):
    r = run_cli("paper", "--profile", "smoke", "--plan", "--no-measure", "--only", "fig3a", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "fig3a" in r.stdout and "total" in r.stdout
    r = run_cli("paper", "--profile", "smoke", "--only", "fig6", "--seeds", "0,x", "--out", str(tmp_path))
    assert r.returncode == 2 and "--seeds takes comma-separated integers" in r.stderr
    r = run_cli("paper", "--profile", "smoke", "--only", "fig6", "--seeds", "9", "--out", str(tmp_path))
    assert r.returncode == 2 and "--seeds 9: not a seed of fig6" in r.stderr
    r = run_cli("paper", "--profile", "smoke", "--plan", "--only", "fig99", "--out", str(tmp_path))
    assert r.returncode == 2 and "fig99" in r.stderr
    r = run_cli("paper", "--profile", "nope", "--plan", "--out", str(tmp_path))
    assert r.returncode == 2 and "smoke" in r.stderr


def test_gpu_check_cpu_path_writes_every_part(tmp_path):
    out = tmp_path / "gc"
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "bench.perf.gpu_check", "--tiny", "--out", str(out)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads((out / "gpu_check.json").read_text())
    assert list(res["parts"]) == list(gpu_check.PARTS) and res["tiny"]
    parts = res["parts"]
    assert parts["gpu_tests"]["status"] == "skipped" and "skipped" in res and "gpu_tests" in res["skipped"]
    assert parts["environment"]["figures"]["torch"]
    assert parts["perf_train"]["figures"]["train_img_s_32x32x3"] > 0
    assert parts["perf_reference"]["figures"]["reference_img_s_32x32x3"] > 0
    assert set(parts["perf_steps"]["figures"]["step_img_s"]) == {"eager", "graph"}
    assert set(parts["perf_select"]["figures"]["select_seconds"]) == {"random", "coreset", "bald", "vabal"}
    assert set(parts["perf_select_vaal"]["figures"]["select_seconds"]) == {"vaal"}
    trial = parts["fig3b_trial"]["figures"]
    assert trial["dataset"] == "digits_dom1" and trial["profile"] == "smoke"
    for s in ("random", "vabal"):
        assert trial["strategies"][s]["status"] == "finished" and len(trial["strategies"][s]["accuracy"]) == 3
    for name, p in parts.items():
        assert p["status"] in ("ok", "skipped"), (name, p)
        assert p["status"] == "skipped" or p["wall_s"] > 0   # a part that ran was timed


def test_gpu_check_part_limit_kills(tmp_path):
    rc, timed_out, _ = gpu_check.subprocess_part([sys.executable, "-c", "import time; time.sleep(30)"], 1,
                                                 str(tmp_path / "log"))
    assert timed_out
    assert gpu_check.pytest_counts("3 passed, 2 skipped, 1 deselected in 4.1s") == \
        {"passed": 3, "skipped": 2, "deselected": 1}


def test_a_costly_strategy_is_timed_on_a_cheaper_copy_and_scaled():
    """VAAL at the authors' epochs and width, BALD at 100 passes: timed at 1 epoch / width 16 and 4 passes,
    scaled by epochs x (width / 16)^2 and passes / 4 (what lets a plan of the paper profile answer in a
    minute on a CPU instead of a quarter of an hour)."""
    from strategies import get_strategy

    vaal, factor = get_strategy("vaal").for_planning()
    assert (vaal.epochs, vaal.width, factor) == (1, 16, 100 * (128 / 16) ** 2)
    bald, factor = get_strategy("bald").for_planning()
    assert (bald.passes, factor) == (4, 25.0)
    same, factor = get_strategy("coreset").for_planning()
    assert factor == 1.0 and same.get_params() == get_strategy("coreset").get_params()

    class Probe(CannedMeter):
        seen = []

        def _select(self, cfg, label, strategy, info):
            Probe.seen.append(strategy)
            return self.SELECT

    meter = Probe("cpu", log=lambda s: None)
    from bench.core.config import load_config

    cfg = load_config("paper/cifar10", (), strategy_params={"vaal": {}})
    info = {"num_classes": 10, "channels": 3, "size": 32}
    a, b, _, _ = meter.select(cfg, "vaal", info)
    assert Probe.seen[-1].epochs == 1 and (a, b) == pytest.approx((0.5 * 6400, 0.001 * 6400))


def test_albench_run_estimates_its_cost_and_hints_the_cpu_profile_above_half_an_hour(tmp_path, monkeypatch, capsys):
    """`albench run` prints what its trials cost here before training; above LONG_RUN_S it names the smaller
    scale (never refusing); the estimate is the plan's arithmetic (checked with fixed speeds)."""
    from bench import cli
    from bench.trial.grid import expand

    trials = expand(["digits"], ["random"], [0], overrides=TINY, out=str(tmp_path / "o"))
    assert paper_plan.estimate_run(trials)["seconds"] is None   # minutes at most: nothing measured, nothing said
    cost = paper_plan.estimate_run(trials, meter=CannedMeter("cpu"), always=True)
    cfg = trials[0].cfg
    images = sum(cfg.epochs * (cfg.initial + r * cfg.budget) for r in range(cfg.rounds + 1))
    assert cost["trials"] == 1 and cost["train_images"] == images
    assert cost["seconds"] > images / CannedMeter.TRAIN   # + evaluation, selection and loading

    monkeypatch.setattr(paper_plan, "LONG_RUN_S", 0.0)
    assert cli.main(["run", "-s", "random", "--seeds", "0", "--out", str(tmp_path / "o"), "--no-progress", *TINY]) == 0
    err = capsys.readouterr().err
    assert "albench: estimated" in err and "--profile cpu" in err and "PROFILE=cpu" in err
    assert cli.main(["run", "-s", "random", "--seeds", "0", "--out", str(tmp_path / "o"), "--no-progress", *TINY]) == 0
    assert "albench: estimated" not in capsys.readouterr().err   # nothing left to run, nothing to estimate


def test_a_failing_estimate_never_stops_a_run(tmp_path, monkeypatch, capsys):
    """The estimate times each strategy on a synthetic pool; a strategy (a user's) that fails there fails its
    own trial later, named; the estimate only says it has none."""
    from bench import cli

    def broken(*args, **kw):
        raise RuntimeError("select exploded on the synthetic pool")

    monkeypatch.setattr(paper_plan, "estimate_run", broken)
    assert cli.main(["run", "-s", "random", "--seeds", "0", "--out", str(tmp_path / "o"), "--no-progress", *TINY]) == 0
    err = capsys.readouterr().err
    assert "albench: no estimate (RuntimeError: select exploded on the synthetic pool" in err and "done" in err


def test_plan_says_where_its_model_of_a_select_misses_and_what_is_left_by_strategy(tmp_path):
    study = paper_run.study("imbalance", profile="smoke")
    p = paper_plan.plan("smoke", base=str(tmp_path), measure=CannedMeter("cpu"), quiet=True, manifest=study)
    text = " ".join(p.text.split())
    assert "batchbald: its Monte-Carlo passes are timed as BALD's; its greedy search (budget x max_candidates x " \
        "configurations per select) is timed apart" in text
    assert text.count("its greedy search") == 1   # said of BatchBALD alone
    assert "est. left by strategy, one trial at a time: " in text and " batchbald " in text
