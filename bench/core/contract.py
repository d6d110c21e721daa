"""The select() contract, written once: the loop raises on a broken selection, the strategy kit asserts."""
import numpy as np


def selection_problems(idx, unlabelled: np.ndarray, revealed: np.ndarray, budget: int):
    """(the selection as int64, the ways it breaks the select() contract): a 1-d integer array, exactly
    ``min(budget, len(unlabelled))`` distinct indices of ``unlabelled``, holding every index the oracle
    revealed. One rule for the loop (which raises) and the strategy kit (which asserts); ``unlabelled`` is
    the caller's own copy, never a pool attribute a strategy could have reassigned."""
    want = min(budget, len(unlabelled))
    arr = np.asarray(idx)
    if arr.size == 0 and arr.ndim == 1:
        arr = arr.astype(np.int64)   # an empty list is float64 to numpy
    if arr.dtype.kind not in "iu" or (arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max):
        return arr, [f"indices of dtype {arr.dtype} (an integer array is needed)"]
    if arr.ndim != 1:
        return arr, [f"an array of shape {arr.shape} (a 1-d array of indices is needed)"]
    arr = arr.astype(np.int64)
    problems = []
    if len(arr) != want:
        problems.append(f"{len(arr)} indices for a budget of {want}")
    if len(np.unique(arr)) != len(arr):
        problems.append("duplicate indices")
    if not np.isin(arr, unlabelled).all():
        problems.append("indices outside the unlabelled pool")
    if len(revealed) > budget:
        problems.append(f"{len(revealed)} labels revealed for a budget of {budget}")
    if not np.isin(revealed, arr).all():
        problems.append(f"{int((~np.isin(revealed, arr)).sum())} label(s) revealed by the oracle but not selected "
                        "(every revealed image is charged to the budget and must be selected)")
    return arr, problems
