"""The ``precision`` setting: resolution, a trial's identity, legacy trials, and every precision path on the CPU.

bf16 runs on any CPU (emulated where it has no native instructions: slower, the same arithmetic), so each
path is exercised here; the speed is measured by ``make perf``, not asserted.
"""
import json
import os
from dataclasses import replace
from unittest import mock

import numpy as np
import pytest
import torch

from bench.core import device as device_mod
from bench.core.config import load_config
from bench.core.device import autocast, channels_last, inference_batch, resolve_precision
from bench.core.errors import ConfigError, ResultsConflictError
from bench.core.models import build_classifier
from bench.core.pool import Pool
from bench.paper.manifest import load_profile
from bench.trial.identity import config_identity, identity_differences
from bench.trial.loop import run_trial
from bench.trial.train import evaluate, predict, train_classifier
from strategies import get_strategy
from strategies.bald import ChunkDropout, bald_scores, mc_dropout_probs
from tests.helpers import ROOT as REPO  # noqa: E402


def separable(n=200):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 2
    x = (torch.randint(0, 100, (n, 3, 32, 32), generator=g) + 120 * y.view(-1, 1, 1, 1)).to(torch.uint8)
    return x, y


def small_cfg(**kw):
    return replace(load_config("digits", ["epochs=3", "width=8", "batch_size=64", "lr_milestones=[2]"]), **kw)


def test_auto_resolves_by_the_devices_bf16_instructions():
    with mock.patch.object(device_mod, "cpu_bf16_flags", return_value=("avx512_bf16",)):
        assert resolve_precision("auto", "cpu") == "bf16"
    with mock.patch.object(device_mod, "cpu_bf16_flags", return_value=()):
        assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("auto", torch.device("cuda")) == "bf16"
    assert resolve_precision("fp32", torch.device("cuda")) == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    # None: the behaviour from before the setting (a Pool or predict without a trial config)
    assert resolve_precision(None, "cpu") == "fp32" and resolve_precision(None, torch.device("cuda")) == "bf16"
    with pytest.raises(ConfigError, match="precision must be one of"):
        resolve_precision("fp16", "cpu")


def test_cpu_bf16_flags_agree_with_the_kernel():
    flags = device_mod.cpu_bf16_flags()
    try:
        with open("/proc/cpuinfo") as f:
            words = set(f.read().split())
    except OSError:
        pytest.skip("no /proc/cpuinfo to compare with")
    for flag in device_mod.CPU_BF16_FLAGS:
        assert (flag in flags) == (flag in words), flag


def test_config_checks_precision_and_eval_batch():
    with pytest.raises(ConfigError, match="precision must be one of"):
        load_config("digits", ["precision=half"])
    with pytest.raises(ConfigError, match="eval_batch_size must be >= 0"):
        load_config("digits", ["eval_batch_size=-1"])
    assert load_config("digits").precision == "auto"
    assert inference_batch(0, "cpu") == 256 and inference_batch(0, torch.device("cuda")) == 1024
    assert inference_batch(100, "cpu") == 100


def test_autocast_and_layout_follow_the_precision():
    x = torch.randn(4, 8)
    w = torch.randn(8, 3)
    with autocast("cpu", "bf16"):
        assert (x @ w).dtype == torch.bfloat16
    with autocast("cpu", "fp32"):
        assert (x @ w).dtype == torch.float32
    with autocast("cpu", None):
        assert (x @ w).dtype == torch.float32
    assert channels_last("cpu", "bf16") and not channels_last("cpu", "fp32")


def test_identity_records_the_resolved_precision_and_legacy_trials_read_as_fp32():
    with mock.patch.object(device_mod, "cpu_bf16_flags", return_value=("avx512_bf16",)):
        ident = config_identity(small_cfg(device="cpu", precision="auto"))
    assert ident["precision"] == "bf16"
    assert config_identity(small_cfg(device="cpu", precision="fp32"))["precision"] == "fp32"
    legacy = {k: v for k, v in config_identity(small_cfg(device="cpu", precision="fp32")).items()
              if k != "precision"}
    assert identity_differences(legacy, config_identity(small_cfg(device="cpu", precision="fp32"))) == []
    assert identity_differences(legacy, config_identity(small_cfg(device="cpu", precision="bf16"))) == ["precision"]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_and_evaluation_learn_in_each_precision_and_repeat_exactly(precision):
    x, y = separable()
    cfg = small_cfg(precision=precision)
    m1, _ = train_classifier(cfg, x, y, 2, 7, [0.5] * 3, [0.25] * 3)
    m2, _ = train_classifier(cfg, x, y, 2, 7, [0.5] * 3, [0.25] * 3)
    assert m1.stem[0].weight.is_contiguous(memory_format=torch.channels_last) == (precision == "bf16")
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)   # same seed, same precision: the same model, bit for bit
    r = evaluate(m1, x, y, 2, 64, precision)
    assert r["accuracy"] > 0.9
    # the batch of inference changes nothing but the speed
    big, small = predict(m1, x, 64, precision=precision), predict(m1, x, 7, precision=precision)
    assert torch.equal(big.argmax(1), small.argmax(1))


