"""A stop asked between rounds (SIGUSR1, ``bench.trial.stop``): the trials in hand save their round and end, no
other starts, the command exits 3 (2 where a trial failed beside it), and the same command goes on from there."""
import csv
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import ROOT, TINY

GRID = ["--data", "digits", "--seeds", "0,1", "--no-progress", "threads=1", "rounds=3",
        *[t for t in TINY if not t.startswith(("seeds", "rounds"))]]
ENV = dict(os.environ, PYTHONPATH=ROOT)
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="no SIGUSR1 on this platform")

FAILING = '''
from strategies import Strategy, register


@register("fails")
class Fails(Strategy):
    def select(self, pool, budget):
        raise ValueError("a bug")
'''


def _tables(out):
    """{trial folder: its rows} of every trial with a table."""
    found = {}
    for d, _, files in os.walk(out):
        if "rounds.csv" in files:
            with open(os.path.join(d, "rounds.csv")) as f:
                found[os.path.relpath(d, out)] = list(csv.DictReader(f))
    return found


def _started(out):
    return {os.path.relpath(d, out) for d, subdirs, _ in os.walk(out) if os.path.basename(d).startswith("seed")}


def _start(cmd, cwd=ROOT):
    return subprocess.Popen(cmd, cwd=cwd, env=ENV, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _when_a_round_lands(out):
    deadline = time.time() + 120
    while time.time() < deadline and not _tables(out):   # once a round has landed, mid-trial
        time.sleep(0.05)
    assert _tables(out), "no round landed"


@pytest.mark.parametrize("executor,group", [("local", False), ("pool", True), ("pool", False)])
def test_a_stop_between_rounds_keeps_every_round_and_the_same_command_goes_on(tmp_path, executor, group):
    """``group``: the signal sent to the command's process group (workers included, as for a study in the
    background), else to the command alone (its workers learn of it from it)."""
    out = str(tmp_path / "out")
    cmd = [sys.executable, "-m", "bench", "run", "-s", "random,entropy,margin", "--executor", executor,
           "--workers", "2", "--out", out, *GRID]
    proc = _start(cmd)
    _when_a_round_lands(out)
    (os.killpg if group else os.kill)(proc.pid, signal.SIGUSR1)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 3, err
    assert err.count("stop asked (SIGUSR1)") == 1, err   # said once, by the command, not by every worker
    assert "Traceback" not in err, err                   # nothing of the pool (its resource tracker) died of it
    assert "stopped as asked:" in err and "run the same command to go on from there" in err
    tables = _tables(out)
    ended = [t for t, rows in tables.items() if len(rows) < 4]
    assert ended, f"no trial was stopped mid-way: {err}"
    for t in ended:   # each one named with the round it saved
        assert f"{t.replace(os.sep, '/')}: stopped after round {len(tables[t]) - 1} of 3" in err
    finished = len(tables) - len(ended)
    assert f"{finished} of 6 trial(s) finished, {len(ended)} ended at their last saved round, " \
           f"{6 - len(tables)} not started;" in err
    assert 6 - len(tables) >= (3 if executor == "local" else 2)   # nothing started after the stop
    assert _started(out) == set(tables)                            # and no folder left empty

    r = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    again = _tables(out)
    assert len(again) == 6 and all(len(rows) == 4 for rows in again.values())
    for t, rows in tables.items():   # the rounds saved at the stop are kept as they were, not run again
        assert again[t][:len(rows)] == rows


def test_a_stop_asked_before_any_trial_starts_none_and_one_asked_again_as_it_ends_does_not_kill_it(tmp_path):
    out = str(tmp_path / "out")
    proc = _start([sys.executable, "-m", "bench", "run", "-s", "random,margin", "--executor", "pool", "--workers",
                   "2", "--out", out, *GRID])
    first = proc.stderr.readline()   # the command has said what it runs: it is listening, no trial has begun
    assert "trial(s) ->" in first, first
    os.kill(proc.pid, signal.SIGUSR1)
    while proc.poll() is None:   # asked again and again until it has ended: never killed by it on the way out
        os.kill(proc.pid, signal.SIGUSR1)
        time.sleep(0.01)
    err = first + proc.stderr.read()
    assert proc.returncode == 3, err
    assert "stopped as asked: 0 of 4 trial(s) finished, 0 ended at their last saved round, 4 not started" in err
    assert not os.path.exists(out) or not _started(out)


def test_a_trial_failing_beside_a_stop_fails_the_run_and_the_stop_is_said_too(tmp_path):
    (tmp_path / "failing.py").write_text(FAILING)
    out = str(tmp_path / "out")
    proc = _start([sys.executable, "-m", "bench", "run", "--import", "failing", "-s", "fails,random",
                   "--executor", "local", "--out", out, *GRID], cwd=str(tmp_path))
    _when_a_round_lands(out)   # random's: both trials of `fails` have failed by then
    os.kill(proc.pid, signal.SIGUSR1)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err
    assert "2 of 4 trial(s) failed:" in err and "every other trial ran to the end" not in err
    assert "and the run stopped as asked: 0 of 4 trial(s) finished, 1 ended at their last saved round, 1 not " \
           "started, 2 failed" in err
