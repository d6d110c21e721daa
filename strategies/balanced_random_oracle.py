"""Oracle class-balanced random sampling: a reference line, NOT a method. It reads the TRUE labels of the
unlabelled pool (``pool.true_labels``), which no deployable strategy can, and draws uniformly at random
within classes so that the labelled pool moves toward equal class counts.

Why it is here: on an imbalanced dataset much of what an imbalance-aware method gains over random may be
plain class balance. This line is the accuracy of perfect balance with no informativeness at all; a
method's curve above it shows gain beyond balance (Emam et al., "Active Learning at the ImageNet Scale",
2021, keep the same diagnostic, ``BalancedRandomSampler``: "only intended as a baseline strategy as it
cheats"). It declares ``reads_true_labels``, so the loop builds its pool with the true labels open and
flags its rows; on any other pool ``true_labels`` raises ``LabelLeakError``.

Quotas: the water-filling rule of ``strategies.balanced.balancing_quotas`` (each label to the class with
the smallest labelled count + quota, ties at random from ``pool.rng``), capped by the true number of
unlabelled images of each class; within a class the images are drawn uniformly without replacement.
"""
import numpy as np

from strategies._api import Strategy, register
from strategies.balanced import balancing_quotas


def balanced_random_draw(labels, counts, budget: int, rng: np.random.Generator) -> np.ndarray:
    """Positions into ``labels`` (true classes of the unlabelled pool) drawn uniformly within classes, with
    quotas that bring ``counts`` (labelled per class) toward equal."""
    labels = np.asarray(labels, dtype=np.int64)
    k = len(counts)
    quotas = balancing_quotas(counts, np.bincount(labels, minlength=k), budget, rng)
    out = [rng.choice(np.flatnonzero(labels == c), size=q, replace=False) for c, q in enumerate(quotas) if q > 0]
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)


@register("balanced_random_oracle")
class BalancedRandomOracle(Strategy):
    select_cost_depends_on = frozenset()   # a random draw per class: no model or images

    @property
    def reads_true_labels(self) -> bool:
        return True

    def select(self, pool, budget):
        k = self.check_budget(pool, budget)
        idx = pool.unlabelled
        counts = np.bincount(pool.labelled_labels, minlength=pool.num_classes)
        picks = balanced_random_draw(pool.true_labels(idx), counts, k, pool.rng)
        self.diagnostics_ = {"reads_true_labels": True}
        return idx[picks]
