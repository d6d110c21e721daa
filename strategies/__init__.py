"""Active-learning strategies: a registry of small classes, one file each.

    from strategies import get_strategy
    idx = get_strategy("vabal").select(pool, budget)

Add one with ``@register("name")`` on a ``Strategy`` subclass (see README, "Adding a strategy").
"""
import importlib
import pkgutil

from strategies.base import Strategy, top_k

_REGISTRY = {}
_NOT_STRATEGIES = {"__init__", "base", "testing"}


def register(name: str):
    """Class decorator: make ``cls`` available as ``get_strategy(name)``; a name can be taken once."""

    def wrap(cls):
        if name in _REGISTRY:
            raise ValueError(f"strategy name {name!r} is already registered by {_REGISTRY[name].__qualname__}")
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise TypeError(f"{cls!r} must subclass strategies.Strategy")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def list_strategies():
    return sorted(_REGISTRY)


def get_strategy(name: str, **params) -> Strategy:
    """An instance of the strategy registered as ``name``; KeyError naming the available ones otherwise,
    ValueError naming the valid parameters for a parameter its constructor does not take."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown strategy {name!r}; available: {', '.join(list_strategies())}")
    _REGISTRY[name].check_params(params)
    return _REGISTRY[name](**params)


# every module of this package is a built-in strategy (one file each); a broken one fails loudly here
for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _NOT_STRATEGIES):
    importlib.import_module(f"strategies.{_mod}")

__all__ = ["Strategy", "register", "get_strategy", "list_strategies", "top_k"]
