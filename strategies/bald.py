"""MC-Dropout with BALD (Gal, Islam & Ghahramani, "Deep Bayesian Active Learning with Image Data", ICML
2017; Houlsby et al., "Bayesian Active Learning for Classification and Preference Learning", 2011), as
VaB-AL Sec. 4.2 runs it: dropout (rate 0.25) before each of the four residual blocks, the classifier
trained with that dropout, 100 stochastic forward passes, score = H[mean_t p_t] - mean_t H[p_t].

The dropout network is this strategy's scoring model, asked for through ``scoring_model_options``: the
loop trains it beside the evaluation classifier (same seed, same recipe plus dropout), and the accuracy
curve is the evaluation classifier's, as for every other strategy. ``evaluate="dropout_network"`` keeps
the reading of the paper in which MC-Dropout's curve is the dropout network's own accuracy (the
classifier "trained with that dropout", Sec. 4.2); then no separate evaluation classifier is trained.
The passes run batched on the device: the stem (before the first dropout) is computed once per image
and repeated ``passes`` times along the batch; BatchNorm stays in eval mode, only dropout samples.
Choice left open: element-wise dropout (``nn.Dropout``) on the feature maps, as Gal's Keras code.
"""
import torch

from bench.train import autocast, seeded
from strategies import register
from strategies.base import Strategy


def bald_scores(probs: torch.Tensor) -> torch.Tensor:
    """Mutual information between prediction and weights from T x N x C MC-dropout probabilities."""
    mean = probs.mean(0)
    entropy_of_mean = -torch.special.xlogy(mean, mean).sum(1)
    mean_entropy = -torch.special.xlogy(probs, probs).sum(2).mean(0)
    return entropy_of_mean - mean_entropy


@torch.no_grad()
def mc_dropout_probs(model, x: torch.Tensor, passes: int) -> torch.Tensor:
    """T x N x C softmax outputs of ``passes`` dropout samples for uint8 images ``x`` (one batch)."""
    drops = [d for d in model.drops if isinstance(d, torch.nn.Dropout)]
    if not drops:
        raise ValueError("the classifier has no dropout layers; build it with dropout > 0 (scoring_model_options)")
    try:
        for d in drops:
            d.train()
        with autocast(x.device):
            h = model.stem_forward(x)
            h = h.unsqueeze(0).expand(passes, *h.shape).reshape(passes * len(x), *h.shape[1:])
            logits = model.head(h).logits.float()
    finally:
        for d in drops:
            d.eval()
    return torch.softmax(logits, dim=1).view(passes, len(x), -1)


@register("bald")
class BALD(Strategy):
    def __init__(self, dropout: float = 0.25, passes: int = 100, rows_per_batch: int = 8192,
                 evaluate: str = "classifier"):
        if evaluate not in ("classifier", "dropout_network"):
            raise ValueError(f"evaluate must be 'classifier' or 'dropout_network', got {evaluate!r}")
        self.dropout = dropout                # rate before each residual block (paper: 0.25)
        self.passes = passes                  # stochastic forward passes (paper: 100)
        self.rows_per_batch = rows_per_batch  # images x passes per forward call (memory / speed)
        self.evaluate = evaluate              # whose accuracy the curve shows (see the module docstring)

    @property
    def scoring_model_options(self):
        return {"dropout": self.dropout}

    @property
    def evaluate_scoring_model(self):
        return self.evaluate == "dropout_network"

    def score(self, pool, idx):
        step = max(1, self.rows_per_batch // self.passes)
        out = []
        with seeded(pool.torch_seed(), pool.device):
            for i in range(0, len(idx), step):
                probs = mc_dropout_probs(pool.model, pool.images(idx[i:i + step]), self.passes)
                out.append(bald_scores(probs.double()))
        return torch.cat(out).cpu().numpy()