def test_bf16_is_really_bf16_and_close_to_fp32():
    x, y = separable()
    model, _ = train_classifier(small_cfg(precision="fp32"), x, y, 2, 0, [0.5] * 3, [0.25] * 3)
    a, b = predict(model, x, precision="fp32"), predict(model, x, precision="bf16")
    assert not torch.equal(a, b)                  # the arithmetic differs ...
    torch.testing.assert_close(a, b, rtol=0.05, atol=0.1)   # ... by bf16's rounding only


def _one_call_mc_dropout(model, x, passes):
    """MC-Dropout as it ran before (one forward call over all passes x images rows, nn.Dropout's masks)."""
    for d in model.drops:
        d.train()
    try:
        with torch.no_grad():
            h = model.stem_forward(x)
            h = h.unsqueeze(0).expand(passes, *h.shape).reshape(passes * len(x), *h.shape[1:])
            logits = model.head(h).logits.float()
    finally:
        for d in model.drops:
            d.eval()
    return torch.softmax(logits, 1).view(passes, len(x), -1)


def test_fp32_mc_dropout_in_small_batches_draws_the_one_call_masks():
    """The fp32 recipe draws exactly the masks one forward call over all rows drew (the recorded trials'):
    with the same masks the scores agree to float rounding (a convolution may pick another kernel for
    another batch size, so bit equality holds only where it does not)."""
    torch.manual_seed(0)
    model = build_classifier("resnet18", 5, 3, 4, 0.25).eval()
    x = torch.randint(0, 256, (13, 3, 32, 32), dtype=torch.uint8)
    torch.manual_seed(3)
    want = _one_call_mc_dropout(model, x, 6)
    torch.manual_seed(3)
    assert torch.equal(mc_dropout_probs(model, x, 6, "fp32", 0), want)
    for rows in (7, 16, 78):
        torch.manual_seed(3)
        torch.testing.assert_close(mc_dropout_probs(model, x, 6, "fp32", rows), want, rtol=1e-5, atol=1e-6)
    # the masks themselves are nn.Dropout's, bit for bit
    h = torch.randn(78, 4, 32, 32)
    torch.manual_seed(5)
    noise = torch.empty_like(h).bernoulli_(0.75).div_(0.75)
    torch.manual_seed(5)
    assert torch.equal(ChunkDropout(model, h, 78, 0.25, exact=True).slice(0, 78)[0](h), h * noise)


def test_bf16_mc_dropout_masks_keep_the_rate_and_do_not_depend_on_the_batch():
    torch.manual_seed(0)
    model = build_classifier("resnet18", 5, 3, 4, 0.25).eval().to(memory_format=torch.channels_last)
    h = torch.ones(50, 4, 32, 32)
    drop = ChunkDropout(model, h, 50, 0.25, exact=False)
    out = drop.slice(0, 50)[0](h)
    values = out.unique().tolist()
    assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(4 / 3)
    assert abs(float((out == 0).double().mean()) - 0.25) < 0.01        # 204,800 units: 4.5 sigma ~ 0.004
    x = torch.randint(0, 256, (9, 3, 32, 32), dtype=torch.uint8)
    runs = []
    for rows in (0, 5, 32):
        torch.manual_seed(11)
        runs.append(mc_dropout_probs(model, x, 4, "bf16", rows))
    for other in runs[1:]:   # the same masks; bf16 kernels may round differently for another batch size
        torch.testing.assert_close(other, runs[0], rtol=0, atol=2e-2)
    torch.manual_seed(11)
    ref = _one_call_mc_dropout(model, x, 4)   # other masks: close in distribution, not equal
    assert bald_scores(runs[0].double()).shape == bald_scores(ref.double()).shape == (9,)


@pytest.mark.parametrize("name", ["bald", "vaal", "coreset", "vabal"])
def test_strategies_run_in_bf16_on_the_cpu(name):
    x, y = separable(120)
    cfg = small_cfg(precision="bf16", epochs=1, lr_milestones=[])
    options = get_strategy(name).scoring_model_options
    model, _ = train_classifier(cfg, x[:40], y[:40], 2, 0, [0.5] * 3, [0.25] * 3, **options)
    pool = Pool(x, y.numpy(), np.arange(40), model, 2, np.random.default_rng(0), "cpu", 32, precision="bf16")
    params = {"bald": {"passes": 3}, "vaal": {"epochs": 1, "width": 4}, "vabal": {"epochs": 1, "mc_samples": 3}}
    picks = get_strategy(name, **params.get(name, {})).select(pool, 10)
    assert len(set(picks.tolist())) == 10 and not set(picks.tolist()) & set(range(40))


