"""CoreSet (Sener & Savarese, "Active Learning for Convolutional Neural Networks: A Core-Set Approach",
ICLR 2018): the k-center greedy approximation on the classifier's embedding, as VaB-AL Sec. 4.2 runs it.

Choices the papers leave open, and ours:
- features: the penultimate embedding (pooled output of the last residual block); ``layer=1..4`` takes
  the globally pooled output of another residual block instead.
- distance: Euclidean (the greedy picks are the same for squared distances).
- initial centres: the labelled pool; with an empty labelled pool the first centre is drawn at random
  with the pool's Generator.
- ties in the farthest-point step go to the lowest position (deterministic).
- no robust (outlier-budget MIP) stage: Sener & Savarese's main results and google's kCenterGreedy use the
  greedy step alone.
Memory: the min-distance vector is updated one centre at a time, and the initial distances to the
labelled centres in chunks of at most ``chunk`` centres: never a pool x pool matrix.
"""
import numpy as np
import torch

from strategies import register
from strategies.base import Strategy


@torch.no_grad()
def k_center_greedy(feats: torch.Tensor, labelled_mask: torch.Tensor, k: int, rng=None, chunk: int = 256):
    """Positions (int64 numpy) of ``k`` points chosen greedily to minimise the largest distance from any
    point to its nearest centre; the ``labelled_mask`` points are the initial centres."""
    n = len(feats)
    feats = feats.float()
    min_dist = torch.full((n,), float("inf"), device=feats.device)
    centres = torch.nonzero(labelled_mask).flatten()
    for i in range(0, len(centres), chunk):
        min_dist = torch.minimum(min_dist, torch.cdist(feats, feats[centres[i:i + chunk]]).min(dim=1).values)
    min_dist[labelled_mask] = 0
    picks = torch.empty(k, dtype=torch.long, device=feats.device)
    for j in range(k):
        if j == 0 and len(centres) == 0:
            rng = rng if rng is not None else np.random.default_rng(0)
            idx = torch.as_tensor(int(rng.integers(n)), device=feats.device)
        else:
            idx = torch.argmax(min_dist)
        picks[j] = idx
        min_dist = torch.minimum(min_dist, (feats - feats[idx]).pow(2).sum(1).sqrt())
        min_dist[idx] = 0
    return picks.cpu().numpy().astype(np.int64)


@register("coreset")
class CoreSet(Strategy):
    def __init__(self, layer: str = "embedding", chunk: int = 256):
        self.layer = layer    # "embedding", or 1..4 for a residual block's pooled output
        self.chunk = chunk    # labelled centres per distance chunk (memory: pool x chunk floats)

    def select(self, pool, budget):
        k = self.check_budget(pool, budget)
        everything = np.concatenate([pool.labelled, pool.unlabelled])
        if self.layer == "embedding":
            feats = pool.embeddings(everything)
        else:
            feats = pool.pooled_features(everything)[int(self.layer) - 1]
        mask = torch.zeros(len(everything), dtype=torch.bool, device=feats.device)
        mask[:len(pool.labelled)] = True
        picks = k_center_greedy(feats, mask, k, pool.rng, self.chunk)
        return everything[picks]
