"""Dataset specs: a base dataset plus an optional seeded imbalance suffix (paper Sec. 4.1).

Grammar (class numbers are 1-based, as in the paper; ``describe_grammar()`` prints it with every base):

    <base>[_<suffix>]      a named base: cifar10 | cifar100 | neu | digits | mnist | fashionmnist | svhn |
                           stl10 | a name given to register_dataset
    folder:PATH[#<suffix>] your image folder: PATH/train/<class>/* and PATH/test/<class>/*, or PATH/<class>/*
    npz:PATH[#<suffix>]    your .npz: x_train, y_train, x_test, y_test, classes (or x, y, classes)

    suffix dom<K>          keep class K whole, remove a fraction of every other class
           dom<A>_<B>      keep classes A..B (inclusive) whole, remove a fraction of every other class
           rare<K>         remove a fraction of class K
           rare<A>_<B>     remove a fraction of classes A..B
           lt<R>           long-tailed: class c (0-based) keeps int(n_max * R^(-c/(K-1))) images

Paths take ``#`` before the suffix because ``_`` and ``:`` are common in paths (``folder:C:/x#lt100``); the
text after a path's last ``#`` must be a suffix (a path that itself holds ``#`` ends with one: ``npz:/a#b.npz#``).
The fraction removed is 90 % (the paper's CIFAR-10 variants), except ``cifar100_dom*``, which removes
40 % (CIFAR-100^{+[45:55]}); a registered base names its own.  Removal touches the training split only, is
exact per class, preserves the original sample order, and is drawn from a stream derived from the trial seed
alone (``datasets.imbalance``), so every strategy sees the same dataset under a seed.
"""
import functools
import hashlib
import math
import os
import re
from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional, Tuple

import numpy as np

from bench.core.errors import ConfigError, DatasetCorruptError, UnknownNameError
from datasets import arrays, images, sources
from datasets.imbalance import removal_keep, suffix_keep  # noqa: F401  (removal_keep: the public helper)


class Base(NamedTuple):
    """A named base: its loader, its number of classes (None: whatever the loader returns), and the fractions
    ``_dom`` (of every other class) and ``_rare`` (of the named classes) remove."""

    loader: Callable
    num_classes: Optional[int]
    dom_fraction: float
    rare_fraction: float


BASES = {
    "cifar10": Base(sources.load_cifar10, 10, 0.9, 0.9),
    "cifar100": Base(sources.load_cifar100, 100, 0.4, 0.9),
    "neu": Base(sources.load_neu, 9, 0.9, 0.9),
    "digits": Base(sources.load_digits, 10, 0.9, 0.9),
    "mnist": Base(sources.load_mnist, 10, 0.9, 0.9),
    "fashionmnist": Base(sources.load_fashionmnist, 10, 0.9, 0.9),
    "svhn": Base(sources.load_svhn, 10, 0.9, 0.9),
    "stl10": Base(sources.load_stl10, 10, 0.9, 0.9),
}
# shapes of the paper's bases for planning where their data is absent: (channels, size), train per class, test
KNOWN_SHAPES = {
    "cifar10": ((3, 32), [5000] * 10, 10_000),
    "cifar100": ((3, 32), [500] * 100, 10_000),
    "neu": ((1, 64), [n - math.ceil(0.2 * n) for n in (1210, 296, 775, 1148, 797, 200, 1589, 773, 438)], 1448),
}
# path bases: scheme -> loader(path, root, download=False, image_size=0)
SCHEMES = {"folder": images.load_folder, "npz": sources.load_npz}
# the specs the paper uses (and the mission's examples), listed by list_datasets(); the grammar accepts more
LISTED = (
    ["cifar10"] + [f"cifar10_{k}{c}" for k in ("dom", "rare") for c in (1, 5, 10)]
    + ["cifar100", "cifar100_dom45_55", "neu", "digits"]
    + [f"digits_{k}{c}" for k in ("dom", "rare") for c in (1, 5, 10)]
)
EXAMPLES = ("cifar10_dom1", "cifar10_rare5", "cifar100_dom45_55", "cifar10_lt100", "folder:/path/to/imgs",
            "folder:/data/my_imgs#lt50", "npz:/data/mine.npz#dom2")
_SUFFIX = r"(?P<kind>dom|rare|lt)(?P<a>[0-9]+)(?:_(?P<b>[0-9]+))?"
_NAMED_RE = re.compile(r"(?P<base>[a-z0-9][a-z0-9_.\-]*?)(?:_" + _SUFFIX + ")?")
_SUFFIX_RE = re.compile(_SUFFIX)
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.\-]*")


class ParsedSpec(NamedTuple):
    """``base`` (a name, or ``scheme:PATH``), ``kind`` (None, "dom", "rare", "lt") and ``value`` (the 0-based
    classes of dom/rare, the ratio R of lt)."""

    base: str
    kind: Optional[str]
    value: object


