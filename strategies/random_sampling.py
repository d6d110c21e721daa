"""Uniform random sampling: the baseline every active-learning paper reports (VaB-AL Sec. 4.2)."""
from strategies._api import Strategy, register


@register("random")
class RandomSampling(Strategy):
    """Select ``budget`` unlabelled images uniformly at random with the pool's seeded Generator."""
    select_cost_depends_on = frozenset()   # a random draw: no model, images or classes

    def select(self, pool, budget):
        k = self.check_budget(pool, budget)
        return pool.rng.choice(pool.unlabelled, size=k, replace=False).astype("int64")
