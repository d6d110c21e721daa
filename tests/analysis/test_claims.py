"""bench.analysis.claims: the paper's claims judged by one rule (paired 95 % t-interval over seeds vs 0), on
constructed results whose verdicts are known, and the manifest's claims block."""
import copy

import numpy as np
import pandas as pd
import pytest

from bench.analysis import claims
from bench.core.errors import ConfigError
from bench.paper.manifest import load_manifest

CLAIM = claims.Claim(artifact="fig3b", statement="s", where="w", paper="p", better="vabal", worse="random")


def rows(curves, datasets=("d1",)):
    """Results rows from {strategy: [[acc per round] per seed]} (the same curves on every dataset)."""
    out = []
    for s, seeds in curves.items():
        for k, accs in enumerate(seeds):
            for d in datasets:
                for r, a in enumerate(accs):
                    out.append({"dataset": d, "strategy": s, "seed": k, "round": r, "accuracy": a})
    return pd.DataFrame(out)


def test_agrees_when_every_seed_gains_by_a_similar_amount():
    df = rows({"random": [[0.2, 0.4], [0.3, 0.5], [0.25, 0.45]],
               "vabal": [[0.3, 0.5], [0.41, 0.6], [0.34, 0.56]]})
    v = claims.check(CLAIM, df, "accuracy", ["d1"])
    d = np.array([10.0, 10.5, 10.0])          # avg over rounds, in points: (0.4-0.3), (0.505-0.4), (0.45-0.35)
    assert v.verdict == "agrees" and v.n == 3
    assert v.diff[0] == pytest.approx(d.mean())
    half = 4.302653 * d.std(ddof=1) / np.sqrt(3)   # t(0.975, 2)
    assert v.diff[1] == pytest.approx(d.mean() - half) and v.diff[2] == pytest.approx(d.mean() + half)
    assert v.better[0] == pytest.approx(np.mean([40, 50.5, 45]))


def test_does_not_agree_and_inconclusive():
    lower = rows({"random": [[0.5], [0.6], [0.55]], "vabal": [[0.4], [0.49], [0.46]]})
    assert claims.check(CLAIM, lower, "accuracy", ["d1"]).verdict == "does not agree"
    mixed = rows({"random": [[0.5], [0.6], [0.55]], "vabal": [[0.6], [0.5], [0.56]]})
    v = claims.check(CLAIM, mixed, "accuracy", ["d1"])
    assert v.verdict == "inconclusive at this scale" and "contains 0" in v.reason


def test_the_same_non_zero_difference_in_every_seed_is_judged_by_its_sign_without_an_interval():
    up = rows({"random": [[0.2], [0.3], [0.4]], "vabal": [[0.3], [0.4], [0.5]]})   # +10 points in each seed
    v = claims.check(CLAIM, up, "accuracy", ["d1"])
    assert v.verdict == "agrees" and v.diff == pytest.approx((10.0, 10.0, 10.0))
    assert "by the same 10.00 points in each of the 3 seeds (no spread, no interval)" in v.reason
    down = claims.check(CLAIM, rows({"random": [[0.3], [0.4]], "vabal": [[0.2], [0.3]]}), "accuracy", ["d1"])
    assert down.verdict == "does not agree" and "below `random` by the same 10.00 points" in down.reason
    same = claims.check(CLAIM, rows({"random": [[0.3], [0.4]], "vabal": [[0.3], [0.4]]}), "accuracy", ["d1"])
    assert same.verdict == "does not agree" and "identical scores" in same.reason


def test_final_measure_uses_the_last_round():
    df = rows({"random": [[0.9, 0.2], [0.9, 0.3]], "vabal": [[0.1, 0.3], [0.1, 0.4]]})
    final = claims.check(claims.Claim(**{**CLAIM.__dict__, "measure": "final"}), df, "accuracy", ["d1"])
    avg = claims.check(CLAIM, df, "accuracy", ["d1"])
    assert final.diff[0] == pytest.approx(10.0) and final.verdict == "agrees"
    assert avg.diff[0] == pytest.approx(-35.0) and avg.verdict == "does not agree"


