"""Readers for the base datasets: plain .npz, torchvision's own files (CIFAR-10/100, MNIST, Fashion-MNIST, SVHN,
STL-10), image folders, scikit-learn's digits, and the user's ``npz:PATH``.

Every loader is ``loader(root, download=False, **kw) -> dict`` with ``x_train, y_train, x_test, y_test``,
``classes`` and ``source``, or raises ``DatasetNotFoundError`` naming every place it looked.
``datasets.arrays.check_arrays`` turns what any loader returns (a registered one's too) into uint8 N x C x H x W
images and int64 labels, or raises one message naming the array at fault and the fix.
"""
import functools
import os
import zipfile

import numpy as np

from bench.core.errors import DatasetCorruptError, DatasetNotFoundError
from datasets.arrays import NPZ_KEYS, image_array, label_array
from datasets.images import USER_SPLIT_SEED, USER_TEST_FRACTION, read_class_folder, read_folder, user_path
from datasets.splits import split_arrays

UNPACK_HINT = ("the offline copies of this project unpack with `python ../shared/data/unpack.py DIR` "
               "(then set ALBENCH_DATA=DIR or pass --data-root DIR)")
NEU_TEST_FRACTION, NEU_SPLIT_SEED = 0.2, 0      # paper Sec. 4.1: 20 % for evaluation, 5778 / 1448
DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED = 0.2, 0
# name -> (torchvision class, what marks torchvision's copy in root); SVHN reads its "train" split (73,257
# images), not "extra"; STL-10 its labelled "train" (5,000) and "test" (8,000), not "unlabeled"
TORCHVISION = {
    "cifar10": ("CIFAR10", "cifar-10-batches-py"),
    "cifar100": ("CIFAR100", "cifar-100-python"),
    "mnist": ("MNIST", os.path.join("MNIST", "raw")),
    "fashionmnist": ("FashionMNIST", os.path.join("FashionMNIST", "raw")),
    "svhn": ("SVHN", "train_32x32.mat"),
    "stl10": ("STL10", "stl10_binary"),
}
# class names where torchvision has none (SVHN; STL-10 without its class_names.txt); SVHN's digit 0 is label 0
DEFAULT_CLASSES = {"svhn": [str(d) for d in range(10)],
                   "stl10": ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]}


def read_npz(path: str, keys) -> dict:
    """The arrays ``keys`` of an .npz; DatasetCorruptError if it is unreadable or lacks one."""
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in keys if k not in f.files]
            if missing:
                raise KeyError(f"missing arrays {missing}")
            return {k: f[k] for k in keys}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise DatasetCorruptError(f"{path} is unreadable or incomplete ({type(err).__name__}: {err}). "
                                  f"Delete it and create it again; {UNPACK_HINT}.") from err


def not_found(name, looked, extra=""):
    return DatasetNotFoundError(
        f"dataset {name!r} not found. Looked for: " + "; ".join(looked) + f". {extra}To provide it: {UNPACK_HINT}"
        ", or put an image folder (train/<class>/*, test/<class>/*) or an .npz with x_train, y_train, x_test, "
        "y_test, classes there.")


def torchvision_split(name: str, root: str, train: bool, download: bool):
    """(images, labels, classes) of one split of torchvision's copy of ``name`` in ``root``."""
    import torchvision

    cls_name = TORCHVISION[name][0]
    cls = getattr(torchvision.datasets, cls_name)
    split = dict(split="train" if train else "test") if cls_name in ("SVHN", "STL10") else dict(train=train)
    d = cls(root, download=download, **split)
    y = d.targets if hasattr(d, "targets") else d.labels
    return np.asarray(d.data), np.asarray(y, np.int64), list(getattr(d, "classes", None) or DEFAULT_CLASSES[name])


