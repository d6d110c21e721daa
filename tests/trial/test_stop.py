"""A stop asked between rounds (SIGUSR1, ``bench.trial.stop``): the trials in hand save their round and end, no
other starts, the command exits 3, and the same command goes on from there."""
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
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="no SIGUSR1 on this platform")


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


@pytest.mark.parametrize("executor,group", [("local", False), ("pool", True), ("pool", False)])
def test_a_stop_between_rounds_keeps_every_round_and_the_same_command_goes_on(tmp_path, executor, group):
    """``group``: the signal sent to the command's process group (workers included, as for a study in the
    background), else to the command alone (its workers learn of it from it)."""
    out = str(tmp_path / "out")
    cmd = [sys.executable, "-m", "bench", "run", "-s", "random,entropy,margin", "--executor", executor,
           "--workers", "2", "--out", out, *GRID]
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not _tables(out):   # once a round has landed, mid-trial
        time.sleep(0.05)
    assert _tables(out), "no round landed"
    (os.killpg if group else os.kill)(proc.pid, signal.SIGUSR1)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 3, err
    assert err.count("stop asked (SIGUSR1)") == 1, err   # said once, by the command, not by every worker
    assert "stopped as asked:" in err and "run the same command to go on from there" in err
    tables = _tables(out)
    ended = [t for t, rows in tables.items() if len(rows) < 4]
    assert ended, f"no trial was stopped mid-way: {err}"
    for t in ended:   # each one named with the round it saved
        assert f"{t.replace(os.sep, '/')}: stopped after round {len(tables[t]) - 1} of 3" in err
    assert len(tables) < 6 and _started(out) == set(tables)   # no trial started after the stop, none left empty

    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    again = _tables(out)
    assert len(again) == 6 and all(len(rows) == 4 for rows in again.values())
    for t, rows in tables.items():   # the rounds saved at the stop are kept as they were, not run again
        assert again[t][:len(rows)] == rows
