"""MaxHerding (Bae, Noh & Sutherland, "Generalized Coverage for More Robust Low-Budget Active Learning",
ECCV 2024): greedy kernel herding, a smooth and radius-free relative of ProbCover.

Rule: with an RBF kernel k on L2-normalised features and m(x) = max over the labelled and already picked
points l of k(x, l) (0 with none), add the candidate c maximising the mean over the pool's points x of
max(k(x, c) - m(x), 0) (the objective's increment), then raise m to max(m, k(., c)); repeat ``budget``
times. With nothing labelled the first pick is the point of highest kernel density. Choices left open, and
ours (those of scikit-activeml's ``MaxHerding``, against which the picks are tested):
- the points x of the mean are the unlabelled candidates (a labelled point contributes 0: k(l, l) = 1 is
  already its coverage), k(a, b) = exp(-gamma |a - b|^2) with gamma = 1 / feature dims (scikit-learn's
  default), ties broken at random (``pool.rng``);
- memory: the candidates x candidates kernel, float32, and a block of ``CHUNK`` of its columns at a time (the
  gains are float64 sums, computed once, then updated where a pick raised coverage). Beyond
  ``max_points`` unlabelled images (default 5,000: 100 MB) a uniform random subset of that size
  (``pool.rng``) is both the candidates and the points of the mean, said in the round's diagnostics; the
  N x N kernel of a 45k pool would be 8 GB.
- features: the classifier's embedding by default, or a named or file feature set, as TypiClust/ProbCover.
"""
import numpy as np
import torch

from strategies._api import Strategy, random_argmax, register
from strategies._shared.feature_source import (
    EMBEDDING,
    FeatureSourced,
    load_features,
    sq_dists,
)


def rbf(a: torch.Tensor, b: torch.Tensor, gamma: float) -> torch.Tensor:
    return torch.exp(-gamma * sq_dists(a, b))


CHUNK = 1024   # kernel columns updated at a time


def covered_above(block: torch.Tensor, cover: torch.Tensor) -> torch.Tensor:
    """Per candidate (row), the sum over the points of ``block`` (kernel columns) of its kernel above their
    ``cover``: its gain from those points, float64."""
    return (block - cover).clamp_min_(0).sum(1, dtype=torch.float64)


def herding_picks(k_cand: torch.Tensor, k_max: torch.Tensor, budget: int, rng: np.random.Generator):
    """Greedy picks (positions in the candidates) from the candidates' kernel ``k_cand`` (C x C, symmetric) and
    each point's coverage so far ``k_max`` (C,); returns (picks, each pick's gain).

    Every candidate's gain (a float64 sum over the points) is computed once, then updated where a pick raised a
    point's coverage: only those points' terms change, a column block of the kernel instead of all of it (with
    RBF features the points a pick covers anew shrink like 1 / picks, so the loop costs about C^2 log(budget)
    rather than C^2 x budget)."""
    k_max = k_max.clone()
    n = len(k_cand)
    gain = torch.zeros(n, dtype=torch.float64, device=k_cand.device)
    for i in range(0, n, CHUNK):
        gain += covered_above(k_cand[:, i:i + CHUNK], k_max[i:i + CHUNK])
    chosen = torch.zeros(n, dtype=torch.bool, device=k_cand.device)
    picks, gains = [], []
    for _ in range(budget):
        pick = random_argmax(gain.masked_fill(chosen, float("-inf")), rng)
        picks.append(pick)
        gains.append(float(gain[pick]) / n)
        chosen[pick] = True
        column = k_cand[:, pick]
        raised = (column > k_max).nonzero().flatten()
        for part in raised.split(CHUNK):
            block = k_cand[:, part]   # every candidate's kernel with the points whose coverage rises
            gain -= covered_above(block, k_max[part]) - covered_above(block, column[part])
            k_max[part] = column[part]
    return np.asarray(picks, np.int64), gains


@register("maxherding")
class MaxHerding(FeatureSourced, Strategy):
    def __init__(self, features: str = EMBEDDING, normalise: bool = True, gamma: float = 0.0,
                 max_points: int = 5000):
        self.features = features      # "embedding", a named set ("simclr") or a .npy path
        self.normalise = normalise    # L2-normalise the features (authors, scikit-activeml: yes)
        self.gamma = gamma            # RBF kernel exp(-gamma |a - b|^2); 0: 1 / feature dims
        self.max_points = max_points  # candidates (and points of the mean) at most: the kernel is its square

    def select(self, pool, budget):
        k = self.check_budget(pool, budget)
        unl = pool.unlabelled
        cand = unl
        size = max(self.max_points, k)   # never fewer candidates than the budget
        if len(unl) > size:
            cand = np.sort(pool.rng.choice(unl, size, replace=False))
        source = self.source
        feats = load_features(pool, cand, source, self.normalise)
        gamma = self.gamma or 1.0 / feats.shape[1]
        k_cand = rbf(feats, feats, gamma)
        k_max = torch.zeros(len(cand), device=feats.device)
        if len(pool.labelled):
            lab = load_features(pool, pool.labelled, source, self.normalise)
            k_max = rbf(feats, lab, gamma).max(1).values
        picks, gains = herding_picks(k_cand, k_max, k, pool.rng)
        self.diagnostics_ = {"gamma": gamma, "candidates": int(len(cand)), "subsampled": bool(len(cand) < len(unl)),
                             "first_gain": gains[0] if gains else None, "last_gain": gains[-1] if gains else None}
        return cand[picks]
