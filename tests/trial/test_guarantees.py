"""The guarantees a published number stands on, one test per promise (docs/guarantees.md lists them):
nothing outside --out, no half-written file, no edited round accepted, no hung grid, no strategy that can
spoil a round, errors that say whose they are, degenerate pools and own data handled or refused."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from bench.core.errors import ConfigError
from bench.trial.store import atomic_write, check_label, trial_dir
from tests.helpers import ROOT, TINY

HOSTILE = ["/tmp/escape/x", "../escape", "a/../../b", "..", ".hidden", "x/y", "sp ace", "nul\x00", "", "-rf",
           "a" * 200, "~root"]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_path_like_strategy_name_never_becomes_a_folder(name, tmp_path):
    with pytest.raises(ConfigError, match="cannot name a results folder"):
        trial_dir(str(tmp_path), "digits", name, 0)
    with pytest.raises(ConfigError):
        check_label(name)


def test_ordinary_labels_and_dataset_specs_stay_under_out(tmp_path):
    for label in ("random", "vabal_released", "vabal_lam0.001", "power-bald", "k=3"):
        path = trial_dir(str(tmp_path), "folder:/a/../../b#dom1", label, 2)
        assert os.path.realpath(path).startswith(os.path.realpath(tmp_path) + os.sep)


def test_the_cli_refuses_a_path_like_variant_before_writing_anything(tmp_path):
    outside, out = tmp_path / "outside", tmp_path / "out"
    name = str(outside / "x")
    r = subprocess.run([sys.executable, "-m", "bench", "run", "-s", name, f"strategy_params.{name}.strategy=random",
                        "--out", str(out), "--no-progress", *TINY], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 2 and "cannot name a results folder" in r.stderr, r.stderr
    assert not outside.exists() and not any(out.rglob("*.csv")) if out.exists() else not outside.exists()


def test_negative_seeds_are_refused_before_any_file(tmp_path):
    r = subprocess.run([sys.executable, "-m", "bench", "run", "--seeds", "-1", "--out", str(tmp_path / "o"),
                        "--no-progress", *[t for t in TINY if not t.startswith("seeds")]], cwd=ROOT,
                       capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 2 and "non-negative" in r.stderr, r.stderr
    assert not list((tmp_path / "o").rglob(".lock")) if (tmp_path / "o").exists() else True


def test_atomic_write_leaves_the_old_file_when_the_writer_dies(tmp_path):
    """A writer killed mid-write leaves the previous file whole (the half-written one is a temporary file
    beside it, never under the real name): checked with a child process killed while it writes."""
    path = tmp_path / "report.html"
    path.write_text("old report\n" * 1000)
    code = ("import sys, os\nfrom bench.trial.store import atomic_write\n"
            "class Slow(str):\n    pass\n"
            "import builtins\n_open = builtins.open\n"
            "def slow_open(p, mode='r', *a, **k):\n"
            "    f = _open(p, mode, *a, **k)\n"
            "    if 'w' in mode:\n"
            "        w = f.write\n"
            "        def write(t):\n"
            "            w(t[:10]); f.flush(); os.kill(os.getpid(), 9)\n"
            "        f.write = write\n"
            "    return f\n"
            "builtins.open = slow_open\n"
            f"atomic_write({str(path)!r}, 'new report ' * 10000)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == -9
    assert path.read_text() == "old report\n" * 1000
    atomic_write(str(path), b"\x89PNG bytes")
    assert path.read_bytes() == b"\x89PNG bytes"


# ------------------------------------------------------------------------------------ executors and workers
GRID = ["--data", "digits", "--seeds", "0,1", "--no-progress", "threads=1",
        *[t for t in TINY if not t.startswith(("seeds", "initial", "budget"))], "initial=10", "budget=5"]

BROKEN_STRATEGY = '''
import numpy as np
from strategies import Strategy, register


@register("mine_ok")
class MineOk(Strategy):
    def select(self, pool, budget):
        return pool.unlabelled[:budget]


@register("mine_broken")
class MineBroken(Strategy):
    def select(self, pool, budget):
        raise ValueError("my strategy has a bug")
'''


def _cli(args, cwd, timeout=300):
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, PYTHONPATH=ROOT))


def _finished_trials(out):
    import pandas as pd

    done = set()
    for dirpath, _, files in os.walk(out):
        if "rounds.csv" in files:
            df = pd.read_csv(os.path.join(dirpath, "rounds.csv"))
            if len(df) == 3:
                done.add(f"{df['strategy'][0]}/seed{df['seed'][0]}")
    return done


@pytest.mark.parametrize("executor", ["pool", "ray"])
def test_import_reaches_pool_workers_and_a_failing_trial_is_named_while_the_rest_finish(tmp_path, executor):
    if executor == "ray":
        pytest.importorskip("ray")
    (tmp_path / "mymod.py").write_text(BROKEN_STRATEGY)
    out = str(tmp_path / "out")
    r = _cli(["run", "--import", "mymod", "-s", "mine_ok,mine_broken,random", "--executor", executor, "--workers",
              "2", "--out", out, *GRID], cwd=str(tmp_path))
    assert r.returncode == 2, r.stderr
    assert "unknown strategy" not in r.stderr                     # the workers imported mymod too
    assert "2 of 6 trial(s) failed" in r.stderr
    assert "digits/mine_broken/seed0: strategy 'mine_broken' failed in round 0: ValueError: my strategy has a " \
           "bug (at mymod.py:" in r.stderr
    assert _finished_trials(out) == {"mine_ok/seed0", "mine_ok/seed1", "random/seed0", "random/seed1"}


def test_a_killed_pool_worker_fails_its_trial_and_the_grid_ends_by_itself(tmp_path):
    import signal
    import time

    out, tmp = str(tmp_path / "out"), tmp_path / "tmp"
    tmp.mkdir()
    cmd = [sys.executable, "-m", "bench", "run", "-s", "random,entropy,margin", "--executor", "pool",
           "--workers", "2", "--out", out, *GRID, "epochs=6", "lr_milestones=[4]"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT, TMPDIR=str(tmp)),
                            stderr=subprocess.PIPE, text=True)
    victim, deadline = None, time.time() + 120
    while victim is None and time.time() < deadline:   # a worker while it holds a trial (its note names it),
        time.sleep(0.05)                                 # once a round has landed
        if not any("rounds.csv" in fs for _, _, fs in os.walk(out)):
            continue
        notes = [n for d in tmp.glob("albench-workers-*") for n in os.listdir(d)]
        victim = int(notes[0]) if notes else None
    assert victim is not None, "no worker found to kill"
    os.kill(victim, signal.SIGKILL)
    _, err = proc.communicate(timeout=300)   # ends by itself
    assert proc.returncode == 2, err
    assert "1 of 6 trial(s) failed" in err and "its worker process died" in err, err
    assert len(_finished_trials(out)) == 5


# ------------------------------------------------------------------------- results that prove they are whole
def _trial(tmp_path, **over):
    from bench.core.config import load_config
    from bench.trial.loop import run_trial

    cfg = load_config("digits", [t for t in TINY if not t.startswith("seeds")], out=str(tmp_path), threads=1,
                      **over)
    run_trial(cfg, "random", 0, progress=False)
    return os.path.join(str(tmp_path), "digits", "random", "seed0")


def _strip_checksums(path):
    """The trial as recorded before checksums existed."""
    import json

    recs = [json.loads(line) for line in open(os.path.join(path, "rounds.jsonl"))]
    for r in recs:
        r.pop("checksum")
    open(os.path.join(path, "rounds.jsonl"), "w").write("".join(json.dumps(r) + "\n" for r in recs))
    return recs


def _edit_csv(path, column, round_, value):
    import pandas as pd

    df = pd.read_csv(os.path.join(path, "rounds.csv"))
    df.loc[round_, column] = value
    df.to_csv(os.path.join(path, "rounds.csv"), index=False)


def test_every_round_is_checksummed_and_verify_names_an_edited_number(tmp_path, capsys):
    from bench.core.device import onednn_unsafe, processor
    from bench.trial import verify

    path = _trial(tmp_path)
    import json

    records = [json.loads(line) for line in open(os.path.join(path, "rounds.jsonl"))]
    assert all(len(r["checksum"]) == 32 for r in records)
    # each round says where it ran (a resumed trial may move machines)
    assert {r["processor"] for r in records} == {processor()} and re.search(r" x\d+, \w+, ", processor())
    assert {r["onednn"] for r in records} == {not onednn_unsafe(4)}   # TINY's width-4 net (conv_backend)
    assert json.load(open(os.path.join(path, "config.json")))["versions"]["processor"] == processor()
    assert verify.main([str(tmp_path)]) == 0
    _edit_csv(path, "accuracy", 2, 0.9549)
    capsys.readouterr()
    assert verify.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "round 2: its checksum does not match rounds.csv row 3" in err and path in err


def test_an_edited_record_breaks_the_chain_and_reports_use_only_the_verified_rounds(tmp_path, capsys):
    import json

    from bench.analysis.collect import collect

    path = _trial(tmp_path)
    lines = open(os.path.join(path, "rounds.jsonl")).read().splitlines()
    rec = json.loads(lines[1])
    rec["selected"] = rec["selected"][::-1]          # same images, another order: still an edit
    lines[1] = json.dumps(rec)
    open(os.path.join(path, "rounds.jsonl"), "w").write("\n".join(lines) + "\n")
    df = collect(str(tmp_path))
    assert len(df) == 1 and not df["finished"].any()  # round 0 only: the report never averages the rest
    assert "round 1: its checksum does not match" in capsys.readouterr().err


def test_trials_recorded_before_checksums_are_cross_checked(tmp_path, capsys):
    from bench.trial import verify

    path = _trial(tmp_path)
    _strip_checksums(path)
    assert verify.main([str(tmp_path)]) == 0
    assert "recorded before checksums: cross-checked only" in capsys.readouterr().out
    _edit_csv(path, "balanced_accuracy", 1, 0.99)
    assert verify.main([str(tmp_path)]) == 1
    assert "round 1: balanced_accuracy 0.99 is not the mean of its per-class accuracies" in capsys.readouterr().err
    _edit_csv(path, "balanced_accuracy", 1, None)      # blank: the round is incomplete, named too
    assert verify.main([str(tmp_path)]) == 1
    assert "round 1) is incomplete or not finite in balanced_accuracy" in capsys.readouterr().err


def test_a_legacy_trials_edited_class_count_is_caught(tmp_path, capsys):
    import pandas as pd

    from bench.trial import verify

    path = _trial(tmp_path)
    _strip_checksums(path)
    cols = [c for c in pd.read_csv(os.path.join(path, "rounds.csv")).columns if c.startswith("count_")]
    df = pd.read_csv(os.path.join(path, "rounds.csv"))
    df.loc[2, cols[0]] += 1
    df.loc[2, cols[1]] -= 1                              # the total still adds up: only the labels tell
    df.to_csv(os.path.join(path, "rounds.csv"), index=False)
    assert verify.main([str(tmp_path)]) == 1
    assert "round 2: the class counts are not the counts of the labelled images' recorded classes" in \
        capsys.readouterr().err


def test_verify_passes_on_the_committed_results():
    from bench.trial import verify

    root = os.path.join(ROOT, "results")
    if not verify.trial_folders([root]):
        pytest.skip("no committed results in this checkout")
    assert verify.main([root], quiet=True) == 0


def test_a_round_interrupted_between_its_two_files_is_no_failure(tmp_path, capsys):
    """save_round writes rounds.jsonl, then rounds.csv: a stop between them leaves one record more, which
    resume redoes; verify says so instead of failing (any other mismatch fails)."""
    import pandas as pd

    from bench.trial import verify

    path = _trial(tmp_path)
    df = pd.read_csv(os.path.join(path, "rounds.csv"))
    df.iloc[:2].to_csv(os.path.join(path, "rounds.csv"), index=False)
    assert verify.main([str(tmp_path)]) == 0
    assert "round 2 was interrupted while being saved" in capsys.readouterr().out
    df.iloc[:1].to_csv(os.path.join(path, "rounds.csv"), index=False)   # two rounds missing: not that
    assert verify.main([str(tmp_path)]) == 1


# ---------------------------------------------------------------------- a strategy cannot spoil a round
HOSTILE_STRATEGIES = '''
import numpy as np
from strategies import Strategy, register


@register("writes_images")
class WritesImages(Strategy):
    def select(self, pool, budget):
        k = self.check_budget(pool, budget)
        pool.x.zero_()
        return pool.unlabelled[:k]


@register("column_picks")
class ColumnPicks(Strategy):
    def select(self, pool, budget):
        k = self.check_budget(pool, budget)
        return pool.unlabelled[:k].reshape(-1, 1)


@register("reassigns_unlabelled")
class ReassignsUnlabelled(Strategy):
    def select(self, pool, budget):
        pool.unlabelled = np.concatenate([pool.labelled, pool.unlabelled])
        return pool.unlabelled[:budget]


@register("int32_list")
class Int32List(Strategy):
    def select(self, pool, budget):
        k = self.check_budget(pool, budget)
        return list(pool.unlabelled[:k].astype(np.int32))
'''


@pytest.mark.parametrize("name,message", [
    ("writes_images", "changed the pool's images (pool.x) in round 0"),
    ("column_picks", "an array of shape (10, 1)"),
    ("reassigns_unlabelled", "indices outside the unlabelled pool"),
])
def test_the_loop_refuses_a_selection_that_breaks_the_contract(tmp_path, name, message):
    (tmp_path / "hostile.py").write_text(HOSTILE_STRATEGIES)
    out = str(tmp_path / "out")
    r = _cli(["run", "--import", "hostile", "-s", name, "--out", out, "--data", "digits", "--seeds", "0",
              "--no-progress", *[t for t in TINY if not t.startswith("seeds")]], cwd=str(tmp_path))
    assert r.returncode == 2, r.stderr
    assert f"strategy {name!r} broke the select() contract in round 0" in r.stderr or \
        f"strategy {name!r} changed the pool's images" in r.stderr, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr


def test_the_loop_and_the_kit_accept_the_same_integer_selections(tmp_path):
    import sys as _sys

    (tmp_path / "hostile.py").write_text(HOSTILE_STRATEGIES)
    _sys.path.insert(0, str(tmp_path))
    try:
        import hostile

        from strategies.testing import check_strategy

        assert check_strategy(hostile.Int32List)
        for cls, what in ((hostile.WritesImages, "wrote into the pool's images"),
                          (hostile.ColumnPicks, "an array of shape")):
            with pytest.raises(AssertionError, match=what):
                check_strategy(cls)
    finally:
        _sys.path.remove(str(tmp_path))
        from strategies._api import _REGISTRY as registry
        for name in ("writes_images", "column_picks", "reassigns_unlabelled", "int32_list"):
            registry.pop(name, None)
    r = _cli(["run", "--import", "hostile", "-s", "int32_list", "--out", str(tmp_path / "o"), "--data", "digits",
              "--seeds", "0", "--no-progress", *[t for t in TINY if not t.startswith("seeds")]], cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr


def test_resume_checks_round_zeros_selection_against_the_initial_pool(tmp_path, capsys):
    import json

    from bench.trial import verify

    path = _trial(tmp_path)
    recs = _strip_checksums(path)
    recs[0]["selected"][0] = recs[0]["initial"][0]
    open(os.path.join(path, "rounds.jsonl"), "w").write("".join(json.dumps(r) + "\n" for r in recs))
    assert verify.main([str(tmp_path)]) == 1
    assert "round 0 selects an index twice or one that was already labelled" in capsys.readouterr().err


def test_a_trial_stopped_between_round_zeros_two_writes_runs_again(tmp_path, capsys):
    """Found by killing pool workers: rounds.jsonl is written before rounds.csv, and a worker stopped between
    them in round 0 left a trial that every rerun refused. Now that round runs again (nothing else is lost)."""
    from bench.core.config import load_config
    from bench.trial import verify
    from bench.trial.loop import run_trial

    path = _trial(tmp_path)
    os.remove(os.path.join(path, "rounds.csv"))
    lines = open(os.path.join(path, "rounds.jsonl")).read().splitlines()
    open(os.path.join(path, "rounds.jsonl"), "w").write(lines[0] + "\n")
    assert verify.main([str(tmp_path)]) == 0
    cfg = load_config("digits", [t for t in TINY if not t.startswith("seeds")], out=str(tmp_path), threads=1)
    rows = run_trial(cfg, "random", 0, progress=False)
    assert len(rows) == 3 and "round 0 was interrupted while being saved" in capsys.readouterr().err
    assert verify.main([str(tmp_path)]) == 0


def test_a_users_strategy_error_is_worded_as_its_own_and_an_oracle_overrun_as_a_rule_broken(tmp_path):
    (tmp_path / "mymod.py").write_text(BROKEN_STRATEGY + """

