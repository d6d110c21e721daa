"""``from bench.pool import Pool``: the documented import of the pool a strategy sees (``bench.core.pool``)."""
from bench.core.pool import BudgetExceededError, LabelLeakError, Pool

__all__ = ["Pool", "LabelLeakError", "BudgetExceededError"]
