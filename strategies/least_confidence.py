"""Least-confidence sampling (Lewis & Gale, "A Sequential Algorithm for Training Text Classifiers", 1994;
Culotta & McCallum 2005).

Score: 1 - max_c p(y=c|x) of the classifier's softmax over the unlabelled pool.
"""
import torch

from strategies._api import Strategy, register


def least_confidence_scores(probs: torch.Tensor) -> torch.Tensor:
    """1 - the largest probability of each row of ``probs`` (N x C)."""
    return 1.0 - probs.max(dim=1).values


@register("least_confidence")
class LeastConfidence(Strategy):
    def score(self, pool, idx):
        return least_confidence_scores(pool.probs(idx).double()).cpu().numpy()
