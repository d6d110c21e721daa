"""End-to-end on CPU through the command line: results format, resume after SIGKILL, clear errors."""
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from tests.helpers import ROOT, TINY, run_cli

TIMING = ["train_seconds", "select_seconds", "eval_seconds"]


def trial_files(out, strategy="random", dataset="digits", seed=0):
    return os.path.join(out, dataset, strategy, f"seed{seed}")


def test_run_writes_tidy_results(tmp_path):
    out = str(tmp_path / "res")
    r = run_cli("run", "--strategy", "random,entropy", "--seeds", "0,1", "--out", out, "--no-progress", *TINY)
    assert r.returncode == 0, r.stderr
    df = pd.concat(pd.read_csv(os.path.join(trial_files(out, s, seed=k), "rounds.csv"))
                   for s in ("random", "entropy") for k in (0, 1))
    need = ["dataset", "strategy", "seed", "round", "n_labelled", "accuracy", "balanced_accuracy",
            "train_seconds", "select_seconds"]
    assert set(need) <= set(df.columns) and len(df) == 2 * 2 * 3
    counts = df[[f"count_{c}" for c in range(10)]].sum(axis=1)
    assert (counts == df["n_labelled"]).all() and sorted(df["n_labelled"].unique()) == [20, 30, 40]
    # paired curves: under one seed every strategy starts from the same initial pool
    recs = {s: [json.loads(line) for line in open(os.path.join(trial_files(out, s), "rounds.jsonl"))]
            for s in ("random", "entropy")}
    assert recs["random"][0]["initial"] == recs["entropy"][0]["initial"]
    assert len(recs["random"][0]["selected"]) == 10 and recs["random"][-1]["selected"] == []
    labelled = recs["random"][0]["initial"] + recs["random"][0]["selected"] + recs["random"][1]["selected"]
    assert len(set(labelled)) == 40
    cfg = json.load(open(os.path.join(trial_files(out), "config.json")))
    assert cfg["config"]["epochs"] == 2 and "torch" in cfg["versions"] and "git_commit" in cfg["versions"]
    r = run_cli("figures", "--out", out)
    assert r.returncode == 0, r.stderr
    assert os.path.getsize(os.path.join(out, "figures", "accuracy_digits.png")) > 5000
    assert "paper grid" not in r.stdout   # digits is not in the paper grid: no "150 of 150 runs missing" line


def test_resume_after_sigkill_gives_the_same_table(tmp_path):
    args = ["run", "--strategy", "entropy", "--no-progress", "initial=20", "budget=10", "rounds=3", "width=4",
            "epochs=6", "batch_size=16", "lr_milestones=[4]"]
    ref = str(tmp_path / "ref")
    assert run_cli(*args, "--out", ref).returncode == 0
    out = str(tmp_path / "killed")
    csv = os.path.join(trial_files(out, "entropy"), "rounds.csv")
    proc = subprocess.Popen([sys.executable, "-m", "bench", *args, "--out", out], cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and (not os.path.exists(csv) or len(pd.read_csv(csv)) < 2):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # in the middle of round 2 (rounds 0 and 1 are written)
    proc.wait()
    done = len(pd.read_csv(csv))
    assert 2 <= done < 4, f"the kill came too late to test anything ({done} rounds done)"
    r = run_cli(*args, "--out", out)
    assert r.returncode == 0, r.stderr
    a = pd.read_csv(os.path.join(trial_files(ref, "entropy"), "rounds.csv")).drop(columns=TIMING)
    b = pd.read_csv(csv).drop(columns=TIMING)
    pd.testing.assert_frame_equal(a, b)
    ja = [json.loads(x) for x in open(os.path.join(trial_files(ref, "entropy"), "rounds.jsonl"))]
    jb = [json.loads(x) for x in open(os.path.join(trial_files(out, "entropy"), "rounds.jsonl"))]
    assert [x["selected"] for x in ja] == [x["selected"] for x in jb]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("done"))
    assert run_cli("run", "--strategy", "random", "--out", out, "--no-progress", *TINY).returncode == 0
    return out


def snapshot(out):
    return {os.path.join(d, f): open(os.path.join(d, f), "rb").read()
            for d, _, fs in os.walk(out) for f in fs if "figures" not in d}


@pytest.mark.parametrize("args,message", [
    (["--strategy", "nope"], "unknown strategy 'nope'; available: "),
    (["--data", "cifar10_dom99"], "cifar10 has classes 1..10"),
    (["--data", "imagenet"], "unknown dataset 'imagenet'"),
    (["budget=0"], "budget must be > 0"),
    (["budget=-5"], "budget must be > 0"),
    (["rounds=500"], "has 1433 training images, but initial=20 + rounds=500"),
    (["epochs=many"], "epochs must be a int"),
])
def test_bad_input_fails_clearly_and_keeps_results(finished, args, message):
    before = snapshot(finished)
    r = run_cli("run", "--strategy", "random", "--out", finished, "--no-progress", *TINY, *args)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert snapshot(finished) == before


def test_missing_and_corrupt_data(finished, tmp_path):
    before = snapshot(finished)
    r = run_cli("run", "--strategy", "random", "--data", "cifar10", "--out", finished, "--data-root", str(tmp_path),
                *TINY)
    assert r.returncode == 2 and "not found" in r.stderr and "unpack.py" in r.stderr
    (tmp_path / "neu.npz").write_bytes(b"garbage")
    r = run_cli("run", "--strategy", "random", "--data", "neu", "--out", finished, "--data-root", str(tmp_path), *TINY)
    assert r.returncode == 2 and "unreadable or incomplete" in r.stderr and "Traceback" not in r.stderr
    assert snapshot(finished) == before


def test_rerun_of_a_finished_trial_is_a_no_op_and_conflicts_are_refused(finished):
    before = snapshot(finished)
    r = run_cli("run", "--strategy", "random", "--out", finished, "--no-progress", *TINY)
    assert r.returncode == 0 and snapshot(finished) == before
    r = run_cli("run", "--strategy", "random", "--out", finished, "--no-progress", *TINY, "lr=0.2")
    assert r.returncode == 2 and "different configuration" in r.stderr and "lr" in r.stderr
    assert snapshot(finished) == before


def test_list_command():
    r = run_cli("list")
    assert r.returncode == 0 and "random" in r.stdout and "cifar10_rare5" in r.stdout
