"""Your own data (folder:PATH, npz:PATH, register_dataset), long-tailed splits, the torchvision bases, and the
train_index / fingerprint fields, on generated files only (never the network)."""
import os
import struct
import time

import numpy as np
import pytest
from PIL import Image

from bench.core.errors import DataError, DatasetCorruptError, DatasetNotFoundError
from datasets import describe_grammar, get_dataset, parse_spec, register_dataset, registry
from datasets.imbalance import long_tail_counts
from datasets.splits import stratified_split


def save(path, arr):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.asarray(arr, np.uint8)).save(path)


def grey(v, size=12):
    return np.full((size, size), v, np.uint8)


def rgb(v, size=12):
    return np.stack([np.full((size, size), v + k, np.uint8) for k in range(3)], axis=2)


@pytest.fixture
def split_folder(tmp_path):
    """train/test folders mixing PNG and JPEG, grey and RGB (cat: RGB PNG, dog: grey JPEG)."""
    top = tmp_path / "my_imgs"
    for split, n in (("train", 3), ("test", 1)):
        for i in range(n):
            save(top / split / "cat" / f"{i}.png", rgb(10 * i))
            save(top / split / "dog" / f"{i}.jpg", grey(100 + 10 * i))
    (top / "train" / "dog" / "notes.txt").write_text("not an image, skipped")
    os.makedirs(top / "train" / ".ipynb_checkpoints")
    return top


def test_folder_train_test_grey_and_rgb_become_rgb(split_folder):
    ds = get_dataset(f"folder:{split_folder}")
    assert ds.classes == ("cat", "dog") and ds.source == str(split_folder)
    assert ds.x_train.shape == (6, 3, 12, 12) and ds.x_test.shape == (2, 3, 12, 12) and ds.x_train.dtype == np.uint8
    assert ds.y_train.tolist() == [0, 0, 0, 1, 1, 1] and ds.y_test.tolist() == [0, 1]
    assert ds.x_train[1, :, 0, 0].tolist() == [10, 11, 12]                     # RGB PNG, exact
    assert np.abs(ds.x_train[4].astype(int) - 110).max() <= 1                  # grey JPEG, repeated to RGB


def test_all_grey_folder_stays_one_channel_and_splits_80_20(tmp_path):
    for c, n in (("a", 10), ("b", 5)):
        for i in range(n):
            save(tmp_path / "imgs" / c / f"{i:02d}.png", grey(i))
    ds = get_dataset(f"folder:{tmp_path / 'imgs'}")
    assert ds.x_train.shape[1:] == (1, 12, 12)
    assert ds.class_counts().tolist() == [8, 4] and ds.class_counts("test").tolist() == [2, 1]
    y = np.repeat([0, 1], [10, 5])
    tr, te = stratified_split(y, 0.2, 0)
    assert ds.x_train[:, 0, 0, 0].tolist() == [k if k < 10 else k - 10 for k in tr]   # pixel = file number
    assert (get_dataset(f"folder:{tmp_path / 'imgs'}").x_test == ds.x_test).all(), "the split is fixed"


def test_ragged_sizes_need_image_size(tmp_path):
    save(tmp_path / "r" / "a" / "small.png", rgb(0, 10))
    save(tmp_path / "r" / "a" / "wide.jpg", np.zeros((12, 20, 3)))
    for i in range(4):
        save(tmp_path / "r" / "b" / f"{i}.png", grey(50, 16))
    with pytest.raises(DataError) as e:
        get_dataset(f"folder:{tmp_path / 'r'}")
    msg = str(e.value)
    assert "small.png" in msg and "wide.jpg" in msg and "10x10" in msg and "20x12" in msg and "image_size=" in msg
    ds = get_dataset(f"folder:{tmp_path / 'r'}", image_size=8)
    assert ds.x_train.shape[1:] == (3, 8, 8) and ds.x_test.shape[1:] == (3, 8, 8)
    want = np.asarray(Image.fromarray(grey(50, 16)).resize((8, 8), Image.BILINEAR))
    assert (ds.x_train[ds.y_train == 1][0, 0] == want).all()


def test_image_size_resizes_array_data():
    ds = get_dataset("digits_dom1", image_size=16)
    assert ds.x_train.shape[1:] == (1, 16, 16) and ds.x_test.shape[1:] == (1, 16, 16)
    with pytest.raises(ValueError, match="image_size=-1"):
        get_dataset("digits", image_size=-1)
    plain = get_dataset("digits_dom1")
    assert (ds.y_train == plain.y_train).all() and ds.fingerprint != plain.fingerprint


