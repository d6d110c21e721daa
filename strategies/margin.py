"""Margin sampling (Scheffer et al., "Active Hidden Markov Models for Information Extraction", 2001).

Score: -(p_(1) - p_(2)), the negated gap between the two largest softmax probabilities, so that the
smallest margin is the highest score. A one-class problem has no second class: its margin is p_(1) and
every image scores -1 (ties, broken at random).
"""
import torch

from strategies._api import Strategy, register


def margin_scores(probs: torch.Tensor) -> torch.Tensor:
    """-(largest - second largest probability) per row of ``probs`` (N x C)."""
    if probs.shape[1] < 2:
        return -probs[:, 0]
    top2 = probs.topk(2, dim=1).values
    return -(top2[:, 0] - top2[:, 1])


@register("margin")
class Margin(Strategy):
    def score(self, pool, idx):
        return margin_scores(pool.probs(idx).double()).cpu().numpy()
