"""Active-learning strategies: a registry of small classes, one file each.

    from strategies import get_strategy
    idx = get_strategy("vabal").select(pool, budget)

Add one with ``@register("name")`` on a ``Strategy`` subclass (see docs/adding-a-strategy.md).
"""
import importlib
import pkgutil

from strategies._api import Strategy, get_strategy, list_strategies, register, top_k

# every module of this package is a built-in strategy (one file each; helpers and the API start with "_",
# the kit is ``testing``); a broken one fails loudly here
for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)
                   if not m.name.startswith("_") and m.name != "testing"):
    importlib.import_module(f"strategies.{_mod}")

__all__ = ["Strategy", "register", "get_strategy", "list_strategies", "top_k"]
