"""Readers for the base datasets: plain .npz, torchvision's own files (CIFAR-10/100, MNIST, Fashion-MNIST, SVHN,
STL-10), image folders, scikit-learn's digits, and the user's ``npz:PATH``.

Every loader is ``loader(root, download=False, **kw) -> dict`` with ``x_train, y_train, x_test, y_test``,
``classes`` and ``source``, or raises ``DatasetNotFoundError`` naming every place it looked. ``check_arrays``
turns what any loader returns (a registered one's too) into uint8 N x C x H x W images and int64 labels, or
raises one message naming the array at fault and the fix.
"""
import functools
import os
import zipfile

import numpy as np

from bench.errors import DatasetCorruptError, DatasetNotFoundError
from datasets.images import (USER_TEST_FRACTION, USER_SPLIT_SEED, read_class_folder, read_folder, resize_images,
                             user_path)

UNPACK_HINT = ("the offline copies of this project unpack with `python ../shared/data/unpack.py DIR` "
               "(then set ALBENCH_DATA=DIR or pass --data-root DIR)")
NEU_TEST_FRACTION, NEU_SPLIT_SEED = 0.2, 0      # paper Sec. 4.1: 20 % for evaluation, 5778 / 1448
DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED = 0.2, 0
NPZ_KEYS = ["x_train", "y_train", "x_test", "y_test", "classes"]
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


def to_nchw(x: np.ndarray) -> np.ndarray:
    """uint8 images as N x C x H x W, from N x H x W, N x H x W x C or N x C x H x W."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    if x.ndim != 4 or x.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, got {x.dtype} of shape {x.shape}")
    return np.ascontiguousarray(x)


def image_array(x, key: str, source: str) -> np.ndarray:
    """``x`` as uint8 N x C x H x W (C = 1 or 3), or DatasetCorruptError naming ``key`` and the fix."""
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise DatasetCorruptError(
            f"{source}: {key} is {x.dtype}; albench reads uint8 images (0..255). Convert it and save again, "
            f"e.g. {key} = np.clip(np.round({key} * 255), 0, 255).astype(np.uint8) for floats in 0..1.")
    if not (x.ndim == 3 or (x.ndim == 4 and (x.shape[1] in (1, 3) or x.shape[-1] in (1, 3)))):
        raise DatasetCorruptError(f"{source}: {key} has shape {x.shape}; expected images as N x H x W, "
                                  "N x H x W x C or N x C x H x W with C = 1 (grey) or 3 (RGB).")
    return to_nchw(x)


def label_array(y, key: str, n_images: int, x_key: str, num_classes: int, source: str) -> np.ndarray:
    """``y`` as int64 labels 0..K-1, one per image of ``x_key``, or DatasetCorruptError naming ``key``."""
    y = np.asarray(y)
    y = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DatasetCorruptError(f"{source}: {key} is {y.dtype} of shape {y.shape}; labels are one integer "
                                  f"0..K-1 per image (convert with {key}.astype(np.int64)).")
    if len(y) != n_images:
        raise DatasetCorruptError(f"{source}: {x_key} has {n_images} images but {key} has {len(y)} labels; "
                                  "give exactly one label per image.")
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise DatasetCorruptError(f"{source}: {key} holds labels from {y.min()} to {y.max()}, outside 0..{num_classes - 1} "
                                  f"({num_classes} class names); labels are 0-based indices into classes.")
    return y.astype(np.int64)


def check_arrays(raw: dict, name: str, image_size: int = 0) -> dict:
    """A loader's dict in the standard form: images uint8 N x C x H x W of one size and channel count (grey
    repeated to RGB where the other split is colour; resized to ``image_size`` squared if it is not 0),
    labels int64 in 0..K-1, classes as strings; DatasetCorruptError naming what is wrong otherwise."""
    missing = [k for k in NPZ_KEYS if k not in raw]
    if missing:
        raise DatasetCorruptError(f"the loader of {name!r} returned no {missing}; a loader returns a dict with "
                                  f"{', '.join(NPZ_KEYS)} (and source).")
    source = str(raw.get("source") or name)
    names = np.asarray(raw["classes"])
    if names.ndim != 1:
        raise DatasetCorruptError(f"{source}: classes is an array of shape {names.shape}; give one name per class, "
                                  "e.g. classes=np.array(['cat', 'dog']).")
    classes = [str(c) for c in names]
    twice = sorted({c for c in classes if classes.count(c) > 1})
    if twice:
        raise DatasetCorruptError(f"{source}: class name(s) {', '.join(map(repr, twice))} appear more than once in "
                                  "classes; each class needs its own name (their counts would merge in every table).")
    if len(classes) < 2:
        raise DatasetCorruptError(f"{source}: {len(classes)} class: active learning for classification needs at "
                                  "least two (every strategy would score 1.0).")
    out = dict(raw, classes=classes, source=source)
    for split in ("train", "test"):
        x = out[f"x_{split}"] = image_array(raw[f"x_{split}"], f"x_{split}", source)
        out[f"y_{split}"] = label_array(raw[f"y_{split}"], f"y_{split}", len(x), f"x_{split}", len(classes), source)
    for split in ("train", "test"):
        if not len(out[f"y_{split}"]):
            raise DatasetCorruptError(f"{source}: x_{split} holds no images; every class needs images in both "
                                      "splits.")
    empty = [c for c, n in zip(classes, np.bincount(out["y_train"], minlength=len(classes))) if n == 0]
    if empty:
        raise DatasetCorruptError(f"{source}: class(es) {', '.join(map(repr, empty))} have no training image (all "
                                  "went to the test split, or none exist); add training images or drop the class.")
    if out["x_train"].shape[1] != out["x_test"].shape[1]:
        out.update({k: np.repeat(out[k], 3, axis=1) if out[k].shape[1] == 1 else out[k] for k in ("x_train", "x_test")})
    if image_size:
        out.update({k: resize_images(out[k], image_size) for k in ("x_train", "x_test")})
    (h, w), (h2, w2) = out["x_train"].shape[2:], out["x_test"].shape[2:]
    if (h, w) != (h2, w2) and len(out["x_test"]):
        raise DatasetCorruptError(f"{source}: x_train images are {w}x{h} pixels but x_test images are {w2}x{h2}; "
                                  "pass image_size=N (e.g. image_size=32) to resize both to N x N.")
    return out


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


def stratified_split(y: np.ndarray, test_fraction: float, seed: int):
    """(train, test) index arrays; ``ceil(test_fraction * n_c)`` of each class c go to test, order kept."""
    rng = np.random.default_rng(seed)
    test = [rng.choice(np.flatnonzero(y == c), int(np.ceil(test_fraction * np.sum(y == c))), replace=False)
            for c in np.unique(y)]
    mask = np.zeros(len(y), bool)
    mask[np.concatenate(test)] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def split_arrays(x, y, classes, test_fraction, seed, source):
    tr, te = stratified_split(y, test_fraction, seed)
    return dict(x_train=x[tr], y_train=y[tr], x_test=x[te], y_test=y[te], classes=classes, source=source)


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
        raise DatasetNotFoundError(f"{p} is a folder; npz:PATH reads one .npz file (a folder of images is folder:PATH).")
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
