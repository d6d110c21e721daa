"""The trial bar's ETA covers whole rounds: a round's evaluation and selection count in image-equivalents at the
measured training rate, and the rounds left are projected from the means so far."""
import math

from bench.trial.progress import TrialBar


def test_after_a_round_the_work_left_equals_the_time_left_at_steady_costs():
    # 3 rounds of 100, 200, 300 training images at 100 img/s; every round evaluates in 0.5 s and all but the
    # last select in 0.25 s
    bar = TrialBar([100, 200, 300], 0, "t", disable=False)
    bar.update(100)
    bar.round_done(0, train_s=1.0, eval_s=0.5, select_s=0.25)
    assert math.isclose(bar.bar.n, 100 + 75)                      # 0.75 s spent = 75 image-equivalents
    assert math.isclose(bar.bar.total, 600 + 75 + 100 * (0.5 * 2 + 0.25 * 1))
    time_left = (2.0 + 0.5 + 0.25) + (3.0 + 0.5)                  # rounds 1 and 2, as they will run
    assert math.isclose((bar.bar.total - bar.bar.n) / 100, time_left)
    bar.update(200)
    bar.round_done(1, train_s=2.0, eval_s=0.5, select_s=0.25)
    assert math.isclose((bar.bar.total - bar.bar.n) / 100, 3.0 + 0.5)
    bar.update(300)
    bar.round_done(2, train_s=3.0, eval_s=0.5, select_s=float("nan"))   # the last round selects nothing
    assert math.isclose(bar.bar.total, bar.bar.n)
    bar.close()


def test_a_resumed_trial_starts_at_its_recorded_rounds_and_a_scoring_models_images_count():
    bar = TrialBar([100, 400, 600], 1, "t", disable=False)          # round 0 recorded; 2 models a round after
    assert bar.bar.n == 100 and bar.bar.total == 1100
    bar.update(400)
    bar.round_done(1, train_s=4.0, eval_s=1.0, select_s=3.0)
    assert math.isclose((bar.bar.total - bar.bar.n) / 100, 6.0 + 1.0)
