"""Fault injection: damaged, missing or garbage result files, non-finite training, concurrent identical runs,
unwritable output, and ordinary mistakes. Each case asserts the message and that earlier results are
byte-identical afterwards (or, where a damaged tail is repaired, that the originals are kept aside)."""
import errno
import glob
import json
import os
import shutil
import subprocess
import sys
import time

import pandas as pd
import pytest

from bench.analysis.collect import collect, summarise
from bench.analysis.figures import missing_runs
from bench.cli import main
from tests.helpers import ROOT, TINY, run_cli

TIMING = ["train_seconds", "scoring_train_seconds", "select_seconds", "eval_seconds"]
ARGS = ["run", "--strategy", "random", "--seeds", "0", "--no-progress", *TINY]


def trial(out, strategy="random", seed=0, dataset="digits"):
    return os.path.join(out, dataset, strategy, f"seed{seed}")


def snapshot(out):
    return {os.path.relpath(os.path.join(d, f), out): open(os.path.join(d, f), "rb").read()
            for d, _, fs in os.walk(out) for f in fs if "figures" not in d and f != ".lock"}


def albench(*args):
    """The CLI in this process: (exit code, stderr text)."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, err.getvalue()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("ref"))
    assert albench(*ARGS, "--out", out)[0] == 0
    return out


@pytest.fixture
def finished(reference, tmp_path):
    out = str(tmp_path / "res")
    shutil.copytree(reference, out)
    return out


def table(out):
    return pd.read_csv(os.path.join(trial(out), "rounds.csv")).drop(columns=TIMING)


# 1. damaged tables are never resumed as valid
@pytest.mark.parametrize("damage", ["truncate_mid_row", "nan_accuracy", "garbage_csv", "garbage_jsonl",
                                    "jsonl_short", "csv_short", "round_gap"])
def test_damaged_tables_resume_from_the_last_verified_round(reference, finished, damage):
    csv, jsonl = (os.path.join(trial(finished), f) for f in ("rounds.csv", "rounds.jsonl"))
    text, lines = open(csv).read(), open(jsonl).read().splitlines(keepends=True)
    if damage == "truncate_mid_row":
        open(csv, "w").write(text[:text.rindex("\n", 0, len(text) - 1) + 25])
    elif damage == "nan_accuracy":
        df = pd.read_csv(csv)
        df.loc[1, "accuracy"] = float("nan")
        df.to_csv(csv, index=False)
    elif damage == "garbage_csv":
        open(csv, "wb").write(b"\x00\xff garbage \n,,,\n")
    elif damage == "garbage_jsonl":
        open(jsonl, "w").write(lines[0] + "{not json\n" + "".join(lines[2:]))
    elif damage == "jsonl_short":
        open(jsonl, "w").write("".join(lines[:1]))
    elif damage == "csv_short":
        open(csv, "w").write("".join(text.splitlines(keepends=True)[:2]))
    elif damage == "round_gap":
        df = pd.read_csv(csv)
        df.loc[2, "round"] = 5
        df.to_csv(csv, index=False)
    damaged = snapshot(finished)
    code, err = albench(*ARGS, "--out", finished)
    assert code == 0 and "verified round" in err and trial(finished) in err, err
    pd.testing.assert_frame_equal(table(finished), table(reference))   # the damaged rounds were redone
    counts = pd.read_csv(os.path.join(trial(finished), "rounds.csv")).filter(like="count_")
    assert all(str(t).startswith("int") for t in counts.dtypes), "class counts must stay integers"
    kept = {os.path.basename(p): open(p, "rb").read() for p in glob.glob(os.path.join(trial(finished), "*.damaged-*"))}
    assert sorted(k.split(".damaged")[0] for k in kept) == ["rounds.csv", "rounds.jsonl"]
    assert damaged[os.path.join("digits", "random", "seed0", "rounds.csv")] in kept.values()


@pytest.mark.parametrize("missing,message", [("config.json", "no config.json"), ("rounds.jsonl", "cannot be verified"),
                                             ("rounds.csv", "cannot be verified")])
def test_missing_files_are_refused_not_overwritten(finished, missing, message):
    os.remove(os.path.join(trial(finished), missing))
    before = snapshot(finished)
    code, err = albench(*ARGS, "--out", finished)
    assert code == 2 and message in err and trial(finished) in err and "Traceback" not in err
    code, err = albench(*ARGS, "--out", finished, "lr=0.2", "initial=30")   # other settings: still refused
    assert code == 2
    assert snapshot(finished) == before


def test_garbage_config_json_is_refused(finished):
    open(os.path.join(trial(finished), "config.json"), "w").write("{oops")
    before = snapshot(finished)
    code, err = albench(*ARGS, "--out", finished)
    assert code == 2 and "config.json is unreadable" in err
    assert snapshot(finished) == before


def test_other_data_source_is_a_conflict(finished, tmp_path, synth_root):
    cfg = json.load(open(os.path.join(trial(finished), "config.json")))
    assert cfg["identity"]["data_source"] and cfg["identity"]["data_fingerprint"]
    assert cfg["identity"]["albench_version"]
    cfg["identity"]["data_fingerprint"] = "0" * 16   # as if the data had changed under the same name
    open(os.path.join(trial(finished), "config.json"), "w").write(json.dumps(cfg))
    before = snapshot(finished)
    code, err = albench(*ARGS, "--out", finished)
    assert code == 2 and "data_fingerprint" in err
    assert snapshot(finished) == before


def test_same_data_under_another_path_resumes(finished):
    """The data's fingerprint is its identity; its path is provenance (data moved, or reached by a relative
    path, must not strand finished trials)."""
    path = os.path.join(trial(finished), "config.json")
    cfg = json.load(open(path))
    cfg["identity"]["data_source"] = "/somewhere/else/" + str(cfg["identity"]["data_source"])
    open(path, "w").write(json.dumps(cfg))
    before = snapshot(finished)
    code, err = albench(*ARGS, "--out", finished)
    assert code == 0, err
    assert snapshot(finished) == before


# 2. summaries use finished trials only
def test_partial_trials_are_listed_not_averaged(reference, tmp_path):
    out = str(tmp_path / "mixed")
    shutil.copytree(reference, out)
    assert albench("run", "--strategy", "random", "--seeds", "1", "--no-progress", *TINY, "--out", out)[0] == 0
    part = trial(out, seed=1)
    df = pd.read_csv(os.path.join(part, "rounds.csv")).iloc[:2]     # seed 1 stopped after round 1
    df.to_csv(os.path.join(part, "rounds.csv"), index=False)
    lines = open(os.path.join(part, "rounds.jsonl")).readlines()[:2]
    open(os.path.join(part, "rounds.jsonl"), "w").writelines(lines)
    rows = collect(out)
    s = summarise(rows)
    final0 = pd.read_csv(os.path.join(trial(out), "rounds.csv"))["accuracy"].iloc[-1]
    assert s.loc[0, "seeds"] == 1 and s.loc[0, "partial"] == 1 and s.loc[0, "final_acc"] == pytest.approx(final0)
    grid = {"datasets": ["digits"], "strategies": ["random"], "seeds": [0, 1]}
    assert missing_runs(rows, grid) == [("digits", "random", 1)]
    r = run_cli("figures", "--out", out)
    assert r.returncode == 0 and "partial trials" in r.stdout and "digits/random/seed1" in r.stdout
    # the one-seed curve says so in its title (in the PNG); the table shows no "± nan"
    assert "nan" not in r.stdout.split("partial trials")[0]


# 3. training that diverges or cannot run fails loudly
@pytest.mark.parametrize("override,message", [
    ("lr=1e6", "training diverged at epoch"), ("batch_size=1", "batch_size must be >= 2"),
    ("lr_milestones=[50]", "never decays"), ("lr=.nan", "lr must be a positive finite number")])
def test_untrainable_configs_fail_loudly(finished, override, message):
    before = snapshot(finished)
    for strategy in ("random", "vaal", "coreset"):
        code, err = albench("run", "--strategy", strategy, "--seeds", "3", "--no-progress", *TINY, override,
                            "--out", finished)
        assert code == 2 and message in err, err
    assert snapshot(finished) == before


# 5. one writer per trial: concurrent identical runs, orphan temporary files
def test_concurrent_identical_runs_wait_and_agree(tmp_path):
    """Two identical runs started while the trial is locked both wait, say who holds it, then run one after
    the other (the second finds the trial finished) and agree with a lone run. The test holds the lock
    itself until both have said so, so the outcome does not depend on how fast a run is."""
    from bench.trial.store import TrialLock

    out, alone = str(tmp_path / "twice"), str(tmp_path / "alone")
    os.makedirs(trial(out))
    cmd = [sys.executable, "-m", "bench", *ARGS, "threads=1"]   # bf16 CPU numbers depend on the thread count
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    subprocess.run(cmd + ["--out", alone], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    cmd += ["--out", out]
    logs = [tmp_path / f"err{i}.txt" for i in range(2)]
    with TrialLock(trial(out)):
        procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=open(log, "w"), text=True) for log in logs]
        deadline = time.time() + 240
        while not all("being written by pid" in log.read_text() for log in logs) and time.time() < deadline:
            assert all(p.poll() is None for p in procs), [log.read_text() for log in logs]
            time.sleep(0.2)
    for p in procs:
        p.wait(timeout=300)
    errs = [log.read_text() for log in logs]
    assert all(p.returncode == 0 for p in procs), errs
    assert all("being written by pid" in e for e in errs), errs   # both waited for the holder
    pd.testing.assert_frame_equal(table(out), table(alone))
    assert not glob.glob(os.path.join(trial(out), "*.tmp*"))


def test_orphan_temporary_files_are_cleaned(finished):
    orphan = os.path.join(trial(finished), "rounds.csv.tmp999999")
    open(orphan, "w").write("half a table")
    before = {k: v for k, v in snapshot(finished).items() if ".tmp" not in k}
    assert albench(*ARGS, "--out", finished)[0] == 0
    assert not os.path.exists(orphan) and snapshot(finished) == before


# 7. ordinary mistakes: one clear message, exit 2, nothing written
@pytest.mark.parametrize("args,message", [
    (["--strategy", "vabal", "strategy_params.vabal.lamda=0.1"], "has no parameter 'lamda'"),
    (["strategy_params.vabl.lam=0.1"], "strategy_params has an entry for 'vabl'"),
    (["--import", "no_such_module_xyz"], "no module named 'no_such_module_xyz'"),
    (["seeds=x"], "seeds must be a list of integers"),
    (["--seeds", ""], "--seeds is empty"),
    (["--seeds", "a,b"], "--seeds takes comma-separated integers"),
    (["--workers", "0"], "--workers must be >= 1"),
    (["initial=5000"], "initial=5000 asks for more"),
    (["validation=1.5"], "validation is a fraction"),
])
def test_ordinary_mistakes_fail_clearly(finished, args, message):
    before = snapshot(finished)
    code, err = albench(*ARGS, "--out", finished, *args)
    assert code == 2 and message in err and "Traceback" not in err, err
    assert snapshot(finished) == before


def test_failing_import_names_the_cause(finished, tmp_path, monkeypatch):
    (tmp_path / "broken_plugin.py").write_text("import math\nraise RuntimeError('plugin exploded')\n")
    monkeypatch.chdir(tmp_path)
    before = snapshot(finished)
    code, err = albench(*ARGS, "--out", finished, "--import", "broken_plugin")
    assert code == 2 and "plugin exploded" in err and "broken_plugin.py:2" in err
    assert snapshot(finished) == before


def test_unwritable_output(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    code, err = albench(*ARGS, "--out", str(tmp_path / "file"))
    assert code == 2 and "cannot write results under" in err
    code, err = albench(*ARGS, "--out", str(tmp_path / "file" / "below"))
    assert code == 2 and "cannot write results under" in err
    real_fsync = os.fsync

    def full(fd):   # a disk that fills up: every fsync fails with ENOSPC
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    code, err = albench(*ARGS, "--out", str(tmp_path / "full"))
    assert code == 2 and "No space left on device" in err and "Traceback" not in err
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert not glob.glob(str(tmp_path / "full" / "**" / "*.tmp*"), recursive=True)


def test_one_unreadable_table_does_not_block_reports(reference, tmp_path):
    out = str(tmp_path / "one_bad")
    shutil.copytree(reference, out)
    bad = os.path.join(out, "digits_dom1", "random", "seed0")
    os.makedirs(bad)
    open(os.path.join(bad, "rounds.csv"), "wb").write(b"\x00\x01\x02")
    r = run_cli("report", "--out", out)
    assert r.returncode == 0 and "digits" in r.stdout and os.path.join(bad, "rounds.csv") in r.stderr
    code, err = albench(*ARGS, "--out", out)    # a successful run is not failed by someone else's file
    assert code == 0


def test_list_into_a_closed_pipe():
    r = subprocess.run(f"{sys.executable} -m bench list | head -1", shell=True, cwd=ROOT, capture_output=True,
                       text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 0 and "BrokenPipe" not in r.stderr and "Traceback" not in r.stderr
    r = run_cli("list")
    assert "SPEC.md" not in r.stdout and "folder:" in r.stdout and "cifar10_lt100" in r.stdout