@dataclass(frozen=True)
class Dataset:
    """Images as uint8 N x C x H x W, labels as int64, class names in label order.

    ``train_index[i]`` is training image i's row in the base dataset's training split before any removal (so
    a feature file of one row per base training image is indexed by it); ``fingerprint`` is a short hash of
    the base data's content (both splits, before removal, after resizing) and class names."""

    spec: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: Tuple[str, ...]
    source: str = ""  # where the data was read from
    train_index: Optional[np.ndarray] = None  # None: 0..n-1 (nothing removed)
    fingerprint: str = ""
    base: str = ""    # the base dataset the spec draws from (a feature set of the base serves every suffix)

    def __post_init__(self):
        if self.train_index is None:
            object.__setattr__(self, "train_index", np.arange(len(self.y_train), dtype=np.int64))

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_counts(self, split: str = "train") -> np.ndarray:
        y = self.y_train if split == "train" else self.y_test
        return np.bincount(y, minlength=self.num_classes)


def list_datasets():
    """The dataset specs of the paper protocol (sorted); `get_dataset` accepts the whole grammar."""
    return sorted(LISTED)


def describe_grammar() -> str:
    """A few lines for ``albench list``: the grammar, every base, every suffix, and examples."""
    other, rare = ("".join(f"; {n}: {getattr(b, f) * 100:.0f} %" for n, b in sorted(BASES.items())
                           if getattr(b, f) != 0.9) for f in ("dom_fraction", "rare_fraction"))
    return "\n".join([
        "dataset spec grammar: <base>[_<suffix>] | folder:PATH[#<suffix>] | npz:PATH[#<suffix>]",
        f"  <base>        {' '.join(sorted(BASES))}",
        f"  folder:PATH   your images: {images.LAYOUTS}",
        "  npz:PATH      your .npz: x_train, y_train, x_test, y_test, classes (or x, y, classes, split 80/20)",
        "  suffixes (class numbers 1-based; the training split only, drawn by the trial seed):",
        f"    dom<K>  dom<A>_<B>    keep class K (classes A..B) whole, remove 90 % of every other class{other}",
        f"    rare<K> rare<A>_<B>   remove 90 % of class K (of classes A..B){rare}",
        "    lt<R>                 long-tailed: class c (0-based) keeps int(n_max * R^(-c/(K-1))) images",
        f"  examples: {' '.join(EXAMPLES)}",
    ])


def _unknown(spec, why="") -> UnknownNameError:
    return UnknownNameError(f"unknown dataset {spec!r}{why}; the {describe_grammar()}")


def parse_spec(spec: str) -> ParsedSpec:
    """Split a spec into (base, kind, value) with 0-based classes; KeyError naming the grammar on a bad spec.

    Named specs are case-insensitive; a path keeps its case. For a base whose class count is known only once
    it is read (a path, a registered base without ``num_classes``), ``get_dataset`` checks the class range."""
    if not isinstance(spec, str):
        raise _unknown(spec)
    scheme, colon, rest = spec.strip().partition(":")
    if colon and scheme.lower() in SCHEMES:
        path, _, suffix = rest.rpartition("#") if "#" in rest else (rest, "", "")
        m = _SUFFIX_RE.fullmatch(suffix.lower())
        if not path or (suffix and not m):
            raise _unknown(spec, f" ({suffix!r} after '#' is not a suffix)" if path else " (no path)")
        return _parsed(spec, f"{scheme.lower()}:{path}", m if suffix else None, None)
    m = _NAMED_RE.fullmatch(spec.strip().lower())
    if not m or m["base"] not in BASES:
        raise _unknown(spec)
    return _parsed(spec, m["base"], m if m["kind"] else None, BASES[m["base"]].num_classes)


def _parsed(spec, base, m, n_classes) -> ParsedSpec:
    if m is None:
        return ParsedSpec(base, None, ())
    a, b = int(m["a"]), m["b"]
    if m["kind"] == "lt":
        if b is not None or a < 1:
            raise _unknown(spec, " (lt<R> takes one ratio R >= 1)")
        return ParsedSpec(base, "lt", a)
    b = int(b or a)
    if not 1 <= a <= b or (n_classes and b > n_classes):
        raise UnknownNameError(f"dataset {spec!r}: {base} has classes 1..{n_classes or 'K'} (1-based, A <= B); "
                       f"the {describe_grammar()}")
    return ParsedSpec(base, m["kind"], tuple(range(a - 1, b)))


