"""The strategy API: the ``Strategy`` base class, the one selection rule every scoring strategy shares (``top_k``)
and the registry (``register``, ``get_strategy``, ``list_strategies``). Imports nothing of albench but
``bench.core``."""
import functools
import inspect

import numpy as np

from bench.core.errors import ConfigError, UnknownNameError


def top_k(scores, k: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of the ``k`` highest scores (higher = more informative); ties broken at random by ``rng``."""
    scores = np.asarray(scores, dtype=np.float64)
    if np.isnan(scores).any():
        raise ValueError(f"{int(np.isnan(scores).sum())} scores are NaN")
    k = min(int(k), len(scores))
    return np.lexsort((rng.random(len(scores)), -scores))[:k].astype(np.int64)


def random_argmax(values, rng: np.random.Generator) -> int:
    """Position of the largest of ``values`` (a torch tensor); several equal: one drawn by ``rng``. The pick of
    every greedy batch (MaxHerding, SIMILAR, BatchBALD)."""
    ties = (values == values.max()).nonzero().flatten().cpu().numpy()
    return int(ties[rng.integers(len(ties))]) if len(ties) > 1 else int(ties[0])


def _guarded(select):
    """``select`` with the degenerate pools handled once for every strategy: an empty unlabelled set selects
    nothing (after the budget check), and a strategy that ``needs_labelled`` refuses an empty labelled set
    with a message saying so, instead of an internal error deep in its arithmetic."""
    @functools.wraps(select)
    def guarded(self, pool, budget):
        if len(pool.unlabelled) == 0:
            self.check_budget(pool, budget)
            self.diagnostics_ = {"nothing_to_select": True}
            return np.zeros(0, np.int64)
        if self.needs_labelled and len(pool.labelled) == 0:
            raise ValueError(f"{type(self).__name__} learns from the labelled images and none is labelled yet: "
                             "start from an initial labelled pool (initial > 0)")
        return select(self, pool, budget)

    guarded.guarded = True
    return guarded


class Strategy:
    """Subclass, give ``__init__`` keyword hyper-parameters stored under the same names, and implement
    either ``score(pool, idx)`` (higher = more informative; the base ``select`` takes the top ``budget``)
    or ``select(pool, budget)`` itself. Every ``select`` is guarded (``_guarded``): with no unlabelled image
    left it returns an empty selection; a strategy with ``needs_labelled`` refuses an empty labelled pool.

    Accuracy curves always come from one evaluation classifier, trained the same way for every strategy
    under a seed (the paper: "we train the networks with the same random seed").  A strategy that scores
    with a differently trained model (BALD's dropout network) asks for it with ``scoring_model_options``
    (keyword arguments of ``bench.core.models.build_classifier``, e.g. ``{"dropout": 0.25}``): the loop trains
    it with the round's seed through the same code path and hands it over as ``pool.model``, while
    ``pool.classifier`` stays the evaluated one.  ``evaluate_scoring_model = True`` evaluates the scoring
    model itself instead (one reading of the paper, for BALD).  The loop never looks at a strategy's name
    or type.  ``diagnostics_`` (a dict set by ``select``) is saved in the round's record, as is
    ``state_dict()`` (a strategy's memory across rounds, given back by ``load_state_dict`` on resume), and
    ``provenance()`` (e.g. the hash of a feature file the strategy reads) in the trial's identity.
    """

    name = ""
    needs_labelled = False   # True for a strategy that learns from the labelled images (VAAL, VaB-AL)
    buys_labels = False      # True for a strategy that reveals labels inside its own batch (GALAXY, DIRECT)
    # what its select time depends on besides the pool's size, so a plan times it once per distinct value:
    # "classifier" (arch, width: it runs the classifier), "images" (their shape), "classes" (their number)
    select_cost_depends_on = frozenset({"classifier", "images", "classes"})
    # said under its speed in a plan where the plan's linear model of select time is known to miss (else "")
    planning_note = ""

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        own = cls.__dict__.get("select")
        if own is not None and not getattr(own, "guarded", False):
            cls.select = _guarded(own)

    @property
    def scoring_model_options(self) -> dict:
        return {}

    @property
    def classifier_options(self) -> dict:
        """Earlier name of ``scoring_model_options``, kept so callers written against it still work."""
        return self.scoring_model_options

    @property
    def evaluate_scoring_model(self) -> bool:
        return False

    @property
    def reads_true_labels(self) -> bool:
        """True only for reference lines that cheat (``pool.true_labels``); their rows are flagged."""
        return False

    def state_dict(self) -> dict:
        """What this strategy carries from one round to the next (a bandit's posteriors, ...), JSON-safe: the
        loop saves it with every round's record and gives it back through ``load_state_dict`` when a trial
        resumes, so a resumed trial goes on as an uninterrupted one; {} for a strategy without memory."""
        return {}

    def load_state_dict(self, state: dict):
        """Take back what ``state_dict`` returned after the last recorded round."""

    def provenance(self) -> dict:
        """Inputs besides the pool that change this strategy's picks (file hashes, ...); {} for most."""
        return {}

    def for_planning(self):
        """(a copy of this strategy cheap enough for ``albench paper --plan`` to time, the factor by which its
        select time is multiplied): (self, 1.0) for most. A strategy whose cost grows in proportion to a
        parameter (its own training epochs, passes, network width) returns a copy at a small value and the
        ratio, so a plan times seconds instead of minutes; the plan says the figure is scaled."""
        return self, 1.0

    def planning_extra(self, budget: int, num_classes: int):
        """The part of a select whose time neither the pool's size nor ``for_planning``'s copy sets (BatchBALD's
        greedy search over its capped candidates): a function of no arguments that measures it here and returns
        its seconds per select at ``budget`` picks among ``num_classes`` classes, which a plan adds to every
        select; None for most."""
        return None

    def check_data(self, dataset) -> None:
        """Raise ValueError, before any training, if this strategy cannot run on ``dataset`` (a feature file
        with too few rows, ...); nothing for most."""

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

    @classmethod
    def check_params(cls, params: dict):
        """ConfigError (a ValueError) naming the valid parameters if ``params`` has a key ``__init__`` does not take."""
        sig = inspect.signature(cls.__init__)
        if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
            return
        valid = [p for p in sig.parameters if p != "self"]
        bad = sorted(set(params) - set(valid))
        if bad:
            raise ConfigError(f"strategy {cls.name or cls.__name__!r} has no parameter {', '.join(map(repr, bad))}; "
                             f"its parameters are: {', '.join(valid) or '(none)'}")

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"


Strategy.select = _guarded(Strategy.select)


_REGISTRY = {}


def register(name: str):
    """Class decorator: make ``cls`` available as ``get_strategy(name)``; a name can be taken once."""

    def wrap(cls):
        if name in _REGISTRY:
            raise ConfigError(f"strategy name {name!r} is already registered by {_REGISTRY[name].__qualname__}")
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise TypeError(f"{cls!r} must subclass strategies.Strategy")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def list_strategies():
    return sorted(_REGISTRY)


def get_strategy(name: str, **params) -> Strategy:
    """An instance of the strategy registered as ``name``; ``UnknownNameError`` (a ``KeyError`` and a
    ``ConfigError``) naming the available ones otherwise, ``ConfigError`` (a ``ValueError``) naming the valid
    parameters for a parameter its constructor does not take."""
    if name not in _REGISTRY:
        raise UnknownNameError(f"unknown strategy {name!r}; available: {', '.join(list_strategies())}")
    _REGISTRY[name].check_params(params)
    return _REGISTRY[name](**params)
