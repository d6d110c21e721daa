"""Class-balancing wrapper: any scoring strategy made class-balanced by predicted-class quotas (the idea of
small-text's ``ClassBalancer``, Schroeder et al., small-text 2.0; the imbalance motivation of Bengar et
al., "Class-Balanced Active Learning for Image Classification", WACV 2022, and Emam et al. 2021).

Rule: the unlabelled pool is split by the class the scoring model predicts (argmax of ``pool.probs``).
The budget is handed out one label at a time to the class whose labelled count plus quota so far is
smallest (water-filling toward equal labelled counts; ties drawn from ``pool.rng``), skipping a class
once its quota equals the number of unlabelled images predicted as it: what that class cannot take goes
to the next-neediest class by the same rule. Within class c the quota is filled with the highest scores
of the base strategy among the images predicted as c (``top_k``, random ties). Choices left open:
- Counts are the labelled pool's true counts (the labels every strategy may read); the quotas aim at
  equal counts, not at a fixed share per round (Bengar's (|L| + B)/K target is the same thing once the
  smallest classes are filled); small-text fills leftover places at random instead of by need.
- The scores are computed once for the whole unlabelled pool, with the base strategy's own ``score`` and
  scoring model (``scoring_model_options`` passes through: ``balanced_bald`` scores with BALD's dropout
  network, which also gives the predicted classes).

``balanced(base_cls)`` builds the wrapped class (same hyper-parameters as the base);
``register_balanced(base_cls)`` also registers it as ``balanced_<base name>``.
"""
import numpy as np

from strategies._api import Strategy, register, top_k
from strategies.bald import BALD
from strategies.entropy import Entropy
from strategies.margin import Margin


def balancing_quotas(counts, available, budget: int, rng: np.random.Generator) -> np.ndarray:
    """Per-class quotas summing to min(budget, sum(available)): each label goes to the class with the
    smallest count + quota among classes whose quota is below ``available`` (ties at random)."""
    counts = np.asarray(counts, dtype=np.int64)
    available = np.asarray(available, dtype=np.int64)
    quotas = np.zeros_like(counts)
    for _ in range(int(min(budget, available.sum()))):
        level = np.where(quotas < available, counts + quotas, np.iinfo(np.int64).max)
        ties = np.flatnonzero(level == level.min())
        quotas[ties[rng.integers(len(ties))] if len(ties) > 1 else ties[0]] += 1
    return quotas


def quota_top_k(scores, groups, quotas, rng: np.random.Generator) -> np.ndarray:
    """Positions of the ``quotas[c]`` highest ``scores`` within each group c (random ties), class by class."""
    scores, groups = np.asarray(scores, dtype=np.float64), np.asarray(groups)
    out = [np.flatnonzero(groups == c)[top_k(scores[groups == c], q, rng)] for c, q in enumerate(quotas) if q > 0]
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)


def balanced(base_cls):
    """A subclass of scoring strategy ``base_cls`` whose ``select`` fills predicted-class quotas."""
    if base_cls.score is Strategy.score:
        raise TypeError(f"{base_cls.__name__} has no score(); only scoring strategies can be balanced")

    def select(self, pool, budget):
        k = self.check_budget(pool, budget)
        idx = pool.unlabelled
        self.diagnostics_ = {}  # the base's score may fill it for this round; last round's is dropped
        scores = np.asarray(base_cls.score(self, pool, idx), dtype=np.float64)
        pred = pool.probs(idx).argmax(1).cpu().numpy()
        counts = np.bincount(pool.labelled_labels, minlength=pool.num_classes)
        quotas = balancing_quotas(counts, np.bincount(pred, minlength=pool.num_classes), k, pool.rng)
        self.diagnostics_ = {**(self.diagnostics_ or {}), "quotas": quotas.tolist()}
        return idx[quota_top_k(scores, pred, quotas, pool.rng)]

    name = f"Balanced{base_cls.__name__}"
    doc = f"{base_cls.__name__} made class-balanced by predicted-class quotas (see strategies.balanced)."
    return type(name, (base_cls,), {"select": select, "__doc__": doc, "__module__": __name__, "__qualname__": name})


def register_balanced(base_cls):
    """Register ``balanced(base_cls)`` as ``balanced_<base_cls.name>`` and return it."""
    if not base_cls.name:
        raise ValueError(f"{base_cls.__name__} is not registered; register it before balancing it")
    return register(f"balanced_{base_cls.name}")(balanced(base_cls))


BalancedEntropy = register_balanced(Entropy)
BalancedMargin = register_balanced(Margin)
BalancedBALD = register_balanced(BALD)
