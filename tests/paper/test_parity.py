"""``albench parity``: trials paired with their twins under a second profile, by-hand numbers, the decision."""
import os

import numpy as np
import pytest

from bench.analysis import stats
from bench.cli import main
from bench.paper import parity
from bench.paper.manifest import load_profile
from tests.paper.test_report import run_cfgs, write_trial

ONLY = ["table1"]


def _tree(base, shift):
    """Table 1's trials under smoke and smoke-bf16: the candidate's accuracies are the reference's plus
    ``shift(strategy, seed)`` in every round."""
    rng = np.random.default_rng(1)
    for name in ("smoke", "smoke-bf16"):
        prof = load_profile(name)
        _, cfgs = run_cfgs(prof, "table1", prof.root(base))
        for run, d, cfg in cfgs:
            for s in run.strategies:
                for k in run.seeds:
                    vals = np.random.default_rng([k, len(s), len(d)]).uniform(0.2, 0.9, cfg.rounds + 1)
                    if name != "smoke":
                        vals = vals + shift(s, k)
                    write_trial(cfg, s, k, vals, vals + rng.uniform(0, 0.01))


def test_the_smoke_profiles_differ_in_precision_only():
    a, b = load_profile("smoke"), load_profile("smoke-bf16")
    assert {k: v for k, v in b.raw["overrides"].items() if k != "precision"} == a.raw["overrides"]


def test_pairs_and_intervals_by_hand_and_a_shift_is_not_within_noise(tmp_path):
    base = str(tmp_path)
    # vabal shifted by +2.0 or +2.2 points depending on the seed: its interval lies above 0 (t with one
    # degree of freedom); the others by +/-0.5 alternating with the seed: their intervals contain 0
    shifts = {("vabal", 0): 0.02, ("vabal", 1): 0.022}
    _tree(base, lambda s, k: shifts.get((s, k), 0.005 if k == 0 else -0.005))
    doc, decision = parity.build_page(("smoke", "smoke-bf16"), base, ONLY)
    assert decision["pairs"] == decision["expected"] > 0
    assert decision["within_noise"] is False
    assert any(o.startswith("`vabal`") for o in decision["outside"])
    assert not any(o.startswith("`vabal_prior`") for o in decision["outside"])
    md = doc.markdown()
    lo, hi = stats.t_interval([2.0, 2.2])
    assert lo > 0 and f"+2.10 [{lo:+.2f}, {hi:+.2f}]" in md   # vabal's difference, in points
    assert "+0.00 [" in md                            # the others: +0.5 and -0.5 points


def test_identical_twins_are_within_noise_and_change_no_claim(tmp_path):
    base = str(tmp_path)
    _tree(base, lambda s, k: 0.004 if k == 0 else -0.004)
    decision = parity.publish(("smoke", "smoke-bf16"), str(tmp_path / "page.md"), base, ONLY)
    assert decision["within_noise"] is True and decision["changed_claims"] == 0
    text = open(tmp_path / "page.md").read()
    assert "is **within noise of**" in text and "Pairs finished under both: **" in text


def test_an_unfinished_study_draws_no_decision(tmp_path, capsys):
    base = str(tmp_path)
    _tree(base, lambda s, k: 0.0)
    prof = load_profile("smoke-bf16")
    victim = os.path.join(prof.root(base), "table1")
    for root, _, files in os.walk(victim):
        if "rounds.csv" in files:
            os.remove(os.path.join(root, "rounds.csv"))
            break
    main(["parity", "--profiles", "smoke,smoke-bf16", "--only", "table1", "--out", base])
    out = capsys.readouterr()
    assert "decision: pending" in out.err and "Pending: the study is not complete." in out.out


def test_profiles_that_run_other_trials_are_refused(tmp_path):
    with pytest.raises(Exception, match="do not run the same trials"):
        parity.build_page(("smoke", "cpu"), str(tmp_path), ONLY)


def test_a_finished_row_outside_noise_decides_before_the_study_is_complete(tmp_path, capsys):
    """vabal's pairs all finished with an interval above 0: 'not within noise' is settled, though another
    strategy's pair is missing; a row outside noise that is not finished settles nothing."""
    base = str(tmp_path)
    shifts = {("vabal", 0): 0.02, ("vabal", 1): 0.022}
    _tree(base, lambda s, k: shifts.get((s, k), 0.005 if k == 0 else -0.005))
    prof = load_profile("smoke-bf16")
    victim = os.path.join(prof.root(base), "table1", "digits_dom1", "vabal_prior", "seed1", "rounds.csv")
    os.remove(victim)
    doc, decision = parity.build_page(("smoke", "smoke-bf16"), base, ONLY)
    assert decision["pairs"] < decision["expected"] and decision["within_noise"] is False
    assert "already determined before the study is complete" in doc.markdown()
    main(["parity", "--profiles", "smoke,smoke-bf16", "--only", "table1", "--out", base])
    assert "not within noise (already determined by a finished row)" in capsys.readouterr().err
    # vabal's seed 1 missing instead (on both datasets): its rows are no longer finished, nothing is settled yet
    _tree(base, lambda s, k: shifts.get((s, k), 0.005 if k == 0 else -0.005))
    for d in ("digits", "digits_dom1"):
        os.remove(os.path.join(prof.root(base), "table1", d, "vabal", "seed1", "rounds.csv"))
    assert parity.build_page(("smoke", "smoke-bf16"), base, ONLY)[1]["within_noise"] is None
