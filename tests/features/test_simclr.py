"""`albench features`: SimCLR features made here, resumable, found by name by TypiClust and ProbCover."""
import json
import os

import numpy as np
import pytest
import torch

from bench.core.models import build_classifier
from bench.core.pool import Pool
from bench.features import make
from bench.features.knn import knn_accuracy
from bench.features.simclr import augment, nt_xent
from bench.trial.identity import identity_differences
from datasets import get_dataset
from strategies import get_strategy
from strategies._shared.feature_source import file_sha256
from strategies.testing import make_pool


@pytest.fixture
def features_root(tmp_path, monkeypatch):
    monkeypatch.setenv("ALBENCH_FEATURES", str(tmp_path / "features"))
    return str(tmp_path / "features")


def run(root, **kw):
    return make.make_features("digits", "simclr", "smoke", root, "cpu", progress=False, log=lambda s: None, **kw)


def test_the_loss_and_augmentations_do_what_they_say():
    z = torch.nn.functional.normalize(torch.randn(8, 4), dim=1)
    assert nt_xent(z, z, 0.1) < nt_xent(z, torch.randn(8, 4), 0.1)   # identical views: the positives win
    x = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    a = augment(x, torch.Generator().manual_seed(0), 0.2)
    b = augment(x, torch.Generator().manual_seed(0), 0.2)
    assert a.shape == (16, 3, 8, 8) and torch.equal(a, b) and 0 <= float(a.min()) and float(a.max()) <= 255
    assert not torch.equal(a, augment(x, torch.Generator().manual_seed(1), 0.2))
    feats, y = torch.eye(3).repeat(5, 1), torch.arange(3).repeat(5)
    assert knn_accuracy(feats, y, feats, y, k=3) == 1.0 and knn_accuracy(feats, (y + 1) % 3, feats, y, k=3) == 0.0


def test_features_end_to_end_and_made_again_from_the_weights(features_root):
    rec = run(features_root)
    p = make.paths(features_root, "digits", "simclr")
    feats = np.load(p["npy"])
    ds = get_dataset("digits")
    assert feats.shape == (len(ds.y_train), 32) and feats.dtype == np.float16   # every base training image
    assert np.allclose(np.linalg.norm(feats.astype(np.float32), axis=1), 1, atol=1e-2)
    with open(p["json"]) as f:
        saved = json.load(f)
    assert saved == json.loads(json.dumps(rec)) and set(rec["knn"]) == {"k", "features", "raw_pixels", "random_encoder"}
    assert rec["run"]["data_fingerprint"] == ds.fingerprint and rec["epochs_done"] == 2
    assert not os.path.exists(p["ckpt"])   # a finished run leaves no checkpoint
    os.remove(p["npy"])
    assert run(features_root)["features_sha256"] == rec["features_sha256"] == file_sha256(p["npy"])


def test_features_another_cpu_makes_are_never_put_in_place_unasked(features_root):
    from bench.core.device import processor
    from bench.core.errors import ConfigError

    rec = run(features_root)
    p = make.paths(features_root, "digits", "simclr")
    good = np.load(p["npy"])
    np.save(p["npy"], good[::-1])                 # a changed file is made again in place: it is the recorded one
    assert run(features_root) == rec and file_sha256(p["npy"]) == rec["features_sha256"]
    other = dict(rec, features_sha256="0" * 64, versions=dict(rec["versions"], processor="another CPU"))
    with open(p["json"], "w") as f:               # as if recorded on a CPU whose kernels round otherwise
        json.dump(other, f)
    os.remove(p["npy"])
    with pytest.raises(ConfigError, match=r"\(made on another CPU\).*Nothing was written.*--adopt"):
        run(features_root)
    assert sorted(os.listdir(os.path.dirname(p["npy"]))) == ["simclr.json", "simclr.pt"]   # no file, no .new
    trial = os.path.join(os.path.dirname(features_root), "out", "digits", "typiclust_simclr", "seed0")
    os.makedirs(trial)
    with open(os.path.join(trial, "config.json"), "w") as f:   # a trial that read the recorded file
        json.dump({"identity": {"strategy_provenance": {"features_sha256": "0" * 64}}}, f)
    with pytest.raises(ConfigError, match="not adopted: 1 trial"):
        run(features_root, adopt=True)
    assert sorted(os.listdir(os.path.dirname(p["npy"]))) == ["simclr.json", "simclr.pt"]
    os.remove(os.path.join(trial, "config.json"))
    adopted = run(features_root, adopt=True)
    assert adopted["features_sha256"] == file_sha256(p["npy"]) == rec["features_sha256"]
    assert adopted["adopted"][-1]["previous_sha256"] == "0" * 64 and adopted["knn"] == rec["knn"]
    assert adopted["adopted"][-1]["machine"] == processor()
    with open(p["json"]) as f:
        assert json.load(f) == json.loads(json.dumps(adopted))
    assert run(features_root) == adopted          # adopted once: found finished from then on
    np.save(p["npy"], good[::-1])                 # a trial refuses a file that is not the recorded one
    with pytest.raises(ValueError, match="is not the file its record simclr.json names"):
        get_strategy("typiclust", features="simclr").check_data(get_dataset("digits_dom1"))


