"""The grid: expansion, the pool executor (processes) and a local CPU-only Ray instance; resume after a kill."""
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from bench.core.errors import GridError
from bench.trial.grid import expand
from tests.helpers import ROOT, TINY, run_cli

GRID = ["--strategy", "random,entropy", "--data", "digits,digits_dom1", "--seeds", "0,1", "--no-progress"]
# threads=1: every executor runs a trial on one thread, so their tables can be compared (bf16 CPU numbers
# depend on the thread count; a local run would otherwise take all the cores)
SMALL = [t for t in TINY if not t.startswith(("initial", "budget"))] + ["initial=10", "budget=5", "threads=1"]


def test_expand_grid():
    trials = expand(["digits", "cifar10_dom1"], ["random", "vabal"], [0, 1, 2],
                    overrides=["epochs=3", "lr_milestones=[2]"])
    assert len(trials) == 12 and len({t.name for t in trials}) == 12
    c10 = [t for t in trials if t.cfg.dataset == "cifar10_dom1"][0].cfg
    assert c10.initial == 500 and c10.epochs == 3  # each dataset under its own paper preset, then overrides


def rows_by_trial(out):
    found = {}
    for d, _, files in os.walk(out):
        if "rounds.csv" in files:
            found[os.path.relpath(d, out)] = pd.read_csv(os.path.join(d, "rounds.csv"))
    return found


def run_and_kill(out, executor, extra=()):
    """Start the grid, SIGKILL the whole process group once some rounds are written, then resume it."""
    cmd = [sys.executable, "-m", "bench", "run", *GRID, "--out", out, "--executor", executor, "--workers", "2",
           *extra, *SMALL]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and sum(len(r) for r in rows_by_trial(out).values()) < 4 if os.path.exists(out) \
            else time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = rows_by_trial(out)
    assert 0 < sum(len(r) for r in before.values()) < 8 * 3, "the kill should land in the middle of the grid"
    r = run_cli("run", *GRID, "--out", out, "--executor", executor, "--workers", "2", *extra, *SMALL)
    assert r.returncode == 0, r.stderr
    after = rows_by_trial(out)
    assert len(after) == 8 and all(len(t) == 3 for t in after.values())
    for name, rows in before.items():  # finished rounds were not redone: identical rows, timings included
        pd.testing.assert_frame_equal(rows, after[name].iloc[:len(rows)])
    return after


def test_pool_executor_resumes_after_kill(tmp_path):
    after = run_and_kill(str(tmp_path / "pool"), "pool")
    ref = str(tmp_path / "ref")
    assert run_cli("run", *GRID, "--out", ref, *SMALL).returncode == 0
    timing = ["train_seconds", "select_seconds", "eval_seconds"]
    for name, rows in rows_by_trial(ref).items():  # processes write only their own trial: same table
        pd.testing.assert_frame_equal(rows.drop(columns=timing), after[name].drop(columns=timing))


def test_ray_executor_on_a_local_cpu_instance(tmp_path):
    pytest.importorskip("ray")
    run_and_kill(str(tmp_path / "ray"), "ray")


def test_without_bars_each_finished_trial_is_one_line(tmp_path, capsys, monkeypatch):
    """A background run logging to a file (--no-progress) says which trial finished, k of n, and when."""
    import types

    import bench.trial.grid as grid
    from bench.trial.grid import run_grid

    clock = iter([0.0, 10.0, 25.0])   # the grid's start, then each trial's end, in seconds
    monkeypatch.setattr(grid, "time", types.SimpleNamespace(perf_counter=lambda: next(clock)))
    trials = expand(["digits"], ["random", "entropy"], [0], overrides=TINY, out=str(tmp_path))
    cost = {"digits/random/seed0": 60.0, "digits/entropy/seed0": 6000.0}   # the plan's estimates, by name
    assert run_grid(trials, "local", progress=False, cost=cost) == ["digits/random/seed0", "digits/entropy/seed0"]
    first, second = [line for line in capsys.readouterr().err.splitlines() if " done (" in line]
    # the trial left was estimated 100x the one done, which took 10 s: 1,000 s left
    assert first.endswith("digits/random/seed0 done (1 of 2, 0.2 min since the start, ~16.7 min left at this pace)")
    assert second.endswith("digits/entropy/seed0 done (2 of 2, 0.4 min since the start)")


def test_the_time_left_weighs_each_trial_by_its_estimate():
    from bench.trial.progress import grid_time_left, human

    cost = {"a": 10.0, "b": 30.0, "c": 60.0}
    assert grid_time_left(20.0, ["a"], ["b", "c"], cost) == 20.0 * 90 / 10   # the pace of a: 2 s per estimated s
    assert grid_time_left(20.0, ["a", "x"], ["y"], cost) == 20.0 * (100 / 3) / (10 + 100 / 3)   # x, y: the mean
    assert grid_time_left(20.0, ["a"], ["b", "c"]) == 40.0   # no estimates: trial for trial
    assert grid_time_left(20.0, [], ["a"], cost) is None
    # trials found finished on disk weigh 0 (an `albench run` resumed): the pace is that of the trial run
    disk = {"f1": 0.0, "f2": 0.0, "p1": 3600.0, "p2": 3600.0}
    assert grid_time_left(3000.0, ["f1", "f2", "p1"], ["p2"], disk) == 3000.0
    assert grid_time_left(1.0, ["f1"], ["p1", "p2"], disk) is None
    said = [human(s) for s in (45, 750, 11_520, 129_600, 259_200)]
    assert said == ["45 s", "12.5 min", "3.2 h", "36.0 h", "3.0 d"]


def test_a_failed_pool_trial_is_not_counted_as_left(monkeypatch, capsys):
    import types

    import bench.trial.grid as grid

    def pool(jobs, workers, threads, imports, on_done, failed, stopped):   # as _run_pool: a fails, then b ends
        failed["a"] = "RuntimeError: boom"
        on_done("b")

    clock = iter([0.0, 60.0])   # the grid's start, b's end
    monkeypatch.setattr(grid, "time", types.SimpleNamespace(perf_counter=lambda: next(clock)))
    monkeypatch.setattr(grid, "_run_pool", pool)
    cfg = types.SimpleNamespace(device="cpu", threads=1)
    trials = [types.SimpleNamespace(name=n, cfg=cfg) for n in ("a", "b", "c")]
    with pytest.raises(GridError):
        grid.run_grid(trials, "pool", 2, progress=False, cost={"a": 3600.0, "b": 60.0, "c": 60.0})
    line = [x for x in capsys.readouterr().err.splitlines() if "b done" in x][0]
    # c alone is left, not a's hour
    assert line.endswith("b done (1 of 3, 1.0 min since the start, ~60 s left at this pace)")
