"""TAILOR: the authors' diversity reward, the end-of-batch posterior update, the Thompson merge of the arms'
batches, a two-arm toy where the arm that finds the rare class wins the pulls, and a resumed trial that goes on
as an uninterrupted one (its posterior is saved with every round)."""
import json
import os
import shutil

import numpy as np
import pytest

from strategies import get_strategy
from strategies.tailor import class_reward, thompson_merge, update
from strategies.testing import check_strategy, make_pool
from tests.helpers import TINY, run_cli


def test_reward_is_the_inverse_count_negated_for_a_majority_class():
    assert np.allclose(class_reward([8, 1, 0]), [-1 / 8, 1.0, 1.0])   # class 0 holds 8/9 > 1/2 of the labels
    assert np.allclose(class_reward([2, 2, 4]), [0.5, 0.5, 0.25])     # exactly half is not a majority


def test_update_decays_then_adds_each_arms_class_counts():
    alpha = np.ones((2, 2))
    out = update(alpha, arms=[0, 0, 1], classes=[1, 1, 0], decay=0.9)
    assert np.allclose(out, [[0.9, 2.9], [1.9, 0.9]])


def test_merge_takes_each_arms_next_untaken_image_and_fills_the_budget():
    batches = [np.array([5, 6, 7, 8]), np.array([6, 9, 5, 10])]
    # arm 0 certain to find class 1 (the rewarded class): always pulled while it has images
    alpha = np.array([[0.0, 1e6], [1e6, 0.0]])
    picks, arms = thompson_merge(batches, alpha, np.array([0.0, 1.0]), 4, np.random.default_rng(0))
    assert picks.tolist() == [5, 6, 7, 8] and arms.tolist() == [0, 0, 0, 0]
    alpha = alpha[::-1].copy()   # now arm 1: its images in order, skipping those arm 0 would not matter
    picks, arms = thompson_merge(batches, alpha, np.array([0.0, 1.0]), 4, np.random.default_rng(0))
    assert picks.tolist() == [6, 9, 5, 10] and arms.tolist() == [1, 1, 1, 1]
    # an arm whose next image was taken by the other moves on to its next one; no image twice
    picks, arms = thompson_merge(batches, np.ones((2, 2)), np.array([1.0, 1.0]), 4, np.random.default_rng(3))
    assert len(set(picks.tolist())) == 4 and set(picks.tolist()) <= {5, 6, 7, 8, 9, 10}


def test_two_arm_toy_the_arm_that_finds_the_rare_class_wins_the_pulls():
    """Arm 0's picks are always of the rare class 1, arm 1's of the majority class 0: after a few rounds of
    end-of-batch updates the Thompson draws pull arm 0 for nearly the whole batch (and once class 1 held the
    majority, the negated reward would turn the pulls back to arm 1: the objective is diversity)."""
    rng = np.random.default_rng(0)
    alpha, counts = np.ones((2, 2)), np.array([2000, 10])
    share = []
    for _ in range(6):
        reward = class_reward(counts)
        batches = [np.arange(0, 50), np.arange(100, 150)]
        picks, arms = thompson_merge(batches, alpha, reward, 50, rng)
        classes = np.where(arms == 0, 1, 0)
        alpha = update(alpha, arms, classes, 0.9)
        counts = counts + np.bincount(classes, minlength=2)
        share.append(float((arms == 0).mean()))
    assert share[-1] > 0.9 and share[-1] > share[0]
    counts = np.array([10, 2000])   # class 1 now the majority: the same posterior, the other arm
    picks, arms = thompson_merge(batches, alpha, class_reward(counts), 50, rng)
    assert (arms == 1).mean() > 0.9


def test_contract_and_refusals():
    assert check_strategy(get_strategy("tailor").__class__, candidates="least_confidence,margin")
    for bad, why in (("margin", "2 or more"), ("margin,margin", "2 or more"), ("margin,galaxy", "buy labels"),
                     ("margin,tailor", "itself"), ("margin,nope", "unknown strategy"),
                     ("margin,bald", "model of their own"), ("margin,balanced_random_oracle", "true labels")):
        with pytest.raises(ValueError, match=why):
            get_strategy("tailor", candidates=bad)


def test_diagnostics_name_the_arms_and_their_pulls():
    s = get_strategy("tailor", candidates="least_confidence,margin,random")
    pool = make_pool(s, n=60, labelled=15)
    idx = s.select(pool, 9)
    d = s.diagnostics_
    assert d["arms"] == ["least_confidence", "margin", "random"] and sum(d["pulls"]) == 9
    assert len(d["arm_of_pick"]) == 9 and d["updated_with"] == 0
    assert s.state_dict()["pending"] == [[int(i), a] for i, a in zip(idx, d["arm_of_pick"])]


def test_a_resumed_trial_goes_on_as_an_uninterrupted_one(tmp_path):
    args = ["run", "--strategy", "tailor", "--no-progress", *[a for a in TINY if not a.startswith("rounds=")],
            "rounds=3"]
    ref, out = str(tmp_path / "ref"), str(tmp_path / "cut")
    assert run_cli(*args, "--out", ref).returncode == 0
    shutil.copytree(ref, out)                     # the same trial, then cut
    path = os.path.join(out, "digits", "tailor", "seed0")
    for name in ("rounds.csv", "rounds.jsonl"):   # as if stopped after round 1
        lines = open(os.path.join(path, name)).readlines()
        open(os.path.join(path, name), "w").writelines(lines[:3] if name == "rounds.csv" else lines[:2])
    r = run_cli(*args, "--out", out)
    assert r.returncode == 0, r.stderr
    ja, jb = ([json.loads(x) for x in open(os.path.join(d, "digits", "tailor", "seed0", "rounds.jsonl"))]
              for d in (ref, out))
    assert [x["selected"] for x in ja] == [x["selected"] for x in jb]
    # round 2's posterior was built from the saved one (rounds 0-1), not from a fresh prior
    assert ja[2]["diagnostics"]["posterior_mean"] == jb[2]["diagnostics"]["posterior_mean"]
    assert ja[2]["diagnostics"]["updated_with"] == 10 and "strategy_state" in ja[1]