def test_datasets_are_averaged_per_seed_and_incomplete_seeds_dropped():
    df = rows({"random": [[0.2], [0.3], [0.4]], "vabal": [[0.3], [0.4], [0.5]]}, datasets=("d1", "d2"))
    df.loc[(df["dataset"] == "d2") & (df["strategy"] == "vabal"), "accuracy"] += 0.1   # d2: +20 points
    df = df[~((df["dataset"] == "d2") & (df["strategy"] == "vabal") & (df["seed"] == 2))]
    v = claims.check(CLAIM, df, "accuracy", ["d1", "d2"])
    assert v.n == 2 and v.diff[0] == pytest.approx(15.0)   # mean of +10 (d1) and +20 (d2); seed 2 left out


def test_fewer_than_two_seeds_is_not_measured():
    v = claims.check(CLAIM, rows({"random": [[0.5]], "vabal": [[0.7]]}), "accuracy", ["d1"])
    assert v.verdict == "not measured" and v.diff[0] == pytest.approx(20.0) and np.isnan(v.diff[1])
    assert claims.check(CLAIM, pd.DataFrame(), "accuracy", ["d1"]).verdict == "not measured"
    head, body = claims.table([v])
    interval = body[0][head.index("Δ better − worse, points [95 % CI]")]
    assert len(head) == len(body[0]) and "1 seed: no interval" in interval
    assert body[0][head.index("judged on")] == "`d1`"


def test_no_trial_on_the_claims_datasets_or_on_all_of_them_is_not_measured():
    """Trials on only one of a claim's two datasets (or on none of them): a verdict, never a crash on an empty
    table's untyped scores."""
    df = rows({"random": [[0.2], [0.3]], "vabal": [[0.3], [0.4]]}, datasets=("d1",))
    for datasets in (["d1", "d2"], ["d3"]):
        v = claims.check(CLAIM, df, "accuracy", datasets)
        assert v.verdict == "not measured" and v.n == 0 and "needs 2 or more seeds" in v.reason


def test_non_finite_scores_are_left_out_and_final_is_the_last_round():
    df = rows({"random": [[0.5, 0.5], [0.6, 0.6], [0.55, 0.55]], "vabal": [[0.6, 0.6], [0.7, 0.7], [0.6, 0.65]]},)
    df = df.rename(columns={"accuracy": "val_accuracy"})
    df.loc[(df["strategy"] == "vabal") & (df["seed"] == 2) & (df["round"] == 1), "val_accuracy"] = np.nan
    avg = claims.check(CLAIM, df, "val_accuracy", ["d1"])
    assert avg.n == 2 and avg.diff[0] == pytest.approx(10.0)       # seed 2's NaN trial is not a measurement
    final = claims.check(claims.Claim(**{**CLAIM.__dict__, "measure": "final"}), df, "val_accuracy", ["d1"])
    assert final.n == 2                                             # never round 0 standing in for the last


def test_equal_differences_in_every_seed():
    same = rows({"random": [[0.5], [0.6], [0.55]], "vabal": [[0.5], [0.6], [0.55]]})
    v = claims.check(CLAIM, same, "accuracy", ["d1"])
    assert v.verdict == "does not agree" and "no difference in any of the 3 seeds" in v.reason   # no gain at all
    shifted = rows({"random": [[0.5], [0.6], [0.55]], "vabal": [[0.52], [0.62], [0.57]]})
    v = claims.check(CLAIM, shifted, "accuracy", ["d1"])
    assert v.verdict == "agrees" and "same 2.00 points in each of the 3 seeds" in v.reason


def test_manifest_claims_load_and_bad_ones_are_refused():
    m = load_manifest()
    loaded = claims.load_claims(m)
    assert {c.artifact for c in loaded} >= {"fig3b", "table1"}
    for bad, msg in (({"measure": "median"}, "measure"), ({"worse": "badge"}, "not among"),
                     ({"artifact": "fig99"}, "unknown artifact"), ({"colour": 1}, "unknown field"),
                     ({"worse": "vabal"}, "both"), ({"datasets": "cifar10_dom1"}, "must be a list"),
                     ({"datasets": ["cifar10_dom2"]}, "must be a list"), ({"artifact": ["fig3b"]}, "unknown artifact"),
                     ({"metric": "entropy"}, "metric must be")):
        m2 = copy.deepcopy(m)
        m2["claims"][0].update(bad)
        with pytest.raises(ConfigError, match=msg):
            claims.load_claims(m2)