def make_errors(tmp_path, case):
    """A broken folder for each error case; returns (spec, error class, words the message must hold)."""
    top = tmp_path / case
    if case == "missing":
        return f"folder:{top}", DatasetNotFoundError, [str(top), "not found"]
    if case == "no_class_folders":
        save(top / "loose.png", grey(0))
        return f"folder:{top}", DatasetNotFoundError, ["no class folders", "<class>"]
    if case == "empty_class":
        save(top / "a" / "0.png", grey(0))
        os.makedirs(top / "b_empty")
        return f"folder:{top}", DatasetCorruptError, [str(top / "b_empty"), "no images"]
    if case == "unreadable":
        save(top / "a" / "0.png", grey(0))
        (top / "a" / "1.png").write_bytes(b"\x89PNG not really")
        return f"folder:{top}", DatasetCorruptError, [str(top / "a" / "1.png"), "not a readable image"]
    if case == "test_only_class":
        save(top / "train" / "a" / "0.png", grey(0))
        save(top / "test" / "a" / "0.png", grey(0))
        save(top / "test" / "zebra" / "0.png", grey(0))
        return f"folder:{top}", DatasetCorruptError, ["'zebra'", "not in the training split"]
    if case == "train_without_test":
        save(top / "train" / "a" / "0.png", grey(0))
        return f"folder:{top}", DatasetNotFoundError, ["no test/", str(top / "test")]
    if case == "file_not_folder":
        np.savez(tmp_path / "f.npz", x=np.zeros(1))
        return f"folder:{tmp_path / 'f.npz'}", DatasetNotFoundError, ["not a folder", "npz:PATH"]
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["missing", "no_class_folders", "empty_class", "unreadable", "test_only_class",
                                  "train_without_test", "file_not_folder"])
def test_folder_errors_name_the_cause(tmp_path, case):
    spec, err, words = make_errors(tmp_path, case)
    with pytest.raises(err) as e:
        get_dataset(spec)
    assert all(w in str(e.value) for w in words), str(e.value)


def write_npz(path, n_train=(20, 10, 6), n_test=(4, 4, 4), size=8, **override):
    rng = np.random.default_rng(1)
    y_tr, y_te = np.repeat(np.arange(len(n_train)), n_train), np.repeat(np.arange(len(n_test)), n_test)
    rng.shuffle(y_tr)
    a = dict(x_train=rng.integers(0, 256, (len(y_tr), size, size, 3), dtype=np.uint8), y_train=y_tr,
             x_test=rng.integers(0, 256, (len(y_te), size, size, 3), dtype=np.uint8), y_test=y_te,
             classes=np.array([f"k{i}" for i in range(len(n_train))]))
    a.update(override)
    np.savez(path, **{k: v for k, v in a.items() if v is not None})
    return a


def test_npz_both_layouts(tmp_path):
    a = write_npz(tmp_path / "x_y.npz")
    ds = get_dataset(f"npz:{tmp_path / 'x_y.npz'}")
    assert ds.classes == ("k0", "k1", "k2") and ds.x_train.shape == (36, 3, 8, 8)
    assert (ds.x_train == a["x_train"].transpose(0, 3, 1, 2)).all() and (ds.y_test == a["y_test"]).all()
    y = np.repeat([0, 1], [10, 5])
    x = np.arange(15 * 4, dtype=np.uint8).reshape(15, 2, 2)
    np.savez(tmp_path / "xy.npz", x=x, y=y, classes=np.array(["p", "q"]))
    ds = get_dataset(f"npz:{tmp_path / 'xy.npz'}")
    assert ds.x_train.shape[1:] == (1, 2, 2) and ds.class_counts().tolist() == [8, 4]
    assert ds.class_counts("test").tolist() == [2, 1]


@pytest.mark.parametrize("override, words", [
    (dict(y_train=np.r_[np.zeros(35, int), [3]]), ["y_train", "0..2"]),
    (dict(y_test=-np.ones(12, int)), ["y_test", "0..2"]),
    (dict(y_train=np.zeros(35, int)), ["x_train has 36 images", "y_train has 35 labels"]),
    (dict(x_test=np.zeros((12, 8, 8, 3), np.float32)), ["x_test", "float32", "uint8", "onvert"]),
    (dict(y_train=np.zeros(36)), ["y_train", "float64", "integer"]),
    (dict(classes=None), ["classes", "x_train, y_train, x_test, y_test"]),
    (dict(x_train=np.zeros((36, 8, 8, 5), np.uint8)), ["x_train", "(36, 8, 8, 5)", "C = 1"]),
])
def test_npz_errors_name_the_array(tmp_path, override, words):
    write_npz(tmp_path / "bad.npz", **override)
    with pytest.raises(DatasetCorruptError) as e:
        get_dataset(f"npz:{tmp_path / 'bad.npz'}")
    assert all(w in str(e.value) for w in words), str(e.value)


