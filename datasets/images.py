"""Image files and image folders: ``folder:PATH`` and the folder copies of the named bases.

Choices: class names are the sorted folder names (label order); hidden entries (``.DS_Store``,
``.ipynb_checkpoints``) and files without an image extension are skipped; 16-bit grey images are scaled to 8
bits (x / 257), 32-bit integer and floating-point images are refused with the conversion to make (their
range is the data's, not the format's); grey images stay one channel unless
the dataset mixes grey and colour, then all become RGB (grey repeated); palette, alpha and CMYK images become RGB
(alpha dropped); ``image_size=N`` resizes every image to N x N with PIL's bilinear filter (aspect not kept).
"""
import os

import numpy as np

from bench.core.errors import DataError, DatasetCorruptError, DatasetNotFoundError
from datasets.splits import split_arrays

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")
USER_TEST_FRACTION, USER_SPLIT_SEED = 0.2, 0  # one folder PATH/<class>/*: 20 % of each class to test, as NEU
LAYOUTS = "PATH/train/<class>/* with PATH/test/<class>/*, or PATH/<class>/* (split 80/20 per class)"


def read_image(path: str, image_size: int = 0) -> np.ndarray:
    """One image as uint8 H x W (grey) or H x W x 3; resized to ``image_size`` squared when it is not 0."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.mode.startswith("I;16"):   # 16-bit grey: scaled to 8 bits (65535 -> 255), never clipped
                im = Image.fromarray(np.round(np.asarray(im, np.float64) / 257.0).astype(np.uint8))
            elif im.mode in ("I", "F"):
                kind = "32-bit integer" if im.mode == "I" else "floating-point"
                raise DatasetCorruptError(
                    f"{path} is a {kind} image: albench reads 8-bit images (and scales 16-bit ones), and will not "
                    "guess this one's range. Convert it to 8 bits with the scaling your data needs, e.g. "
                    "Image.fromarray(np.clip(a / a_max * 255, 0, 255).astype(np.uint8)).save(...)")
            im = im.convert("L" if im.mode in GREY_MODES else "RGB")
            if image_size:
                im = im.resize((image_size, image_size), Image.BILINEAR)
            return np.asarray(im, np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise DatasetCorruptError(f"{path} is not a readable image ({type(err).__name__}: {err}); "
                                  "replace or delete it") from err


def class_folders(top: str) -> list:
    """The sorted, non-hidden sub-folders of ``top``: the class names in label order."""
    return sorted(d for d in os.listdir(top) if not d.startswith(".") and os.path.isdir(os.path.join(top, d)))


def image_files(folder: str) -> list:
    """The sorted image files of one class folder (by extension; hidden files skipped)."""
    return sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTS) and not f.startswith("."))


def read_split(top: str, classes=None, image_size: int = 0):
    """(paths, images, labels, classes) of ``top/<class>/*``; ``classes`` fixes the label order (a test split).

    A folder without class folders, an empty class folder, or (given ``classes``) a class not among them
    raises a message naming it."""
    found = class_folders(top)
    if not found:
        raise DatasetNotFoundError(f"{top} has no class folders: put each class's images in {top}/<class>/; "
                                   f"folder:PATH reads {LAYOUTS}.")
    extra = [c for c in found if classes is not None and c not in classes]
    if extra:
        raise DatasetCorruptError(f"class {extra[0]!r} is in {top} but not in the training split "
                                  f"({os.path.join(os.path.dirname(top), 'train')}); add its training images "
                                  "there or remove it from the test split.")
    classes = list(classes if classes is not None else found)
    paths, labels = [], []
    for name in found:
        files = image_files(os.path.join(top, name))
        if not files:
            raise DatasetCorruptError(f"class folder {os.path.join(top, name)} holds no images "
                                      f"({', '.join(IMAGE_EXTS)}); add images or remove the folder.")
        paths += [os.path.join(top, name, f) for f in files]
        labels += [classes.index(name)] * len(files)
    return paths, [read_image(p, image_size) for p in paths], np.asarray(labels, np.int64), classes


def stack_images(paths, images) -> np.ndarray:
    """The images as one uint8 N x C x H x W array: grey repeated to RGB where colour is present; images of
    differing sizes raise one message naming two of them and the fix (``image_size=N``)."""
    sizes = [im.shape[:2] for im in images]
    odd = next((i for i, s in enumerate(sizes) if s != sizes[0]), None)
    if odd is not None:
        (h0, w0), (h1, w1) = sizes[0], sizes[odd]
        raise DataError(f"images differ in size: {paths[0]} is {w0}x{h0} pixels, {paths[odd]} is {w1}x{h1}; "
                        "pass image_size=N (e.g. image_size=32) to resize every image to N x N.")
    if any(im.ndim == 3 for im in images):
        images = [im if im.ndim == 3 else np.repeat(im[:, :, None], 3, axis=2) for im in images]
        return np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2))
    return np.stack(images)[:, None]


def user_path(path: str, root: str) -> str:
    """``path`` as given (``~`` expanded) when it exists, else under the data root; DatasetNotFoundError if neither."""
    looked = [os.path.abspath(os.path.expanduser(path))]
    if not os.path.isabs(os.path.expanduser(path)):
        looked.append(os.path.join(root, path))
    for p in looked:
        if os.path.exists(p):
            return p
    raise DatasetNotFoundError(f"{path} not found (looked at {' and '.join(looked)}); give an existing path, "
                               "absolute or relative to the working directory or the data root.")


def load_folder(path: str, root: str, download: bool = False, image_size: int = 0, **kw) -> dict:
    """``folder:PATH``: ``PATH/train/<class>/*`` and ``PATH/test/<class>/*``, or ``PATH/<class>/*`` split 80/20
    per class (``stratified_split`` with seed 0, as NEU); ``download`` is ignored (your data has no download)."""
    top = user_path(path, root)
    if not os.path.isdir(top):
        raise DatasetNotFoundError(f"{top} is not a folder; folder:PATH reads {LAYOUTS} (an .npz is npz:PATH).")
    return read_folder(top, image_size) if os.path.isdir(os.path.join(top, "train")) else \
        split_arrays(*read_class_folder(top, image_size), USER_TEST_FRACTION, USER_SPLIT_SEED, top)


def read_class_folder(top: str, image_size: int = 0):
    """(x, y, classes) of one folder ``top/<class>/*``."""
    paths, images, y, classes = read_split(top, image_size=image_size)
    return stack_images(paths, images), y, classes


def read_folder(top: str, image_size: int = 0) -> dict:
    """A loader's dict from ``top/train/<class>/*`` and ``top/test/<class>/*`` (the test classes a subset)."""
    test = os.path.join(top, "test")
    if not os.path.isdir(test):
        raise DatasetNotFoundError(f"{top} has train/ but no test/: add {test}/<class>/*, or move the class "
                                   f"folders up to {top}/<class>/* to have them split 80/20.")
    p_tr, im_tr, y_tr, classes = read_split(os.path.join(top, "train"), image_size=image_size)
    p_te, im_te, y_te, _ = read_split(test, classes, image_size)
    x = stack_images(p_tr + p_te, im_tr + im_te)  # one stack: one size and one channel count for both splits
    return dict(x_train=x[:len(y_tr)], y_train=y_tr, x_test=x[len(y_tr):], y_test=y_te, classes=classes, source=top)