@register("greedy_oracle")
class GreedyOracle(Strategy):
    def select(self, pool, budget):
        pool.reveal(pool.unlabelled[:budget + 1])
        return pool.unlabelled[:budget]
""")
    args = ["--out", str(tmp_path / "o"), "--data", "digits", "--seeds", "0", "--no-progress",
            *[t for t in TINY if not t.startswith("seeds")]]
    r = _cli(["run", "--import", "mymod", "-s", "mine_broken", *args], cwd=str(tmp_path))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "strategy 'mine_broken' failed in round 0: ValueError: my strategy has a bug (at mymod.py:" in r.stderr
    r = _cli(["run", "--import", "mymod", "-s", "greedy_oracle", *args], cwd=str(tmp_path))
    assert r.returncode == 2 and "strategy 'greedy_oracle' broke the label rules in round 0" in r.stderr
    assert "finished rounds are saved" not in r.stderr   # not the disk-error advice


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: 3\nwidth: [4\n")
    r = _cli(["run", "--config", str(bad), "--out", str(tmp_path / "o"), "--no-progress"], cwd=ROOT)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"config {bad} is not valid YAML at line" in r.stderr


def test_every_strategy_handles_an_empty_unlabelled_set_and_an_empty_labelled_set():
    """No unlabelled image left: an empty selection (the budget still checked); no labelled image: a clear
    error from the strategies that learn from labelled images, a selection from the others."""
    from strategies import get_strategy, list_strategies
    from strategies.testing import check_selection, make_pool

    params = {"bald": {"passes": 2}, "balanced_bald": {"passes": 2}, "vaal": {"epochs": 1, "width": 4},
              "vabal": {"epochs": 1, "mc_samples": 2}}
    for name in list_strategies():
        s = get_strategy(name, **params.get(name, {}))
        full = make_pool(s, labelled=48, budget=5)
        assert s.select(full, 5).tolist() == [], name
        with pytest.raises(ValueError, match="budget must be > 0"):
            s.select(full, 0)
        empty = make_pool(s, labelled=0, budget=5)
        if s.needs_labelled:
            with pytest.raises(ValueError, match="none is labelled yet"):
                s.select(empty, 5)
        else:
            unl = empty.unlabelled.copy()
            check_selection(s.select(empty, 5), empty, 5, unl)


def test_a_feature_file_too_short_is_refused_before_any_training(tmp_path):
    import numpy as np

    short = tmp_path / "f.npy"
    np.save(short, np.zeros((10, 4), np.float32))   # digits has ~1,600 training images
    r = _cli(["run", "-s", "typiclust", f"strategy_params.typiclust.features={short}", "--out", str(tmp_path / "o"),
              "--data", "digits", "--seeds", "0", "--no-progress", *[t for t in TINY if not t.startswith("seeds")]],
             cwd=ROOT)
    assert r.returncode == 2 and "strategy 'typiclust' cannot run on digits" in r.stderr and str(short) in r.stderr
    assert not list((tmp_path / "o").rglob("rounds.csv")) if (tmp_path / "o").exists() else True


def test_small_mistakes_are_said_not_swallowed(tmp_path):
    r = _cli(["run", "dataset=cifar10", "--out", str(tmp_path / "o"), "--no-progress", *TINY], cwd=ROOT)
    assert r.returncode == 2 and "name the data with --data" in r.stderr
    r = _cli(["figures", "--out", str(tmp_path / "typo")], cwd=ROOT)
    assert r.returncode == 2 and "no results folder" in r.stderr and not (tmp_path / "typo").exists()


def test_the_lock_holders_text_is_shown_without_terminal_escapes(tmp_path, capsys):
    import fcntl
    import threading

    from bench.trial.store import TrialLock

    lock = tmp_path / ".lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    os.write(fd, b"pid 1 \x1b[2J\x1b]0;pwned\x07 since now")
    fcntl.flock(fd, fcntl.LOCK_EX)
    threading.Timer(0.5, lambda: fcntl.flock(fd, fcntl.LOCK_UN)).start()
    with TrialLock(str(tmp_path)):
        pass
    err = capsys.readouterr().err
    assert "being written by pid 1 ?[2J?]0;pwned? since now" in err and "\x1b" not in err
    os.close(fd)


def test_non_finite_embeddings_are_refused_before_a_strategy_sees_them():
    import torch

    from strategies import get_strategy
    from strategies.testing import make_pool

    s = get_strategy("coreset")
    pool = make_pool(s, budget=5)
    with torch.no_grad():
        pool.model.fc.weight.fill_(float("nan"))
        pool.model.stages[-1][-1].bn2.bias.fill_(float("nan"))   # the embedding itself turns NaN
    with pytest.raises(ValueError, match="non-finite embeddings for 48 of 48 images"):
        s.select(pool, 5)


# ----------------------------------------------------------------------- own data read right or refused
def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    from datasets.images import read_image

    a = (np.arange(64).reshape(8, 8) * 1000).astype(np.uint16)           # 0 .. 63,000
    from PIL import Image

    Image.fromarray(a).save(tmp_path / "x.png")
    got = read_image(str(tmp_path / "x.png"))
    assert got.dtype == np.uint8 and got.max() == round(63000 / 257) and got.min() == 0
    assert len(np.unique(got)) > 50                                        # not all white (clipped at 255)


@pytest.mark.parametrize("dtype,kind", [(np.float32, "floating-point"), (np.int32, "32-bit integer")])
def test_wide_images_are_refused_with_the_conversion_to_make(tmp_path, dtype, kind):
    from PIL import Image

    from bench.core.errors import DatasetCorruptError
    from datasets.images import read_image

    Image.fromarray((np.arange(64).reshape(8, 8) * 3).astype(dtype)).save(tmp_path / "x.tif")
    with pytest.raises(DatasetCorruptError, match=f"is a {kind} image: .* Convert it to 8 bits"):
        read_image(str(tmp_path / "x.tif"))


@pytest.mark.parametrize("change,message", [
    (dict(classes=np.array(["a", "b", "a"])), "class name\\(s\\) 'a' appear more than once"),
    (dict(classes=np.array(["a"]), y_train=np.zeros(20, np.int64), y_test=np.zeros(5, np.int64)),
     "1 class: active learning for classification needs at least two"),
    (dict(x_test=np.zeros((0, 8, 8), np.uint8), y_test=np.zeros(0, np.int64)), "x_test holds no images"),
    (dict(classes=np.array("ab")), "classes is an array of shape \\(\\)"),
    (dict(y_train=np.arange(20) % 2), "class\\(es\\) 'c' have no training image"),
])
def test_an_npz_that_would_be_read_wrongly_is_refused_naming_the_file(tmp_path, change, message):
    from bench.core.errors import DatasetCorruptError
    from datasets import get_dataset

    arrays = dict(x_train=np.zeros((20, 8, 8), np.uint8), y_train=np.arange(20) % 3,
                  x_test=np.zeros((5, 8, 8), np.uint8), y_test=np.arange(5) % 3, classes=np.array(["a", "b", "c"]))
    arrays.update(change)
    np.savez(tmp_path / "mine.npz", **arrays)
    with pytest.raises(DatasetCorruptError, match=message) as err:
        get_dataset(f"npz:{tmp_path / 'mine.npz'}")
    assert "mine.npz" in str(err.value)


def test_probcover_stays_within_its_edge_bound_on_any_features(tmp_path):
    """Well-separated features make every ball huge (a delta of +inf with one pseudo-label): it raised after
    the round had trained; now the radius shrinks to fit max_edges and the diagnostics say so."""
    import torch

    from strategies import get_strategy
    from strategies.probcover import ball_graph, capped_graph

    feats = torch.zeros(600, 4)
    feats[:, 0] = torch.arange(600) / 600.0                                   # points on a line
    graph, delta_sq = capped_graph(feats, float("inf"), chunk=128, max_edges=20_000)
    assert graph.nnz <= 20_000 and delta_sq < float("inf")
    with pytest.raises(ValueError, match="passes max_edges"):
        ball_graph(feats, float("inf"), 128, 20_000)
    path = tmp_path / "f.npy"
    np.save(path, feats.numpy())
    from strategies.testing import make_pool

    s = get_strategy("probcover", features=str(path), delta=10.0, max_edges=500)
    pool = make_pool(s, n=48, budget=5)
    picks = s.select(pool, 5)
    assert len(picks) == 5 and s.diagnostics_["delta_capped_from"] == 10.0 and s.diagnostics_["edges"] <= 500
