"""albench datasets: the paper's dataset specs (Sec. 4.1) as seeded, exact numpy arrays.

>>> ds = get_dataset("cifar10_rare5", root="/data", seed=0)
>>> ds.x_train.shape, ds.y_train.dtype   # (45500, 3, 32, 32) uint8, int64
"""
ALBENCH = True  # marks this package as albench's, not Hugging Face's `datasets` (see bench.import_datasets)

from datasets.registry import Dataset, get_dataset, list_datasets, parse_spec, data_root  # noqa: E402

__all__ = ["Dataset", "get_dataset", "list_datasets", "parse_spec", "data_root"]