def load_torchvision(name: str, root: str, download: bool = False, image_size: int = 0, **kw) -> dict:
    """``name`` from ``<root>/<name>.npz``, torchvision's own files in ``root`` (downloaded with ``download``),
    or an image folder ``<root>/<name>/{train,test}/<class>/*``, in that order."""
    npz = os.path.join(root, f"{name}.npz")
    tv_dir = os.path.join(root, TORCHVISION[name][1])
    folder = os.path.join(root, name)
    if os.path.exists(npz):
        return dict(read_npz(npz, NPZ_KEYS), source=npz)
    if os.path.exists(tv_dir) or download:
        try:
            (x_tr, y_tr, classes), (x_te, y_te, _) = (torchvision_split(name, root, t, download) for t in (True, False))
        except Exception as err:  # torchvision raises RuntimeError on a bad checksum, URLError offline
            raise DatasetCorruptError(f"torchvision could not read {name} from {tv_dir} ({err}). "
                                      f"Delete {tv_dir} and try again; {UNPACK_HINT}.") from err
        return dict(x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te, classes=classes, source=tv_dir)
    if os.path.isdir(os.path.join(folder, "train")):
        return read_folder(folder, image_size)
    raise not_found(name, [npz, tv_dir + " (torchvision)", folder + "/train/<class>/*"],
                    "Pass download=true (a config override) to fetch torchvision's copy where the network allows. ")


load_cifar10 = functools.partial(load_torchvision, "cifar10")
load_cifar100 = functools.partial(load_torchvision, "cifar100")
load_mnist = functools.partial(load_torchvision, "mnist")
load_fashionmnist = functools.partial(load_torchvision, "fashionmnist")
load_svhn = functools.partial(load_torchvision, "svhn")
load_stl10 = functools.partial(load_torchvision, "stl10")


def load_neu(root, download=False, image_size=0, **kw):
    """NEU-CLS-64 from ``<root>/neu.npz`` (x, y, classes) or ``<root>/NEU-CLS-64/<class>/*``, split 80/20."""
    npz = os.path.join(root, "neu.npz")
    folders = [os.path.join(root, "NEU-CLS-64"), os.path.join(root, "neu", "NEU-CLS-64")]
    if os.path.exists(npz):
        return split_xy(read_npz(npz, ["x", "y", "classes"]), npz, NEU_TEST_FRACTION, NEU_SPLIT_SEED)
    for folder in folders:
        if os.path.isdir(folder):
            return split_arrays(*read_class_folder(folder, image_size), NEU_TEST_FRACTION, NEU_SPLIT_SEED, folder)
    raise not_found("neu", [npz] + [f + "/<class>/*.jpg" for f in folders], "NEU has no download. ")


def split_xy(a: dict, source: str, test_fraction: float, seed: int) -> dict:
    """A loader's dict from arrays ``x, y, classes`` (checked first), split per class by ``stratified_split``."""
    classes = [str(c) for c in a["classes"]]
    x = image_array(a["x"], "x", source)
    return split_arrays(x, label_array(a["y"], "y", len(x), "x", len(classes), source), classes, test_fraction,
                        seed, source)


def load_digits(root=None, download=False, **kw):
    """scikit-learn's bundled 8x8 digits (1797 images, values 0..16 scaled to 0..255), split 80/20."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    return split_arrays(x, d.target.astype(np.int64), [str(c) for c in d.target_names],
                        DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED, "sklearn.datasets.load_digits")


def load_npz(path: str, root: str, download: bool = False, **kw) -> dict:
    """``npz:PATH``: arrays ``x_train, y_train, x_test, y_test, classes``, or ``x, y, classes`` split 80/20 per
    class as NEU (``stratified_split``, seed 0); ``download`` is ignored (your data has no download)."""
    p = user_path(path, root)
    if os.path.isdir(p):
        raise DatasetNotFoundError(f"{p} is a folder; npz:PATH reads one .npz file "
                                   "(a folder of images is folder:PATH).")
    try:
        f = np.load(p, allow_pickle=False)
        if not hasattr(f, "files"):
            raise ValueError("a single array (.npy), not an .npz archive")
        with f:
            a = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        hint = ("save class names as strings, np.array(names, dtype=str), and the rest as numeric arrays"
                if "Object arrays" in str(err) else
                "write it with np.savez(PATH, x_train=..., y_train=..., x_test=..., y_test=..., classes=...)")
        raise DatasetCorruptError(f"{p} is not a readable .npz ({type(err).__name__}: {err}); {hint}.") from err
    if "classes" not in a or not ({"x_train", "y_train", "x_test", "y_test"} <= set(a) or {"x", "y"} <= set(a)):
        raise DatasetCorruptError(f"{p} holds arrays {sorted(a)}; npz:PATH needs x_train, y_train, x_test, y_test, "
                                  "classes (or x, y, classes, split 80/20), classes = np.array(names) in label order.")
    if "x_train" in a:
        return dict({k: a[k] for k in NPZ_KEYS}, source=p)
    return split_xy(a, p, USER_TEST_FRACTION, USER_SPLIT_SEED)
