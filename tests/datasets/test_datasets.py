import os

import numpy as np
import pytest

from bench.core.errors import DatasetCorruptError, DatasetNotFoundError
from datasets import get_dataset, list_datasets, parse_spec
from tests.helpers import NEU_SIZES, REAL_DATA

# golden per-class training counts for every listed spec (list_datasets()) (synthetic stand-ins of the real shapes)
C10 = [5000] * 10
GOLDEN = {
    "cifar10": C10,
    "cifar10_dom1": [5000] + [500] * 9,
    "cifar10_dom5": [500] * 4 + [5000] + [500] * 5,
    "cifar10_dom10": [500] * 9 + [5000],
    "cifar10_rare1": [500] + [5000] * 9,
    "cifar10_rare5": [5000] * 4 + [500] + [5000] * 5,
    "cifar10_rare10": [5000] * 9 + [500],
    "cifar100": [500] * 100,
    "cifar100_dom45_55": [300] * 44 + [500] * 11 + [300] * 45,
    "neu": [s - int(np.ceil(0.2 * s)) for s in NEU_SIZES],
    # long-tailed, Cao et al. (LDAM, 2019): CIFAR-10-LT 12406 / 20431 / 13996 images, CIFAR-100-LT 10847
    "cifar10_lt100": [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50],
    "cifar10_lt10": [5000, 3871, 2997, 2320, 1796, 1391, 1077, 834, 645, 500],
    "cifar10_lt50": [5000, 3237, 2096, 1357, 878, 568, 368, 238, 154, 100],
    "cifar100_lt100": [500, 477, 455, 434, 415, 396, 378, 361, 344, 328, 314, 299, 286, 273, 260, 248, 237, 226,
                       216, 206, 197, 188, 179, 171, 163, 156, 149, 142, 135, 129, 123, 118, 112, 107, 102, 98, 93,
                       89, 85, 81, 77, 74, 70, 67, 64, 61, 58, 56, 53, 51, 48, 46, 44, 42, 40, 38, 36, 35, 33, 32,
                       30, 29, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 15, 14, 13, 13, 12, 12, 11, 11,
                       10, 10, 9, 9, 8, 8, 7, 7, 7, 6, 6, 6, 6, 5, 5, 5, 5],
}


@pytest.mark.parametrize("spec", sorted(GOLDEN))
def test_golden_counts(spec, synth_root):
    ds = get_dataset(spec, root=synth_root, seed=0)
    assert ds.class_counts().tolist() == GOLDEN[spec]
    assert ds.x_train.dtype == np.uint8 and ds.x_train.ndim == 4 and ds.y_train.dtype == np.int64
    assert len(ds.x_train) == len(ds.y_train)
    full = get_dataset(spec.split("_")[0], root=synth_root, seed=0)
    assert (ds.class_counts("test") == full.class_counts("test")).all(), "the test split must stay whole"
    assert len(set(ds.class_counts("test").tolist())) == 1 or spec == "neu"


def test_golden_totals(synth_root):
    assert [sum(GOLDEN[f"cifar10_lt{r}"]) for r in (100, 10, 50)] == [12406, 20431, 13996]
    assert sum(GOLDEN["cifar100_lt100"]) == 10847
    assert len(get_dataset("cifar10_rare5", root=synth_root).y_train) == 45_500
    assert len(get_dataset("cifar100_dom45_55", root=synth_root).y_train) == 11 * 500 + 89 * 300
    neu = get_dataset("neu", root=synth_root)
    assert (len(neu.y_train), len(neu.y_test)) == (5778, 1448)


def test_digits_and_suffixes():
    d = get_dataset("digits")
    assert d.x_train.shape[1:] == (1, 8, 8) and len(d.y_train) + len(d.y_test) == 1797
    dom = get_dataset("digits_dom1")
    counts, full = dom.class_counts(), d.class_counts()
    assert counts[0] == full[0]
    assert all(counts[c] == full[c] - round(0.9 * full[c]) for c in range(1, 10))
    rare = get_dataset("digits_rare10").class_counts()
    assert rare[9] == full[9] - round(0.9 * full[9]) and (rare[:9] == full[:9]).all()


def test_removal_is_seeded_and_order_preserving(synth_root):
    a, b = (get_dataset("cifar10_dom1", root=synth_root, seed=s) for s in (0, 0))
    c = get_dataset("cifar10_dom1", root=synth_root, seed=1)
    assert (a.y_train == b.y_train).all() and (a.x_train == b.x_train).all()
    assert not (a.x_train == c.x_train).all(), "different seeds must remove different images"
    full = get_dataset("cifar10", root=synth_root)
    # the kept images keep the original order: they form a subsequence of the full set
    keep_flat = full.x_train.reshape(len(full.x_train), -1)[:, :8]
    sub = a.x_train.reshape(len(a.x_train), -1)[:, :8]
    pos = [np.flatnonzero((keep_flat == row).all(1))[0] for row in sub[:50]]
    assert pos == sorted(pos)