def test_npz_x_y_errors_and_unreadable_files(tmp_path):
    np.savez(tmp_path / "xy.npz", x=np.zeros((5, 4, 4), np.uint8), y=np.zeros(4, int), classes=np.array(["a"]))
    with pytest.raises(DatasetCorruptError, match="x has 5 images but y has 4 labels"):
        get_dataset(f"npz:{tmp_path / 'xy.npz'}")
    (tmp_path / "junk.npz").write_bytes(b"not an npz")
    with pytest.raises(DatasetCorruptError, match="junk.npz is not a readable .npz"):
        get_dataset(f"npz:{tmp_path / 'junk.npz'}")
    np.savez(tmp_path / "obj.npz", x=np.zeros((5, 4, 4), np.uint8), y=np.zeros(5, int),
             classes=np.array(["a", 1], dtype=object))
    with pytest.raises(DatasetCorruptError, match="dtype=str"):
        get_dataset(f"npz:{tmp_path / 'obj.npz'}")
    with pytest.raises(DatasetNotFoundError, match="nope.npz not found"):
        get_dataset(f"npz:{tmp_path / 'nope.npz'}")


def test_suffixes_on_paths_with_underscores_and_colons(tmp_path):
    folder = tmp_path / "my_data:v2"
    os.makedirs(folder)
    write_npz(folder / "x_y.npz", n_train=(20, 10, 6))
    p = folder / "x_y.npz"
    assert parse_spec(f"npz:{p}#rare2_3") == (f"npz:{p}", "rare", (1, 2))
    assert parse_spec("folder:C:/Data/X#lt100") == ("folder:C:/Data/X", "lt", 100)
    assert parse_spec("folder:/a#b#") == ("folder:/a#b", None, ())
    assert get_dataset(f"npz:{p}#dom1").class_counts().tolist() == [20, 1, 1]
    assert get_dataset(f"npz:{p}#rare2_3").class_counts().tolist() == [20, 1, 1]
    assert get_dataset(f"npz:{p}#rare3").class_counts().tolist() == [20, 10, 1]
    assert get_dataset(f"npz:{p}#LT4").class_counts().tolist() == [20, 10, 5]   # 20, int(20 / 2) = 10, 5
    with pytest.raises(KeyError, match="'foo' after '#' is not a suffix.*grammar"):
        get_dataset(f"npz:{p}#foo")
    with pytest.raises(KeyError, match="classes 1..3"):
        get_dataset(f"npz:{p}#dom4")


def test_suffixes_on_folders(tmp_path):
    for c, n in (("a", 20), ("b", 20), ("c", 20)):
        for i in range(n):
            save(tmp_path / "f" / c / f"{i}.png", grey(i))
    assert get_dataset(f"folder:{tmp_path / 'f'}#lt16").class_counts().tolist() == [16, 4, 1]
    assert get_dataset(f"folder:{tmp_path / 'f'}#dom2").class_counts().tolist() == [2, 16, 2]


def test_long_tail_profile_and_digits_lt10():
    assert long_tail_counts(5000, 100, 10) == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    full, lt = get_dataset("digits"), get_dataset("digits_lt10")
    assert full.class_counts().tolist() == [142, 145, 141, 146, 144, 145, 144, 143, 139, 144]
    # n_max = 146 (class 3, 0-based); class 0 has only 142 < n_0 = 146 and keeps all it has
    assert lt.class_counts().tolist() == [142, 113, 87, 67, 52, 40, 31, 24, 18, 14]
    assert (lt.class_counts("test") == full.class_counts("test")).all() and (lt.x_test == full.x_test).all()


def test_lt_is_seeded_and_order_preserving():
    a, b, c = (get_dataset("digits_lt10", seed=s) for s in (0, 0, 1))
    assert (a.train_index == b.train_index).all() and not np.array_equal(a.train_index, c.train_index)
    assert (np.diff(a.train_index) > 0).all()


@pytest.mark.parametrize("spec", ["digits", "digits_dom1", "digits_rare2_4", "digits_lt10"])
def test_train_index_points_into_the_base(spec):
    base, ds = get_dataset("digits"), get_dataset(spec, seed=3)
    assert ds.train_index.dtype == np.int64 and len(ds.train_index) == len(ds.y_train)
    assert (ds.x_train == base.x_train[ds.train_index]).all() and (ds.y_train == base.y_train[ds.train_index]).all()
    assert ds.fingerprint == base.fingerprint and len(ds.fingerprint) == 16
    assert (base.train_index == np.arange(len(base.y_train))).all()


