"""Stochastic batch acquisition (Kirsch, Farquhar, Atighehchian, Jesson, Branchaud-Charron & Gal, "Stochastic
Batch Acquisition: A Simple Baseline for Deep Active Learning", TMLR 2023): instead of the top ``budget``
scores of a scoring strategy, a batch sampled without replacement with probabilities proportional to
``score ** (1 / temperature)`` ("power", for non-negative scores: entropy, BALD, least confidence) or to
``rank ** (-1 / temperature)`` ("softrank", rank 1 = the highest score; any score, e.g. margin's negated
gap). A nearly free fix for the redundancy of top-k batches. Sampling without replacement is done with
Gumbel-top-k (keys log p + Gumbel noise drawn from ``pool.rng``); ``temperature -> 0`` gives top-k back.
Choices left open, and ours: temperature 1 (the paper's default, as baal's ``PowerSampling``); a score of
exactly 0 under power sampling is never picked before every positive one; a negative score under power
sampling is an error naming softrank.

``stochastic(base_cls, mode)`` builds the wrapped class (the base's hyper-parameters plus ``temperature``);
``register_stochastic`` registers it as ``power_<base>`` or ``softrank_<base>``.
"""
import inspect

import numpy as np

from strategies._api import Strategy, register, top_k
from strategies.bald import BALD
from strategies.entropy import Entropy
from strategies.least_confidence import LeastConfidence
from strategies.margin import Margin

MODES = ("power", "softrank")


def log_weights(scores: np.ndarray, mode: str, temperature: float) -> np.ndarray:
    """log of the sampling weights of ``scores`` (higher score, higher weight)."""
    scores = np.asarray(scores, dtype=np.float64)
    if mode == "power":
        scores = np.where((scores < 0) & (scores > -1e-9), 0.0, scores)   # BALD's 0 up to rounding
        if (scores < 0).any():
            raise ValueError(f"power sampling needs non-negative scores; {int((scores < 0).sum())} are negative "
                             "(use softrank)")
        with np.errstate(divide="ignore"):
            return np.log(scores) / temperature
    ranks = np.empty(len(scores))
    ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
    return -np.log(ranks) / temperature


def sample_batch(scores, k: int, mode: str, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """Positions of ``k`` scores sampled without replacement with probability proportional to the weights
    (Gumbel-top-k: the k largest log-weights + independent Gumbel noise)."""
    keys = log_weights(scores, mode, temperature) + rng.gumbel(size=len(scores))
    return top_k(keys, k, rng)


def stochastic(base_cls, mode: str = "power"):
    """A subclass of scoring strategy ``base_cls`` whose ``select`` samples its batch (``mode``)."""
    if base_cls.score is Strategy.score:
        raise TypeError(f"{base_cls.__name__} has no score(); only scoring strategies can sample their batch")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    base_init = base_cls.__init__
    params = [p for p in inspect.signature(base_init).parameters.values() if p.name != "self"]

    def __init__(self, temperature: float = 1.0, **kw):
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        base_init(self, **kw)
        self.temperature = float(temperature)

    __init__.__signature__ = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
         inspect.Parameter("temperature", inspect.Parameter.KEYWORD_ONLY, default=1.0)]
        + [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params
           if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)])

    def select(self, pool, budget):
        k = self.check_budget(pool, budget)
        idx = pool.unlabelled
        self.diagnostics_ = {}
        scores = np.asarray(base_cls.score(self, pool, idx), dtype=np.float64)
        picked = sample_batch(scores, k, mode, self.temperature, pool.rng)
        self.diagnostics_ = {**(self.diagnostics_ or {}), "mode": mode,
                             "picked_score_rank_median": float(np.median(
                                 np.argsort(np.argsort(-scores))[picked] + 1)) if len(picked) else None}
        return idx[picked]

    name = f"{mode.capitalize()}{base_cls.__name__}"
    doc = f"{base_cls.__name__}'s scores, its batch sampled by {mode} (see strategies.stochastic)."
    return type(name, (base_cls,), {"__init__": __init__, "select": select, "__doc__": doc, "__module__": __name__,
                                    "__qualname__": name})


def register_stochastic(base_cls, mode: str = "power"):
    """Register ``stochastic(base_cls, mode)`` as ``<mode>_<base_cls.name>`` and return it."""
    if not base_cls.name:
        raise ValueError(f"{base_cls.__name__} is not registered; register it before wrapping it")
    return register(f"{mode}_{base_cls.name}")(stochastic(base_cls, mode))


PowerEntropy = register_stochastic(Entropy, "power")
PowerBALD = register_stochastic(BALD, "power")
PowerLeastConfidence = register_stochastic(LeastConfidence, "power")
SoftrankMargin = register_stochastic(Margin, "softrank")
