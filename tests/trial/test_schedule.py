"""``epochs=`` moves the learning-rate milestones to the same fractions of training unless they are given."""
import pytest

from bench.core.config import load_config, scale_milestones
from bench.core.errors import ConfigError


@pytest.mark.parametrize("preset", ["paper/cifar10", "paper/neu", "paper/cifar100", "digits"])
def test_epochs_alone_keeps_the_presets_fraction(preset):
    base = load_config(preset)
    for epochs in (10, 37, 400):
        cfg = load_config(preset, [f"epochs={epochs}"])
        (m,) = cfg.lr_milestones
        frac = base.lr_milestones[0] / base.epochs
        assert abs(m / epochs - frac) <= 0.5 / epochs + 1e-12 and 0 < m < epochs


def test_milestones_given_beside_epochs_are_kept_and_the_profiles_recipes_do_not_move():
    assert load_config("paper/cifar10", ["epochs=10", "lr_milestones=[3]"]).lr_milestones == (3,)
    assert load_config("paper/cifar10", (), epochs=30, lr_milestones=[24]).lr_milestones == (24,)   # cpu profile
    assert load_config("paper/cifar10").lr_milestones == (160,)
    assert load_config("paper/cifar10", ["lr_milestones=[]", "epochs=10"]).lr_milestones == ()
    with pytest.raises(ConfigError, match="must lie in 1..epochs-1"):
        load_config("paper/cifar10", ["epochs=10", "lr_milestones=[12]"])   # explicit and wrong: said so


def test_scaling_by_hand():
    assert scale_milestones((160,), 200, 10) == (8,)
    assert scale_milestones((12,), 15, 2) == (1,)          # 1.6 -> 2 would be no decay: held at epochs-1
    assert scale_milestones((100, 150), 200, 20) == (10, 15)
    assert scale_milestones((160,), 200, 1) == ()           # no decay fits one epoch


def test_run_takes_a_scale_profiles_recipe_under_the_users_overrides():
    from bench.paper.manifest import load_profile
    from bench.trial.grid import expand

    prof = load_profile("cpu")
    base = dict(prof.raw["overrides"], strategy_params=prof.raw["strategy_params"])
    (t,) = expand(["cifar10_rare5"], ["vabal"], [0], None, (), base)
    assert (t.cfg.width, t.cfg.epochs, t.cfg.lr_milestones, t.cfg.precision) == (16, 30, (24,), "fp32")
    assert t.cfg.params_for("vabal") == {"mc_samples": 20}
    (t,) = expand(["cifar10_rare5"], ["vabal"], [0], None, ["epochs=10", "strategy_params.vabal.lam=0.01"], base)
    assert t.cfg.epochs == 10 and t.cfg.lr_milestones == (8,)             # the profile's 24 of 30, moved
    assert t.cfg.params_for("vabal") == {"mc_samples": 20, "lam": 0.01}