def test_fingerprint_follows_content(tmp_path):
    a = write_npz(tmp_path / "a.npz")
    fp = get_dataset(f"npz:{tmp_path / 'a.npz'}").fingerprint
    assert fp == get_dataset(f"npz:{tmp_path / 'a.npz'}#lt3", seed=5).fingerprint
    x = a["x_test"].copy()
    x[0, 0, 0, 0] ^= 1
    write_npz(tmp_path / "b.npz", x_test=x)
    assert get_dataset(f"npz:{tmp_path / 'b.npz'}").fingerprint != fp
    write_npz(tmp_path / "c.npz", classes=np.array(["k0", "k1", "other"]))
    assert get_dataset(f"npz:{tmp_path / 'c.npz'}").fingerprint != fp
    big = dict(y_train=np.zeros(50_000, np.int64), x_train=np.zeros((12_500, 3, 32, 32), np.uint8),
               y_test=np.zeros(10, np.int64), x_test=np.zeros((10, 3, 32, 32), np.uint8), classes=["a"])
    t = time.perf_counter()
    registry.fingerprint(big)   # a quarter of CIFAR-10's bytes; the whole takes ~0.1 s with SHA extensions
    assert time.perf_counter() - t < 0.5


@pytest.fixture
def fresh_registry(monkeypatch):
    monkeypatch.setattr(registry, "BASES", dict(registry.BASES))


def toy_loader(root, download=False, **kw):
    y = np.repeat(np.arange(4), [30, 20, 10, 5])
    return dict(x_train=(np.arange(len(y) * 16) % 256).astype(np.uint8).reshape(-1, 4, 4), y_train=y,
                x_test=np.zeros((8, 4, 4), np.uint8), y_test=np.repeat(np.arange(4), 2),
                classes=["w", "x", "y", "z"], source="toy")


def test_register_dataset_with_every_suffix(fresh_registry):
    register_dataset("my_toy", toy_loader, num_classes=4, dom_fraction=0.5)
    assert get_dataset("my_toy").class_counts().tolist() == [30, 20, 10, 5]
    assert get_dataset("my_toy_dom1").class_counts().tolist() == [30, 10, 5, 3]      # round(2.5) = 2 of 5 go
    assert get_dataset("my_toy_rare2_3").class_counts().tolist() == [30, 2, 1, 5]    # 90 % of classes 2-3 go
    assert get_dataset("my_toy_lt10").class_counts().tolist() == [30, 13, 6, 3]
    assert get_dataset("my_toy").source == "toy" and "my_toy" in describe_grammar()
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("my_toy", toy_loader)
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("cifar10", toy_loader)
    with pytest.raises(ValueError, match="ends like a suffix"):
        register_dataset("toy_lt5", toy_loader)
    with pytest.raises(KeyError, match="classes 1..4"):
        get_dataset("my_toy_dom5")


def test_registered_loader_output_is_checked(fresh_registry):
    register_dataset("wrong_k", toy_loader, num_classes=5)
    with pytest.raises(DatasetCorruptError, match="has 5 classes, found 4"):
        get_dataset("wrong_k")
    register_dataset("floaty", lambda root, download=False, **kw: dict(toy_loader(root), x_train=np.zeros((65, 4, 4))))
    with pytest.raises(DatasetCorruptError, match="x_train is float64.*uint8"):
        get_dataset("floaty")
    register_dataset("sized", toy_loader)
    assert get_dataset("sized_lt10", image_size=6).x_train.shape[1:] == (1, 6, 6)


TV = {"mnist": ((28, 28), 1), "fashionmnist": ((28, 28), 1), "svhn": ((32, 32), 3), "stl10": ((96, 96), 3)}


@pytest.fixture(scope="module")
def tv_root(tmp_path_factory):
    """Stand-ins of torchvision's four bases: their image shapes, 10 classes, few images (counts 12..3)."""
    root = tmp_path_factory.mktemp("tv")
    for name, (hw, c) in TV.items():
        y_tr, y_te = np.repeat(np.arange(10), np.arange(12, 2, -1)), np.repeat(np.arange(10), 2)
        shape = hw if c == 1 else hw + (c,)
        np.savez(root / f"{name}.npz", x_train=np.zeros((len(y_tr),) + shape, np.uint8), y_train=y_tr,
                 x_test=np.ones((len(y_te),) + shape, np.uint8), y_test=y_te,
                 classes=np.array([f"{name}{i}" for i in range(10)]))
    return str(root)


