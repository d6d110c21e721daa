"""MC-Dropout with BALD (Gal, Islam & Ghahramani, "Deep Bayesian Active Learning with Image Data", ICML
2017; Houlsby et al., "Bayesian Active Learning for Classification and Preference Learning", 2011), as
VaB-AL Sec. 4.2 runs it: dropout (rate 0.25) before each of the four residual blocks, the classifier
trained with that dropout, 100 stochastic forward passes, score = H[mean_t p_t] - mean_t H[p_t].

The dropout network is this strategy's scoring model, asked for through ``scoring_model_options``: the
loop trains it beside the evaluation classifier (same seed, same recipe plus dropout), and the accuracy
curve is the evaluation classifier's, as for every other strategy. ``evaluate="dropout_network"`` keeps
the reading of the paper in which MC-Dropout's curve is the dropout network's own accuracy (the
classifier "trained with that dropout", Sec. 4.2); then no separate evaluation classifier is trained.
The passes run batched on the device: the stem (before the first dropout) is computed once per image,
a chunk's dropout masks are drawn at once (exactly as one forward call over passes x images rows would
draw them), and the rows then go through the network a device-sized batch at a time (``pool.batch_size``:
a CPU's caches favour 256 rows over thousands); BatchNorm stays in eval mode, only dropout samples.
Choice left open: element-wise dropout (``nn.Dropout``) on the feature maps, as Gal's Keras code.
"""
import torch

from bench.core.device import autocast, resolve_precision, seeded
from strategies._api import Strategy, register


def bald_scores(probs: torch.Tensor) -> torch.Tensor:
    """Mutual information between prediction and weights from T x N x C MC-dropout probabilities."""
    mean = probs.mean(0)
    entropy_of_mean = -torch.special.xlogy(mean, mean).sum(1)
    mean_entropy = -torch.special.xlogy(probs, probs).sum(2).mean(0)
    return entropy_of_mean - mean_entropy


class ChunkDropout:
    """The four stages' dropout masks for a chunk of ``rows`` MC-Dropout rows, drawn at once before any row
    runs, in stage order, so that a chunk's scores do not depend on how its rows are split into forward
    passes. ``slice(a, b)`` gives, per stage, the function applying rows a..b's masks to the stage input.

    ``exact``: drawn as ``nn.Dropout`` draws them in one forward call over all rows (``bernoulli_(1 - rate)``
    on an fp32 tensor of the stage input's shape, divided by ``1 - rate``): the same masks as the one-call
    computation of the fp32 recipe every recorded trial ran (its scores agree to float rounding; bit for bit
    where the convolutions pick the same kernels for the batch). Otherwise (the bf16 recipe) from raw
    random bits, about eight times cheaper on a CPU (one 64-bit draw gives four 16-bit uniforms, kept as they
    are until their rows run): a unit is kept where its uniform is at or above ``rate`` quantised to 1/65536
    (exact for the paper's 0.25) and scaled by the quantised keep probability."""

    def __init__(self, model, h: torch.Tensor, rows: int, rate: float, exact: bool = True):
        with torch.no_grad():   # the stage inputs' shapes, from one row
            shapes = [h.shape[1:]] + [f.shape[1:] for f in model.head(h[:1].float()).features[:-1]]
        self.exact, self.rate, self.cut = exact, rate, round(rate * 65536)
        self.draws = []
        for c, hh, ww in shapes:
            if exact:
                self.draws.append(torch.empty((rows, c, hh, ww), device=h.device).bernoulli_(1 - rate).div_(1 - rate))
            else:   # uniforms laid out channels_last, as the bf16 stage inputs are
                n_words = (rows * c * hh * ww + 3) // 4
                bits = torch.empty(n_words, dtype=torch.int64, device=h.device).random_(-2 ** 63, None)
                self.draws.append(bits.view(torch.int16)[:rows * c * hh * ww].view(rows, hh, ww, c).permute(0, 3, 1, 2))

    def slice(self, a: int, b: int) -> list:
        if self.exact:
            return [lambda h, m=m[a:b]: h * m for m in self.draws]
        scale = 65536 / (65536 - self.cut)
        return [lambda h, u=u[a:b]: torch.where(u >= self.cut - 32768, h * scale, 0) for u in self.draws]


@torch.no_grad()
def mc_dropout_probs(model, x: torch.Tensor, passes: int, precision: str = None,
                     rows_per_pass: int = 0) -> torch.Tensor:
    """T x N x C softmax outputs of ``passes`` dropout samples for uint8 images ``x`` (one chunk), in
    ``precision`` (None: bf16 on CUDA, fp32 elsewhere). The stem runs once per image; the passes x images
    rows (pass-major) go through the rest of the network ``rows_per_pass`` at a time (0: all in one call),
    each row with its own masks (``ChunkDropout``: exact in fp32, from raw bits in bf16)."""
    drops = [d for d in model.drops if isinstance(d, torch.nn.Dropout)]
    if len(drops) != len(model.drops) or len({d.p for d in drops}) != 1:
        raise ValueError("the classifier has no dropout layers (one rate before each of its stages is needed); "
                         "build it with dropout > 0 (scoring_model_options)")
    n, rows = len(x), passes * len(x)
    with autocast(x.device, precision):
        h = model.stem_forward(x)
    masks = ChunkDropout(model, h, rows, drops[0].p, exact=resolve_precision(precision, x.device) == "fp32")
    step, logits = rows_per_pass or rows, []
    for a in range(0, rows, step):
        b = min(a + step, rows)
        with autocast(x.device, precision):
            logits.append(model.head(h[torch.arange(a, b, device=x.device) % n], masks.slice(a, b)).logits.float())
    return torch.softmax(torch.cat(logits), dim=1).view(passes, n, -1)


@register("bald")
class BALD(Strategy):
    select_cost_depends_on = frozenset({"classifier", "images"})   # passes of the network; K: its head only

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

    def for_planning(self):
        """At most 4 passes, scaled by passes / 4 (a pass is a forward of the network past the stem)."""
        passes = min(self.passes, 4)
        return type(self)(**dict(self.get_params(), passes=passes)), self.passes / passes

    def score(self, pool, idx):
        step = max(1, self.rows_per_batch // self.passes)
        out = []
        with seeded(pool.torch_seed(), pool.device):
            for i in range(0, len(idx), step):
                probs = mc_dropout_probs(pool.model, pool.images(idx[i:i + step]), self.passes, pool.precision,
                                         pool.batch_size)
                out.append(bald_scores(probs.double()))
        return torch.cat(out).cpu().numpy()
