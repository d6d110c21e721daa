"""Readers for the base datasets: plain .npz, torchvision's CIFAR files, image folders, scikit-learn's digits.

Every loader returns a dict with ``x_train, y_train, x_test, y_test`` (uint8 N x C x H x W, int64),
``classes`` and ``source``, or raises ``DatasetNotFoundError`` naming every place it looked.
"""
import os
import zipfile

import numpy as np

from bench.errors import DatasetCorruptError, DatasetNotFoundError

UNPACK_HINT = ("the offline copies of this project unpack with `python ../shared/data/unpack.py DIR` "
               "(then set ALBENCH_DATA=DIR or pass --data-root DIR)")
NEU_TEST_FRACTION, NEU_SPLIT_SEED = 0.2, 0      # paper Sec. 4.1: 20 % for evaluation, 5778 / 1448
DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED = 0.2, 0
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")


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


def read_image_folder(path: str, split: str, classes=None):
    """Images of ``path/<split>/<class>/*`` as (x, y, classes); classes are the sorted folder names."""
    from PIL import Image

    top = os.path.join(path, split) if split else path
    classes = classes or sorted(d for d in os.listdir(top) if os.path.isdir(os.path.join(top, d)))
    xs, ys = [], []
    for label, name in enumerate(classes):
        folder = os.path.join(top, name)
        for fname in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            if fname.lower().endswith(IMAGE_EXTS):
                try:
                    with Image.open(os.path.join(folder, fname)) as im:
                        xs.append(np.asarray(im.convert("L" if im.mode in ("L", "1", "I;16") else "RGB")))
                except OSError as err:
                    raise DatasetCorruptError(f"{os.path.join(folder, fname)} is not a readable image ({err})")
                ys.append(label)
    if not xs:
        raise DatasetNotFoundError(f"no images under {top}/<class>/")
    return to_nchw(np.stack(xs)), np.asarray(ys, np.int64), list(classes)


def not_found(name, looked, extra=""):
    return DatasetNotFoundError(
        f"dataset {name!r} not found. Looked for: " + "; ".join(looked) + f". {extra}To provide it: {UNPACK_HINT}"
        ", or put an image folder (train/<class>/*, test/<class>/*) or an .npz with x_train, y_train, x_test, "
        "y_test, classes there.")


def load_cifar(name: str, root: str, download: bool = False) -> dict:
    """CIFAR-10/100 from ``<root>/<name>.npz``, torchvision's files in ``root``, or ``<root>/<name>/{train,test}``."""
    npz = os.path.join(root, f"{name}.npz")
    tv_dir = os.path.join(root, "cifar-10-batches-py" if name == "cifar10" else "cifar-100-python")
    folder = os.path.join(root, name)
    if os.path.exists(npz):
        a = read_npz(npz, ["x_train", "y_train", "x_test", "y_test", "classes"])
        return dict(x_train=to_nchw(a["x_train"]), y_train=a["y_train"].astype(np.int64),
                    x_test=to_nchw(a["x_test"]), y_test=a["y_test"].astype(np.int64),
                    classes=[str(c) for c in a["classes"]], source=npz)
    if os.path.isdir(tv_dir) or download:
        import torchvision

        cls = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
        try:
            tr, te = (cls(root, train=t, download=download) for t in (True, False))
        except Exception as err:  # torchvision raises RuntimeError on a bad checksum, URLError offline
            raise DatasetCorruptError(f"torchvision could not read {name} from {tv_dir} ({err}). "
                                      f"Delete {tv_dir} and try again; {UNPACK_HINT}.") from err
        return dict(x_train=to_nchw(tr.data), y_train=np.asarray(tr.targets, np.int64), x_test=to_nchw(te.data),
                    y_test=np.asarray(te.targets, np.int64), classes=list(tr.classes), source=tv_dir)
    if os.path.isdir(os.path.join(folder, "train")):
        x_tr, y_tr, classes = read_image_folder(folder, "train")
        x_te, y_te, _ = read_image_folder(folder, "test", classes)
        return dict(x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te, classes=classes, source=folder)
    raise not_found(name, [npz, tv_dir + " (torchvision)", folder + "/train/<class>/*"],
                    "Pass download=true (a config override) to fetch torchvision's copy where the network allows. ")


def load_cifar10(root, download=False):
    return load_cifar("cifar10", root, download)


def load_cifar100(root, download=False):
    return load_cifar("cifar100", root, download)


def load_neu(root, download=False):
    """NEU-CLS-64 from ``<root>/neu.npz`` (x, y, classes) or ``<root>/NEU-CLS-64/<class>/*``, split 80/20."""
    npz = os.path.join(root, "neu.npz")
    folders = [os.path.join(root, "NEU-CLS-64"), os.path.join(root, "neu", "NEU-CLS-64")]
    if os.path.exists(npz):
        a = read_npz(npz, ["x", "y", "classes"])
        x, y, classes = to_nchw(a["x"]), a["y"].astype(np.int64), [str(c) for c in a["classes"]]
        return split_arrays(x, y, classes, NEU_TEST_FRACTION, NEU_SPLIT_SEED, npz)
    for folder in folders:
        if os.path.isdir(folder):
            x, y, classes = read_image_folder(folder, "")
            return split_arrays(x, y, classes, NEU_TEST_FRACTION, NEU_SPLIT_SEED, folder)
    raise not_found("neu", [npz] + [f + "/<class>/*.jpg" for f in folders], "NEU has no download. ")


def load_digits(root=None, download=False):
    """scikit-learn's bundled 8x8 digits (1797 images, values 0..16 scaled to 0..255), split 80/20."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    return split_arrays(x, d.target.astype(np.int64), [str(c) for c in d.target_names],
                        DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED, "sklearn.datasets.load_digits")
