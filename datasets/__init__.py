"""albench datasets: the paper's dataset specs (Sec. 4.1) as seeded, exact numpy arrays, plus your own data.

>>> ds = get_dataset("cifar10_rare5", root="/data", seed=0)
>>> ds.x_train.shape, ds.y_train.dtype   # (45500, 3, 32, 32) uint8, int64
>>> ds = get_dataset("folder:/data/my_imgs#lt10", image_size=32)   # an image folder, long-tailed
>>> print(describe_grammar())            # every base, suffix and example
"""
# marks this package as albench's, not Hugging Face's `datasets` (see bench.trial.preflight.import_datasets)
ALBENCH = True

from datasets.registry import (  # noqa: E402
                               Dataset,
                               data_root,
                               describe_grammar,
                               get_dataset,
                               kept_index,
                               known_labels,
                               list_datasets,
                               parse_spec,
                               register_dataset,
)

__all__ = ["Dataset", "get_dataset", "list_datasets", "parse_spec", "data_root", "register_dataset",
           "describe_grammar", "known_labels", "kept_index"]
