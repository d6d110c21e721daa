"""The fair protocol: one evaluation classifier for every strategy, a validation split strategies cannot read."""
import dataclasses

import numpy as np
import pytest
import torch

from bench.core.config import load_config
from bench.core.models import build_classifier
from bench.core.pool import LabelLeakError, Pool
from bench.trial.loop import run_trial
from datasets.splits import validation_split
from strategies import list_strategies
from tests.helpers import FAST, TINY


@pytest.fixture(scope="module")
def round0(tmp_path_factory):
    """Round-0 (and round-1) rows of a one-round trial per registered strategy, seed 0, digits."""
    out = str(tmp_path_factory.mktemp("fair"))
    cfg = load_config("digits", [t for t in TINY if not t.startswith("rounds")] + ["rounds=1"], out=out,
                      device="cpu", strategy_params=FAST)
    return {s: run_trial(cfg, s, 0, progress=False) for s in list_strategies()}, cfg


def test_every_strategy_reports_the_same_round0_accuracy(round0):
    rows, _ = round0
    acc = {s: (r[0]["accuracy"], r[0]["balanced_accuracy"]) for s, r in rows.items()}
    assert len(set(acc.values())) == 1, acc
    # BALD's dropout network is trained separately and timed in its own column
    assert rows["bald"][0]["scoring_train_seconds"] > 0 and np.isnan(rows["random"][0]["scoring_train_seconds"])


def test_bald_can_still_evaluate_its_dropout_network(round0):
    rows, cfg = round0
    paper = run_trial(dataclasses.replace(cfg, strategy_params={"bald_dn": {"strategy": "bald", "passes": 4,
                                                                            "evaluate": "dropout_network"}}),
                      "bald_dn", 0, progress=False)
    assert paper[0]["accuracy"] != rows["random"][0]["accuracy"]   # the dropout network, not the classifier
    assert paper[-1]["scoring_train_seconds"] == 0.0 and paper[-1]["train_seconds"] > 0   # still trained last


class CountingBar:
    """Stands in for tqdm: remembers the total it was promised and the training images it was told about."""
    bars = []

    def __init__(self, total, initial=0, **_):
        self.total, self.n, self.promised = total, initial, total
        CountingBar.bars.append(self)

    def update(self, k=1):
        self.n += k

    def set_postfix(self, **_):
        pass

    def set_postfix_str(self, *_):
        pass

    def close(self):
        pass


def test_no_scoring_model_is_trained_where_no_selection_follows(round0, monkeypatch, tmp_path):
    rows, cfg = round0
    # the last round selects nothing, so BALD's dropout network is not trained there (nor timed)
    assert rows["bald"][0]["scoring_train_seconds"] > 0 and np.isnan(rows["bald"][-1]["scoring_train_seconds"])
    assert np.isnan(rows["bald"][-1]["select_seconds"])
    # and the progress bar first promises exactly the training images of the epochs that are trained (each
    # round's evaluation and selection are added to it as they happen: bench.trial.progress), and ends full
    monkeypatch.setattr("bench.trial.progress.tqdm", CountingBar)
    CountingBar.bars.clear()
    run_trial(dataclasses.replace(cfg, out=str(tmp_path)), "bald", 0, progress=True)
    (bar,) = CountingBar.bars
    sizes = [cfg.initial + r * cfg.budget for r in range(cfg.rounds + 1)]
    assert bar.promised == cfg.epochs * (2 * sum(sizes[:-1]) + sizes[-1])
    assert bar.n == pytest.approx(bar.total) and bar.total >= bar.promised


def test_validation_split_golden_counts():
    y = np.repeat(np.arange(4), [100, 55, 9, 1])
    val = validation_split(y, 0.1, seed=0)
    assert np.bincount(y[val], minlength=4).tolist() == [10, 6, 1, 1]   # ceil(0.1 * n_c) per class
    assert (val == validation_split(y, 0.1, seed=0)).all() and not (val == validation_split(y, 0.1, seed=1)).all()
    assert len(validation_split(y, 0.0, seed=0)) == 0


def test_strategies_cannot_read_or_select_validation_labels():
    x = torch.zeros((20, 1, 8, 8), dtype=torch.uint8)
    y = np.arange(20) % 2
    model = build_classifier("resnet18", 2, 1, width=4).eval()
    pool = Pool(x, y, [0, 1], model, 2, np.random.default_rng(0), "cpu", held_out=[2, 3], budget=5)
    assert 2 not in pool.unlabelled and 3 not in pool.unlabelled and len(pool.unlabelled) == 16
    for read in (pool.labels, pool.reveal, pool.true_labels):
        with pytest.raises(LabelLeakError):
            read([2])


def test_validation_rows_and_disjoint_pools(tmp_path):
    cfg = load_config("digits", TINY + ["validation=0.1"], out=str(tmp_path), device="cpu")
    rows = run_trial(cfg, "entropy", 0, progress=False)
    assert all(0 <= r["val_accuracy"] <= 1 for r in rows)
    import json
    import os
    recs = [json.loads(line) for line in open(os.path.join(str(tmp_path), "digits", "entropy", "seed0",
                                                           "rounds.jsonl"))]
    val = set(recs[0]["validation"])
    labelled = set(recs[0]["initial"]).union(*[r["selected"] for r in recs])
    assert len(val) == 149 and not val & labelled   # sum of ceil(10 % of 142, 145, 141, ...) over the 10 classes