def test_a_killed_run_resumes_and_ends_with_the_same_features(features_root, tmp_path, monkeypatch):
    straight = run(str(tmp_path / "straight"), epochs=3)
    calls = []
    real = make.train_epoch

    def dies_in_epoch_two(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt   # the process killed during its second epoch
        return real(*args, **kw)

    monkeypatch.setattr(make, "train_epoch", dies_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        run(features_root, epochs=3)
    assert os.path.exists(make.paths(features_root, "digits", "simclr")["ckpt"])
    monkeypatch.setattr(make, "train_epoch", real)
    resumed = run(features_root, epochs=3)
    assert resumed["loss_per_epoch"] == straight["loss_per_epoch"]
    assert resumed["features_sha256"] == straight["features_sha256"]


@pytest.mark.parametrize("spec", ["digits_dom1", "digits_rare5", "digits_lt10"])
def test_rows_follow_train_index_and_the_identity_holds_the_features(features_root, spec):
    from strategies._shared.feature_source import load_features

    run(features_root)
    table = np.load(make.paths(features_root, "digits", "simclr")["npy"]).astype(np.float32)
    ds = get_dataset(spec, seed=0)
    for name in ("typiclust", "probcover"):
        s = get_strategy(name, features="simclr")
        s.check_data(ds)
        prov = s.provenance()
        assert prov["features"].endswith(os.path.join("digits", "simclr.npy")) and len(prov["features_sha256"]) == 64
        moved = dict(prov, features="/elsewhere/digits/simclr.npy")   # a clone at another path: the same trial
        here = {"precision": "fp32", "strategy_provenance": prov}
        assert identity_differences(dict(here, strategy_provenance=moved), here) == []
        assert identity_differences(dict(here, strategy_provenance=dict(prov, features_sha256="0" * 64)),
                                    here) == ["strategy_provenance"]
    model = build_classifier("resnet18", ds.num_classes, ds.x_train.shape[1], width=4).eval()
    pool = Pool(torch.from_numpy(ds.x_train), ds.y_train, np.arange(10), model, ds.num_classes,
                np.random.default_rng(0), "cpu", source_index=ds.train_index)   # as the loop builds it
    got = load_features(pool, np.arange(5), s.source_).cpu().numpy()
    want = table[ds.train_index[:5]]
    assert np.allclose(got, want / np.linalg.norm(want, axis=1, keepdims=True), atol=1e-5)


def test_a_missing_feature_set_names_the_command_that_makes_it(features_root):
    s = get_strategy("typiclust", features="simclr")
    with pytest.raises(ValueError, match="albench features --data digits --method simclr`") as err:
        s.check_data(get_dataset("digits_dom1"))
    assert "weights" not in str(err.value)
    assert "git checkout -- " in str(err.value)   # the tracked file first: a remake elsewhere is other bytes
    with pytest.raises(Exception, match="base dataset"):
        run_spec = make.make_features("digits_dom1", "simclr", "smoke", features_root, "cpu", progress=False)
        assert run_spec is None


def test_the_trial_identity_changes_with_the_features(features_root, tmp_path, monkeypatch):
    from bench.core.config import load_config
    from bench.trial.identity import trial_identity

    ds = get_dataset("digits_dom1")
    cfg = load_config("digits")
    idents = []
    for root, seed in ((features_root, 0), (str(tmp_path / "other"), 1)):
        run(root, seed=seed)
        monkeypatch.setenv("ALBENCH_FEATURES", root)
        s = get_strategy("typiclust", features="simclr")
        s.check_data(ds)
        idents.append(trial_identity(cfg, s, "typiclust", 0, ds))
    plain = get_strategy("typiclust")
    plain.check_data(ds)
    idents.append(trial_identity(cfg, plain, "typiclust", 0, ds))
    assert idents[0] != idents[1] != idents[2] != idents[0]
    assert idents[0]["strategy_provenance"]["features_sha256"] != idents[1]["strategy_provenance"]["features_sha256"]


@pytest.mark.parametrize("name", ["typiclust", "probcover", "maxherding", "similar"])
def test_a_plan_times_a_named_feature_set_on_the_embedding(name):
    """A plan times select on a synthetic pool, where no named set can be found: it times the same strategy on
    the classifier's embedding (the same arithmetic on other numbers), and says nothing is scaled."""
    s = get_strategy(name, features="simclr")
    probe, factor = s.for_planning()
    assert probe.features == "embedding" and factor == 1.0
    assert {k: v for k, v in probe.get_params().items() if k != "features"} == \
        {k: v for k, v in s.get_params().items() if k != "features"}
    pool = make_pool(probe, n=40, labelled=10)
    assert len(probe.select(pool, 4)) == 4


def test_a_feature_set_made_from_other_data_is_refused(features_root):
    run(features_root)
    p = make.paths(features_root, "digits", "simclr")
    with open(p["json"]) as f:
        rec = json.load(f)
    rec["run"]["data_fingerprint"] = "0" * 16   # as if made from another copy of the base's data
    with open(p["json"], "w") as f:
        json.dump(rec, f)
    with pytest.raises(ValueError, match="made from other digits data"):
        get_strategy("probcover", features="simclr").check_data(get_dataset("digits_rare5"))
