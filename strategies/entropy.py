"""Maximum entropy sampling (Shannon 1948 as an acquisition; the "Max. Entropy" curve of VaB-AL Fig. 1;
Settles, "Active Learning Literature Survey", 2009, Sec. 3.1).

Score: H[p(y|x)] = -sum_c p_c log p_c of the classifier's softmax over the unlabelled pool, computed
batched on the device from un-augmented images. Higher = more uncertain = selected first.
"""
import torch

from strategies._api import Strategy, register


def entropy_scores(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) of each row of ``probs`` (N x C); 0 log 0 = 0."""
    return -torch.special.xlogy(probs, probs).sum(dim=1)


@register("entropy")
class Entropy(Strategy):
    def score(self, pool, idx):
        return entropy_scores(pool.probs(idx).double()).cpu().numpy()