@pytest.mark.parametrize("name", sorted(TV))
def test_torchvision_bases_from_npz(tv_root, name):
    (h, w), c = TV[name]
    ds = get_dataset(name, root=tv_root)
    assert ds.x_train.shape == (75, c, h, w) and ds.x_test.shape == (20, c, h, w) and ds.num_classes == 10
    assert ds.source == f"{name}.npz"   # recorded relative to the data root
    assert get_dataset(f"{name}_rare1", root=tv_root).class_counts().tolist()[:2] == [1, 11]
    assert get_dataset(f"{name}_lt4", root=tv_root).class_counts().tolist() == [12, 10, 8, 7, 6, 5, 4, 4, 3, 3]


def test_mnist_from_torchvision_files(tmp_path):
    """torchvision's own MNIST files (idx format, written here) are read when there is no mnist.npz."""
    raw = tmp_path / "MNIST" / "raw"
    os.makedirs(raw)
    for prefix, n in (("train", 30), ("t10k", 10)):
        y = np.arange(n, dtype=np.uint8) % 10
        x = np.repeat(y, 28 * 28).astype(np.uint8)
        header = b"\0\0\x08\x03" + struct.pack(">iii", n, 28, 28)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(header + x.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(b"\0\0\x08\x01" + struct.pack(">i", n) + y.tobytes())
    ds = get_dataset("mnist", root=str(tmp_path))
    assert ds.x_train.shape == (30, 1, 28, 28) and ds.classes[0] == "0 - zero"
    assert ds.source == os.path.join("MNIST", "raw")   # recorded relative to the data root
    assert ds.y_train[:12].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1] and ds.x_train[3].max() == 3


def test_missing_torchvision_base_says_where_and_how(tmp_path):
    with pytest.raises(DatasetNotFoundError) as e:
        get_dataset("stl10", root=str(tmp_path))
    assert "stl10.npz" in str(e.value) and "stl10_binary" in str(e.value) and "download" in str(e.value)


def test_grammar_lists_every_base_suffix_and_example():
    text = describe_grammar()
    for word in list(registry.BASES) + ["folder:PATH", "npz:PATH", "dom<K>", "rare<K>", "lt<R>", "#<suffix>",
                                        "cifar10_dom1", "cifar10_rare5", "cifar100_dom45_55", "cifar10_lt100",
                                        "folder:/path/to/imgs", "folder:/data/my_imgs#lt50", "npz:/data/mine.npz#dom2"]:
        assert word in text, word
    with pytest.raises(KeyError) as e:
        get_dataset("imagenet_lt100")
    assert "lt<R>" in str(e.value) and "folder:PATH" in str(e.value)
    for bad in ("cifar10_lt0", "cifar10_lt10_5", "folder:", "folder:/x#dom0"):
        with pytest.raises(KeyError):
            parse_spec(bad)


def test_user_data_end_to_end_through_the_cli(tmp_path):
    """`albench run --data folder:...#suffix` and `npz:...` run whole trials and draw figures; the paths hold
    underscores and colons, the images are grey and RGB, PNG and JPEG, of ragged sizes (image_size=)."""
    from tests.helpers import TINY, run_cli

    rng = np.random.default_rng(0)
    top = tmp_path / "my_imgs:v2"
    for c, n in (("a_cls", 40), ("b_cls", 30), ("c_cls", 30)):
        for i in range(n):
            size = 10 + i % 3
            img = rng.integers(0, 255, (size, size, 3) if i % 2 else (size, size), dtype=np.uint8)
            save(top / c / f"{i}.{'png' if i % 3 else 'jpg'}", img)
    npz = tmp_path / "my_data.npz"
    write_npz(npz, n_train=(40, 30, 30), n_test=(5, 5, 5))
    out = str(tmp_path / "res")
    tiny = [t for t in TINY if not t.startswith(("initial", "budget"))] + ["initial=10", "budget=5"]
    for spec in (f"folder:{top}#rare2", f"npz:{npz}#lt2"):
        r = run_cli("run", "--data", spec, "--strategy", "random,vabal", "--no-progress", "--out", out,
                    "image_size=8", "strategy_params.vabal.epochs=1", "strategy_params.vabal.mc_samples=2", *tiny)
        assert r.returncode == 0, r.stderr
    r = run_cli("figures", "--out", out)
    assert r.returncode == 0, r.stderr
    assert len([f for f in os.listdir(os.path.join(out, "figures")) if f.startswith("accuracy_")]) == 2
    r = run_cli("run", "--data", f"folder:{tmp_path / 'nothing_here'}", "--no-progress", "--out", out, *tiny)
    assert r.returncode == 2 and "nothing_here" in r.stderr and "Traceback" not in r.stderr
