"""The strategy registry and the contract kit, parametrised over every registered strategy."""
import numpy as np
import pytest

import strategies
from strategies import Strategy, get_strategy, list_strategies, register, top_k
from strategies.testing import check_strategy
from tests.helpers import FAST


@pytest.mark.parametrize("name", list_strategies())
def test_contract(name):
    assert check_strategy(type(get_strategy(name)), **FAST.get(name, {}))


@pytest.mark.parametrize("name", list_strategies())
def test_the_plans_cheaper_copy_is_the_same_kind_of_strategy(name):
    """``for_planning`` (what ``--plan`` times) builds the strategy's own class, so a subclass (power_bald,
    balanced_bald) is timed as itself, with a positive scale factor."""
    s = get_strategy(name)
    probe, factor = s.for_planning()
    assert type(probe) is type(s) and factor > 0


def test_registry_basics():
    assert list_strategies() == sorted(list_strategies()) and "random" in list_strategies()
    with pytest.raises(KeyError, match="available: .*random"):
        get_strategy("no_such_strategy")
    with pytest.raises(ValueError, match="already registered"):
        register("random")(type("Again", (Strategy,), {}))
    with pytest.raises(TypeError):
        register("not_a_strategy")(object)


def test_user_strategy_registers_and_passes_the_kit():
    @register("test_first_unlabelled")
    class FirstUnlabelled(Strategy):
        def __init__(self, offset: int = 0):
            self.offset = offset

        def score(self, pool, idx):
            return -np.asarray(idx, float) - self.offset

    try:
        assert check_strategy(FirstUnlabelled, offset=1)
        assert get_strategy("test_first_unlabelled").get_params() == {"offset": 0}
    finally:
        strategies._api._REGISTRY.pop("test_first_unlabelled")


def test_a_leaky_strategy_fails_the_kit():
    class Leaky(Strategy):
        def select(self, pool, budget):
            k = self.check_budget(pool, budget)
            return pool.unlabelled[np.argsort(pool.labels(pool.unlabelled))[:k]]

    with pytest.raises(PermissionError):
        check_strategy(Leaky)


def test_top_k_highest_with_random_ties():
    rng = np.random.default_rng(0)
    assert top_k([0.1, 0.9, 0.5], 2, rng).tolist() == [1, 2]
    picks = {tuple(top_k([1.0, 1.0, 1.0, 0.0], 1, np.random.default_rng(s)).tolist()) for s in range(20)}
    assert picks == {(0,), (1,), (2,)}
    with pytest.raises(ValueError, match="NaN"):
        top_k([np.nan, 1.0], 1, rng)