def test_a_trial_made_in_one_precision_refuses_to_resume_in_the_other(tmp_path):
    cfg = load_config("digits", ["epochs=1", "width=4", "initial=20", "budget=10", "rounds=1", "batch_size=16",
                                 "lr_milestones=[]", "threads=1", "eval_batch_size=64"], out=str(tmp_path),
                      precision="bf16", device="cpu")
    rows = run_trial(cfg, "random", 0, progress=False)
    with open(os.path.join(tmp_path, "digits", "random", "seed0", "config.json")) as f:
        saved = json.load(f)
    assert saved["identity"]["precision"] == "bf16" and len(rows) == 2
    again = run_trial(cfg, "random", 0, progress=False)   # resumes (finished) under the same precision
    assert [r["accuracy"] for r in again] == [r["accuracy"] for r in rows]
    with pytest.raises(ResultsConflictError, match="precision"):
        run_trial(replace(cfg, precision="fp32"), "random", 0, progress=False)


def test_a_bf16_cpu_trial_is_made_at_one_thread_count(tmp_path):
    """bf16 on the CPU gives other numbers at another thread count (measured): the count is in the identity."""
    cfg = load_config("digits", ["epochs=1", "width=4", "initial=20", "budget=10", "rounds=1", "batch_size=16",
                                 "lr_milestones=[]", "eval_batch_size=64"], out=str(tmp_path),
                      precision="bf16", device="cpu")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        run_trial(cfg, "random", 0, progress=False)
        with open(os.path.join(tmp_path, "digits", "random", "seed0", "config.json")) as f:
            assert json.load(f)["identity"]["cpu_threads"] == 1
        torch.set_num_threads(2)
        with pytest.raises(ResultsConflictError, match="cpu_threads"):
            run_trial(cfg, "random", 0, progress=False)
        run_trial(replace(cfg, precision="fp32", out=str(tmp_path / "fp32")), "random", 0, progress=False)
        with open(os.path.join(tmp_path, "fp32", "digits", "random", "seed0", "config.json")) as f:
            assert "cpu_threads" not in json.load(f)["identity"]   # fp32: the same numbers at any count
    finally:
        torch.set_num_threads(before)


def test_the_committed_fp32_reproduction_still_reads_as_finished_under_the_cpu_profile():
    """Trials recorded before ``precision`` existed carry no such field: they are fp32, and the cpu profile
    (pinned to fp32 until the parity study decides) still finds every one of them finished, while the same
    trials under the bf16 profile's identity would conflict."""
    from bench.paper.status import fill_status, selected_artifacts, trials_of

    root = os.path.join(REPO, "results", "paper-cpu")
    if not os.path.exists(os.path.join(root, "profile.json")):
        pytest.skip("the committed CPU reproduction is not in this checkout")
    prof = load_profile("cpu")
    assert prof.raw["overrides"]["precision"] == "fp32"
    trials = trials_of(selected_artifacts(prof, default_core=True), root)
    fill_status(trials)
    assert len(trials) == 33 and {t.status for t in trials.values()} == {"finished"}
    bf16 = trials_of(selected_artifacts(load_profile("cpu-bf16"), default_core=True), root)
    fill_status(bf16)
    assert {t.status for t in bf16.values()} == {"conflict"}
    assert all("precision" in t.why for t in bf16.values())


def test_a_profile_extends_another_and_keeps_its_own_folder():
    base, bf16 = load_profile("cpu"), load_profile("cpu-bf16")
    assert bf16.raw["overrides"] == {**base.raw["overrides"], "precision": "bf16"}
    assert bf16.raw["restrict"] == base.raw["restrict"] and bf16.core == base.core
    assert bf16.departures[:len(base.departures)] == base.departures
    assert len(bf16.departures) == len(base.departures) + 1
    assert bf16.root("results") != base.root("results")


def test_a_table_never_averages_two_precisions_together(tmp_path, capsys):
    from bench.analysis.collect import collect, summarise

    base = ["epochs=1", "width=4", "initial=20", "budget=10", "rounds=1", "batch_size=16", "lr_milestones=[]",
            "threads=1", "eval_batch_size=64"]
    for seed, precision in ((0, "fp32"), (1, "bf16"), (2, "fp32")):
        cfg = load_config("digits", base, out=str(tmp_path), precision=precision, device="cpu")
        run_trial(cfg, "random", seed, progress=False)
    df = collect(str(tmp_path))
    assert sorted(df.groupby("seed")["precision"].first()) == ["bf16", "fp32", "fp32"]
    s = summarise(df).reset_index()
    assert sorted(s["strategy"]) == ["random [bf16]", "random [fp32]"]
    assert dict(zip(s["strategy"], s["seeds"])) == {"random [bf16]": 1, "random [fp32]": 2}
    assert "different precisions are shown apart" in capsys.readouterr().err
