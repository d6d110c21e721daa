"""Guarantees a published number stands on: nothing is written outside --out whatever a user names, and
nothing albench writes is ever half a file."""
import os
import subprocess
import sys

import pytest

from bench.errors import ConfigError
from bench.results import atomic_write, check_label, trial_dir
from tests.conftest import ROOT, TINY

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
    code = ("import sys, os\nfrom bench.results import atomic_write\n"
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