def register_dataset(name: str, loader: Callable, num_classes: Optional[int] = None, dom_fraction: float = 0.9,
                     rare_fraction: float = 0.9) -> None:
    """Make ``name`` (and ``name_dom1``, ``name_lt10``, ...) a dataset spec.

    ``loader(root, download=False, **kw)`` returns the dict the built-in loaders return: ``x_train, y_train,
    x_test, y_test`` (uint8 images N x H x W, N x H x W x C or N x C x H x W; integer labels 0..K-1),
    ``classes`` (names in label order) and optionally ``source``; ``kw`` holds ``image_size`` (the registry
    resizes what comes back anyway). ``num_classes`` is checked against ``classes`` when given. A taken name,
    or one that would read as a base plus a suffix, raises ValueError."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or name in SCHEMES:
        raise ConfigError(f"dataset name {name!r}: use lowercase letters, digits, '_', '.', '-' (not {list(SCHEMES)})")
    if name in BASES:
        raise ConfigError(f"dataset {name!r} is already registered; pick another name")
    if _NAMED_RE.fullmatch(name)["kind"]:
        raise ConfigError(f"dataset name {name!r} ends like a suffix (_dom<K>, _rare<K>, _lt<R>); pick another name")
    if not callable(loader):
        raise ConfigError(f"dataset {name!r}: loader must be callable as loader(root, download=False, **kw)")
    BASES[name] = Base(loader, num_classes, float(dom_fraction), float(rare_fraction))


def data_root(root: Optional[str] = None) -> str:
    """``root`` if given, else ``$ALBENCH_DATA``, else ``~/.cache/albench``."""
    return os.path.expanduser(root or os.environ.get("ALBENCH_DATA") or os.path.join("~", ".cache", "albench"))


def fingerprint(raw: dict) -> str:
    """First 16 hex digits of sha256 over y_train, x_train, y_test, x_test (shape, dtype, bytes) and the class
    names: a feature file made for one copy of a dataset can be checked against another (~0.1 s for CIFAR-10)."""
    h = hashlib.sha256()
    for k in ("y_train", "x_train", "y_test", "x_test"):
        a = np.ascontiguousarray(raw[k])
        h.update(f"{k}{a.shape}{a.dtype}".encode())
        h.update(a.reshape(-1).view(np.uint8))
    h.update("\n".join(raw["classes"]).encode())
    return h.hexdigest()[:16]


def base_of(base: str) -> Base:
    """The Base of a parsed spec's ``base``: a named one, or ``scheme:PATH`` bound to its path."""
    scheme, colon, path = base.partition(":")
    if colon and scheme in SCHEMES:
        return Base(functools.partial(SCHEMES[scheme], path), None, 0.9, 0.9)
    return BASES[base]


def get_dataset(spec: str, root: Optional[str] = None, seed: int = 0, download: bool = False,
                image_size: int = 0) -> Dataset:
    """Load ``spec`` (see the module docstring) from ``data_root(root)``; ``seed`` draws the removal;
    ``image_size`` > 0 resizes every image to image_size x image_size (PIL bilinear), 0 keeps them as they are."""
    base = parse_spec(spec).base
    if int(image_size) < 0:
        raise ConfigError(f"image_size={image_size}: give a size N > 0 to resize to N x N, or 0 to keep the images")
    info = base_of(base)
    raw = arrays.check_arrays(info.loader(data_root(root), download=download, image_size=int(image_size)),
                               base, int(image_size))
    n_classes = len(raw["classes"])
    if info.num_classes and n_classes != info.num_classes:
        raise DatasetCorruptError(f"{raw['source']}: {base} has {info.num_classes} classes, found {n_classes}")
    x_train, y_train = raw["x_train"], raw["y_train"]
    keep = kept_index(spec, y_train, n_classes, seed, raw["source"])
    if keep is not None:
        x_train, y_train = x_train[keep], y_train[keep]
    return Dataset(spec=spec, x_train=x_train, y_train=y_train, x_test=raw["x_test"], y_test=raw["y_test"],
                   classes=tuple(raw["classes"]), source=relative_source(raw["source"], data_root(root)),
                   train_index=keep, fingerprint=fingerprint(raw), base=base)


def relative_source(source: str, root: str) -> str:
    """A file under the data root as its path relative to the root (``cifar10.npz``): what a trial records,
    so results name no machine's folders (the fingerprint identifies the content); anything else unchanged."""
    if not source or not os.path.exists(source):
        return source
    rel = os.path.relpath(os.path.realpath(source), os.path.realpath(root))
    return source if rel.startswith(os.pardir) else rel


def kept_index(spec: str, y_base, n_classes: int, seed: int = 0, source: str = ""):
    """The indices of its base's training labels ``y_base`` that ``spec``'s suffix keeps at ``seed`` (None: no
    suffix, all kept): ``get_dataset``'s removal, also applied to labels alone (a plan loads each base once)."""
    base, kind, value = parse_spec(spec)
    if not kind:
        return None
    if kind in ("dom", "rare") and value[-1] >= n_classes:
        raise UnknownNameError(f"dataset {spec!r}: {source or base} has classes 1..{n_classes} (1-based, A <= B); "
                               f"the {describe_grammar()}")
    info = base_of(base)
    return suffix_keep(y_base, kind, value, n_classes, info.dom_fraction, info.rare_fraction, seed)


def known_labels(spec: str):
    """((channels, size), training labels after the spec's imbalance at seed 0, test count) of a spec whose
    base has ``KNOWN_SHAPES``, computed without its data (for a plan); None for any other base."""
    base, kind, value = parse_spec(spec)
    if base not in KNOWN_SHAPES:
        return None
    shape, per_class, n_test = KNOWN_SHAPES[base]
    y = np.repeat(np.arange(len(per_class)), per_class)
    keep = kept_index(spec, y, len(per_class))
    return shape, y if keep is None else y[keep], n_test
