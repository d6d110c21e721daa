"""The committed CPU reproduction under the code of today: a finished trial copied out of ``results/paper-cpu``
resumes to nothing (its identity matches the one the loop computes now, so no round is trained again) and
still verifies."""
import os
import shutil
from dataclasses import replace

import pytest

from bench.paper.manifest import load_profile
from bench.paper.status import selected_artifacts, trials_of
from bench.trial import loop, verify
from bench.trial.store import trial_dir
from tests.helpers import REAL_DATA, ROOT

COMMITTED = os.path.join(ROOT, "results", "paper-cpu")


@pytest.mark.parametrize("strategy", ["random", "vabal"])
def test_a_committed_trial_resumes_without_training(tmp_path, monkeypatch, strategy):
    if not os.path.exists(os.path.join(COMMITTED, "profile.json")):
        pytest.skip("the committed CPU reproduction is not in this checkout")
    if not os.path.exists(os.path.join(REAL_DATA, "cifar10.npz")):
        pytest.skip("CIFAR-10 is not unpacked here (ALBENCH_DATA)")
    trials = trials_of(selected_artifacts(load_profile("cpu"), default_core=True), COMMITTED,
                       {"data_root": REAL_DATA})
    t = next(t for t in trials.values() if t.strategy == strategy and t.seed == 0 and t.group == "main")
    src = trial_dir(t.cfg.out, t.cfg.dataset, t.strategy, t.seed)
    out = str(tmp_path / "main")
    dst = trial_dir(out, t.cfg.dataset, t.strategy, t.seed)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".lock"))

    def no_training(*args, **kw):
        raise AssertionError("a finished committed trial was trained again")

    monkeypatch.setattr(loop, "train_classifier", no_training)
    rows = loop.run_trial(replace(t.cfg, out=out), t.strategy, t.seed, progress=False)
    assert len(rows) == t.cfg.rounds + 1
    with open(os.path.join(src, "rounds.csv")) as a, open(os.path.join(dst, "rounds.csv")) as b:
        assert a.read() == b.read()   # nothing rewritten
    assert verify.main([dst], quiet=True) == 0
