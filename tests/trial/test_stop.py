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


SELF_STOPPING = '''
import os
import signal

from strategies import Strategy, register

SENT = []


@register("stops_once")
class StopsOnce(Strategy):
    """Asks its own process to stop, once, while it selects in round 0."""
    def select(self, pool, budget):
        if not SENT:
            SENT.append(1)
            os.kill(os.getpid(), signal.SIGUSR1)
        return pool.unlabelled[:budget]
'''

IN_PROCESS = '''
import signal, sys
from bench import cli
from bench.trial import stop
before = signal.getsignal(signal.SIGUSR1)
args = ["run", "--import", "selfstop", "-s", "stops_once", "--executor", "local", "--out", sys.argv[1], *sys.argv[2:]]
first = cli.main(args)
print("first", first, "asked after", stop.asked(), "handler restored", signal.getsignal(signal.SIGUSR1) == before)
print("again", cli.main(args))
'''


def test_called_in_a_process_a_stop_is_forgotten_and_the_handler_put_back(tmp_path):
    """A program calling ``cli.main`` (a notebook, a test) gets its own handler back, and the same call resumes:
    the stop it asked for the first time is not kept for the next."""
    (tmp_path / "selfstop.py").write_text(SELF_STOPPING)
    (tmp_path / "caller.py").write_text(IN_PROCESS)
    grid = [a for a in GRID if a not in ("--seeds", "0,1")] + ["--seeds", "0"]
    r = subprocess.run([sys.executable, "caller.py", str(tmp_path / "out"), *grid], cwd=str(tmp_path),
                       env=dict(ENV, PYTHONPATH=os.pathsep.join([ROOT, str(tmp_path)])), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "first 3 asked after False handler restored True" in r.stdout, r.stdout + r.stderr
    assert "again 0" in r.stdout and "stopped after round 0 of 3" in r.stderr
    rows = _tables(str(tmp_path / "out"))
    assert [len(v) for v in rows.values()] == [4]


def test_what_a_stop_left_counts_trials_finished_before_the_run_as_finished(tmp_path):
    import types

    from bench.core.errors import RunStopped
    from bench.trial.grid import _stopped

    def trial(name, rows=0):
        cfg = types.SimpleNamespace(out=str(tmp_path), dataset="digits", rounds=2)
        if rows:
            os.makedirs(tmp_path / "digits" / name / "seed0")
            (tmp_path / "digits" / name / "seed0" / "rounds.csv").write_text("header\n" + "row\n" * rows)
        return types.SimpleNamespace(name=f"digits/{name}/seed0", cfg=cfg, strategy=name, seed=0)

    trials = [trial("ran"), trial("ended", 1), trial("whole_before", 3), trial("half_before", 2), trial("never"),
              trial("broke")]
    said = _stopped(trials, ["digits/ran/seed0"], {"digits/broke/seed0": "ValueError"},
                    [RunStopped("digits/ended/seed0: stopped after round 0 of 2", trial="digits/ended/seed0"),
                     RunStopped("digits/never/seed0: not started", started=False, trial="digits/never/seed0")])
    assert said.startswith("stopped as asked: 2 of 6 trial(s) finished, 1 ended at their last saved round, "
                           "2 not started, 1 failed;")
    assert said.endswith("\n  digits/ended/seed0: stopped after round 0 of 2")
