"""``albench verify [PATH ...]``: every trial under the results trees given, checked as resume checks it.

A trial is a folder holding ``config.json`` and its tables. Each round is checked for completeness and
agreement between ``rounds.csv`` and ``rounds.jsonl`` (``bench.trial.store.read_rounds``), against its checksum
where it has one (a chain over every round's row and record, recorded since checksums were introduced), and
against itself (balanced accuracy = the mean of its per-class accuracies, class counts = the counts of the
labelled images' recorded classes). Trials recorded before checksums are verified by those cross-checks
alone and marked so: an edited accuracy there is not caught, an edited count or balanced accuracy is.
"""
import json
import os
import sys
from typing import List, Tuple

from bench.core.errors import ResultsCorruptError
from bench.trial.store import read_identity, read_rounds


def trial_folders(paths) -> List[str]:
    """Folders under ``paths`` (each a results tree or a trial folder) that hold a trial's tables."""
    found = []
    for root in paths:
        if not os.path.exists(root):
            raise FileNotFoundError(f"{root}: no such file or folder")
        for dirpath, dirs, files in os.walk(root):
            dirs.sort()
            if "rounds.csv" in files or "rounds.jsonl" in files:
                found.append(dirpath)
    return found


def _lines(path: str) -> Tuple[int, int]:
    """(lines of rounds.jsonl, lines of rounds.csv)."""
    out = []
    for name in ("rounds.jsonl", "rounds.csv"):
        if not os.path.exists(os.path.join(path, name)):
            out.append(0)
            continue
        with open(os.path.join(path, name), errors="replace") as f:
            out.append(sum(1 for line in f if line.strip()))
    return out[0], out[1]


def verify_trial(path: str) -> Tuple[bool, str]:
    """(ok, what): one trial folder checked; ``what`` names the file and round that fail, or how it was checked."""
    try:
        identity = read_identity(path)
    except ResultsCorruptError as err:
        return False, str(err)
    if identity is None:
        return False, f"{path}/config.json is missing: nobody can tell which configuration made these rounds"
    csv = os.path.join(path, "rounds.csv")
    if (not os.path.exists(csv) or os.path.getsize(csv) == 0) and os.path.exists(os.path.join(path, "rounds.jsonl")) \
            and _lines(path)[0] == 1:   # stopped between round 0's two writes: resume starts it again
        return True, f"{path}: no round verified; round 0 was interrupted while being saved"
    try:
        with open(os.path.join(path, "config.json")) as f:
            classes = json.load(f).get("classes")
        rows, records, damage = read_rounds(path, identity, classes)
    except (OSError, ValueError) as err:
        return False, f"{path}: unreadable ({type(err).__name__}: {err})"
    if damage == f"round {len(rows)} is in only one of rounds.csv / rounds.jsonl" and _lines(path) == (
            len(rows) + 1, len(rows) + 1):   # rounds.jsonl holds one more round than rounds.csv (+ header)
        # a run stopped between the round's two writes (rounds.jsonl first): resume redoes that round
        return True, f"{path}: {len(rows)} round(s) verified; round {len(rows)} was interrupted while being saved"
    if damage:
        return False, f"{path}: {damage}"
    summed = sum("checksum" in r for r in records)
    how = ("checksummed" if summed == len(records) else
           "recorded before checksums: cross-checked only" if summed == 0 else
           f"{summed} of {len(records)} rounds checksummed, the others cross-checked only")
    return True, f"{path}: {len(rows)} round(s) verified ({how})"


def main(paths, quiet: bool = False) -> int:
    """Check every trial under ``paths``; print each failure (and, unless ``quiet``, each verified trial);
    return the number of failures."""
    failures, folders = 0, trial_folders(paths)
    for path in folders:
        ok, what = verify_trial(path)
        if not ok:
            failures += 1
            print(f"FAIL {what}", file=sys.stderr)
        elif not quiet:
            print(f"ok   {what}")
    print(f"albench verify: {len(folders) - failures} of {len(folders)} trial(s) verified, {failures} failed",
          file=sys.stderr)
    return failures
