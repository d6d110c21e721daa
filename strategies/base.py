"""The Strategy base class and the one selection rule every scoring strategy shares."""
import inspect

import numpy as np


def top_k(scores, k: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of the ``k`` highest scores (higher = more informative); ties broken at random by ``rng``."""
    scores = np.asarray(scores, dtype=np.float64)
    if np.isnan(scores).any():
        raise ValueError(f"{int(np.isnan(scores).sum())} scores are NaN")
    k = min(int(k), len(scores))
    return np.lexsort((rng.random(len(scores)), -scores))[:k].astype(np.int64)


class Strategy:
    """Subclass, give ``__init__`` keyword hyper-parameters stored under the same names, and implement
    either ``score(pool, idx)`` (higher = more informative; the base ``select`` takes the top ``budget``)
    or ``select(pool, budget)`` itself.

    ``classifier_options`` tells the loop how to build the classifier this strategy needs (e.g. BALD's
    dropout); the loop never looks at a strategy's name or type.  ``diagnostics_`` (a dict set by
    ``select``) is saved in the round's record.
    """

    name = ""

    @property
    def classifier_options(self) -> dict:
        return {}

    def get_params(self) -> dict:
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self"
                and sig.parameters[p].kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)}

    def score(self, pool, idx) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} implements neither score() nor select()")

    def select(self, pool, budget: int) -> np.ndarray:
        k = self.check_budget(pool, budget)
        idx = pool.unlabelled
        scores = self.score(pool, idx)
        return idx[top_k(scores, k, pool.rng)]

    @staticmethod
    def check_budget(pool, budget) -> int:
        if int(budget) <= 0:
            raise ValueError(f"budget must be > 0, got {budget}")
        return min(int(budget), len(pool.unlabelled))

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"