@pytest.mark.parametrize("bad", ["cifar11", "cifar10_dom0", "cifar10_dom11", "cifar10_foo1", "imagenet", ""])
def test_unknown_spec_lists_grammar(bad, synth_root):
    with pytest.raises(KeyError, match="grammar|classes 1"):
        get_dataset(bad, root=synth_root)


def test_list_and_parse():
    assert "cifar100_dom45_55" in list_datasets() and list_datasets() == sorted(list_datasets())
    assert parse_spec("cifar100_dom45_55") == ("cifar100", "dom", tuple(range(44, 55)))


def test_missing_dataset_says_where_and_how(tmp_path):
    with pytest.raises(DatasetNotFoundError) as e:
        get_dataset("cifar10", root=str(tmp_path))
    msg = str(e.value)
    assert str(tmp_path) in msg and "unpack.py" in msg and "download" in msg


def test_corrupt_npz(tmp_path):
    (tmp_path / "cifar10.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(DatasetCorruptError, match="Delete it"):
        get_dataset("cifar10", root=str(tmp_path))
    np.savez(tmp_path / "neu.npz", x=np.zeros((3, 8, 8, 1), np.uint8))  # lacks y and classes
    with pytest.raises(DatasetCorruptError, match="missing arrays"):
        get_dataset("neu", root=str(tmp_path))


def test_image_folder(tmp_path):
    from PIL import Image

    names = [f"class{i:02d}" for i in range(10)]
    for split, n in (("train", 2), ("test", 1)):
        for c, name in enumerate(names):
            os.makedirs(tmp_path / "cifar10" / split / name)
            for i in range(n):
                img = Image.fromarray(np.full((32, 32, 3), 20 * c, np.uint8))
                img.save(tmp_path / "cifar10" / split / name / f"{i}.png")
    ds = get_dataset("cifar10", root=str(tmp_path))
    assert ds.classes == tuple(names) and ds.x_train.shape == (20, 3, 32, 32) and ds.x_test.shape == (10, 3, 32, 32)
    assert ds.y_train.tolist() == [c for c in range(10) for _ in range(2)] and ds.x_train[5].min() == 40
    for split in ("train", "test"):
        one = tmp_path / "bad" / "cifar10" / split / "only_one_class"
        os.makedirs(one)
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(one / "a.png")
    with pytest.raises(DatasetCorruptError, match="1 class: active learning for classification needs at least two"):
        get_dataset("cifar10", root=str(tmp_path / "bad"))


def test_data_root_env(monkeypatch, synth_root):
    monkeypatch.setenv("ALBENCH_DATA", synth_root)
    assert len(get_dataset("neu").y_test) == 1448


@pytest.mark.skipif(not os.path.exists(os.path.join(REAL_DATA, "cifar10.npz")), reason="no unpacked CIFAR-10")
def test_real_cifar10_order_and_counts():
    ds = get_dataset("cifar10_rare5", root=REAL_DATA)
    assert ds.x_train.shape == (45_500, 3, 32, 32)
    full = get_dataset("cifar10", root=REAL_DATA)
    assert full.y_train[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert full.classes[0] == "airplane" and full.class_counts("test").tolist() == [1000] * 10


@pytest.mark.skipif(not os.path.exists(os.path.join(REAL_DATA, "neu.npz")), reason="no unpacked NEU")
def test_real_neu_split():
    ds = get_dataset("neu", root=REAL_DATA)
    assert (len(ds.y_train), len(ds.y_test)) == (5778, 1448) and ds.x_train.shape[1:] == (1, 64, 64)
    assert (ds.class_counts() + ds.class_counts("test")).tolist() == NEU_SIZES


def test_a_trial_records_its_data_source_relative_to_the_data_root(synth_root, tmp_path):
    from bench.paper.report import shown_source

    assert get_dataset("cifar10_dom1", root=synth_root, seed=0).source == "cifar10.npz"
    link = tmp_path / "elsewhere"
    link.symlink_to(synth_root)   # the same files reached by another path: the same record
    assert get_dataset("cifar10", root=str(link), seed=0).source == "cifar10.npz"
    # reports show older records (a machine's path) the same way
    assert shown_source("/work/main/data/cifar10.npz", "/work/main/data") == "cifar10.npz"
    assert shown_source("data/cifar10.npz", "data") == "cifar10.npz"
    assert shown_source("/somewhere/else/cifar10.npz", "") == "cifar10.npz"
    assert shown_source("sklearn.datasets.load_digits", "") == "sklearn.datasets.load_digits"
