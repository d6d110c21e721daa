"""BatchBALD: the first pick is BALD's top image; while the configurations are enumerated every greedy pick
maximises the exact joint mutual information (brute force); beyond, the sampled estimate still picks a batch."""
import itertools

import numpy as np
import torch

from strategies import get_strategy
from strategies.bald import bald_scores
from strategies.batchbald import batchbald_greedy
from strategies.testing import make_pool


def joint_mi(probs: np.ndarray, batch) -> float:
    """I(y_batch; w) by enumerating every label configuration: H(y_batch) - sum_i E_s H(y_i | w_s)."""
    s, _, c = probs.shape
    h = 0.0
    for ys in itertools.product(range(c), repeat=len(batch)):
        p = np.mean(np.prod([probs[:, i, y] for i, y in zip(batch, ys)], axis=0))
        h -= p * np.log(p)
    return h - conditional(probs, batch)


def conditional(probs: np.ndarray, batch) -> float:
    return float(-(probs[:, batch] * np.log(probs[:, batch])).sum(2).mean(0).sum()) if batch else 0.0


def test_the_greedy_picks_maximise_the_exact_joint_mutual_information():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([0.7, 0.7, 0.7], size=(6, 9)).astype(np.float64)   # S=6 samples, N=9 images, C=3
    picks, gains = batchbald_greedy(torch.from_numpy(probs), 3, configs=27, rng=np.random.default_rng(1))
    assert picks[0] == int(np.argmax(bald_scores(torch.from_numpy(probs)).numpy()))
    batch = []
    for p, g in zip(picks, gains):
        best = max((x for x in range(9) if x not in batch), key=lambda x: joint_mi(probs, batch + [x]))
        assert p == best
        # the gain is H(y_batch, y_p) - E_s H(y_p | w_s): the joint MI of batch + p plus the batch's conditional terms
        assert np.isclose(g, joint_mi(probs, batch + [p]) + conditional(probs, batch), atol=1e-9)
        batch.append(p)


def test_sampled_configurations_give_a_distinct_batch_and_the_strategy_runs():
    rng = np.random.default_rng(2)
    probs = torch.from_numpy(rng.dirichlet([0.5] * 4, size=(5, 40)))
    picks, _ = batchbald_greedy(probs, 8, configs=16, rng=np.random.default_rng(3))   # sampled after 2 picks
    assert len(set(picks.tolist())) == 8
    s = get_strategy("batchbald", passes=4, configs=32, max_candidates=20)
    pool = make_pool(s, n=60, labelled=12)
    idx = s.select(pool, 6)
    assert len(np.unique(idx)) == 6 and np.isin(idx, pool.unlabelled).all() and s.diagnostics_["candidates"] == 20
