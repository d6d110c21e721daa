"""Arrays as albench keeps them: uint8 N x C x H x W images and int64 labels, checked once for every loader
(``check_arrays``), with one message naming the array at fault and the fix. A leaf module."""
import numpy as np

from bench.core.errors import DatasetCorruptError

NPZ_KEYS = ["x_train", "y_train", "x_test", "y_test", "classes"]   # the arrays of an .npz with its own test split


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
        raise DatasetCorruptError(f"{source}: {key} holds labels from {y.min()} to {y.max()}, "
                                  f"outside 0..{num_classes - 1} "
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


def resize_images(x: np.ndarray, image_size: int) -> np.ndarray:
    """uint8 N x C x H x W images resized to ``image_size`` squared (PIL bilinear, one image at a time)."""
    from PIL import Image

    if x.shape[2:] == (image_size, image_size):
        return x
    out = np.empty((len(x), x.shape[1], image_size, image_size), np.uint8)
    for i, img in enumerate(x):
        im = Image.fromarray(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0))
        out[i] = np.asarray(im.resize((image_size, image_size), Image.BILINEAR)).reshape(image_size, image_size, -1
                                                                                        ).transpose(2, 0, 1)
    return out
