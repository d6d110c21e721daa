"""Reference tests of the baseline strategies' scores on hand-made arrays."""
import numpy as np
import pytest
import torch

from strategies.bald import bald_scores, mc_dropout_probs
from strategies.coreset import k_center_greedy
from strategies.entropy import entropy_scores
from strategies.least_confidence import least_confidence_scores
from strategies.margin import margin_scores

P = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.7, 0.2, 0.1]], dtype=torch.float64)


def test_uncertainty_scores_by_hand():
    ln = np.log
    assert np.allclose(entropy_scores(P), [0.0, ln(2), ln(3), -(0.7 * ln(0.7) + 0.2 * ln(0.2) + 0.1 * ln(0.1))])
    assert np.allclose(margin_scores(P), [-1.0, 0.0, 0.0, -0.5])
    assert np.allclose(least_confidence_scores(P), [0.0, 0.5, 2 / 3, 0.3])


def test_uncertainty_ties_and_one_class():
    one = torch.ones(4, 1, dtype=torch.float64)
    assert entropy_scores(one).abs().max() == 0 and (margin_scores(one) == -1).all()
    assert (least_confidence_scores(one) == 0).all()
    assert margin_scores(P)[1] == margin_scores(P)[2]  # a tie: top_k breaks it with the pool's rng


def test_bald_by_hand():
    # two passes, two images: image 0 the passes disagree completely, image 1 they agree
    probs = torch.tensor([[[1.0, 0.0], [0.5, 0.5]], [[0.0, 1.0], [0.5, 0.5]]], dtype=torch.float64)
    s = bald_scores(probs)
    assert np.allclose(s, [np.log(2), 0.0])
    # mixed case: mean (0.6, 0.4); passes (0.9, 0.1), (0.3, 0.7)
    probs = torch.tensor([[[0.9, 0.1]], [[0.3, 0.7]]], dtype=torch.float64)
    h = lambda p: -sum(v * np.log(v) for v in p)  # noqa: E731
    assert np.isclose(bald_scores(probs)[0], h([0.6, 0.4]) - (h([0.9, 0.1]) + h([0.3, 0.7])) / 2)
    assert bald_scores(torch.ones(5, 3, 1, dtype=torch.float64)).abs().max() == 0  # one class: no information


def test_mc_dropout_passes_differ_and_need_dropout():
    from bench.core.models import build_classifier

    x = torch.randint(0, 255, (3, 1, 8, 8), dtype=torch.uint8)
    m = build_classifier("resnet18", 4, 1, width=4, dropout=0.25).eval()
    p = mc_dropout_probs(m, x, 6)
    assert p.shape == (6, 3, 4) and torch.allclose(p.sum(2), torch.ones(6, 3))
    assert not torch.allclose(p[0], p[1]) and not m.drops[0].training
    with pytest.raises(ValueError, match="no dropout"):
        mc_dropout_probs(build_classifier("resnet18", 4, 1, width=4).eval(), x, 2)


def brute_force_k_center(x, labelled, k):
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    centres, picks = list(np.flatnonzero(labelled)), []
    for _ in range(k):
        dist = d[:, centres].min(1) if centres else np.full(len(x), np.inf)
        dist[centres] = 0
        i = int(np.argmax(dist))
        picks.append(i)
        centres.append(i)
    return picks


@pytest.mark.parametrize("seed", range(6))
def test_k_center_greedy_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n, dim = rng.integers(20, 80), rng.integers(2, 10)
    x = rng.normal(size=(n, dim))
    labelled = np.zeros(n, bool)
    labelled[rng.choice(n, rng.integers(1, 8), replace=False)] = True
    k = int(rng.integers(1, 15))
    got = k_center_greedy(torch.tensor(x), torch.tensor(labelled), k, chunk=3)
    assert got.tolist() == brute_force_k_center(x, labelled, k)


def test_k_center_greedy_empty_labelled_set():
    x = torch.tensor([[0.0], [1.0], [10.0], [4.0]])
    picks = k_center_greedy(x, torch.zeros(4, dtype=torch.bool), 3, np.random.default_rng(0))
    first = int(np.random.default_rng(0).integers(4))
    assert picks[0] == first and len(set(picks.tolist())) == 3
    assert picks.tolist() == [first] + brute_force_k_center(x.numpy(), np.eye(4, dtype=bool)[first], 2)
