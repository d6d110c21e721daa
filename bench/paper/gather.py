"""The paper report's results: each artifact's trials read from a profile's tree (``gather``), checked against the
identity the manifest expects, with the reason any trial is left out."""
import glob
import json
import os

import pandas as pd

from bench.analysis.collect import collect
from bench.analysis.leaderboard import recall_column
from bench.core.device import UNRECORDED
from bench.core.errors import ConfigError
from bench.paper.sections import as_bool
from bench.trial.identity import LEGACY_IDENTITY, config_identity
from bench.trial.store import trial_dir

ROUND_KEYS = ("round", "processor", "per_class_accuracy")   # what the report reads of each round's record


# ---------------------------------------------------------------------------------------------- results
class Tree:
    """The results of one profile's root, read once per group: rows (``collect``) and each trial's config."""

    def __init__(self, root):
        self.root, self._groups, self._records, self.unreadable = root, {}, {}, []

    def group(self, group):
        if group not in self._groups:
            out = os.path.join(self.root, group)
            df = collect(out)
            configs = {}
            if not df.empty:
                df["seed"] = df["seed"].astype(int)
                df["reads_true_labels"] = (as_bool(df["reads_true_labels"]) if "reads_true_labels" in df
                                           else False)
                for d, s, k in df[["dataset", "strategy", "seed"]].drop_duplicates().itertuples(index=False):
                    try:
                        with open(os.path.join(trial_dir(out, d, s, k), "config.json")) as f:
                            configs[(d, s, int(k))] = json.load(f)
                    except (OSError, ValueError):
                        configs[(d, s, int(k))] = {}
            read = {trial_dir(out, d, s, k) for d, s, k in configs}
            on_disk = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(out, "*", "*", "seed*", "rounds.csv")))
            self.unreadable += [p for p in on_disk if p not in read]   # collect() left them out
            self._groups[group] = (df, configs)
        return self._groups[group]

    def round_processors(self, group, dataset, strategy, seed) -> list:
        """Where each round of a trial ran, as its ``rounds.jsonl`` records it (a resumed trial may have moved
        machines; rounds made before 2026-12-07 say "not recorded", as does a line that is not JSON)."""
        return [r.get("processor") or UNRECORDED for r in self.round_records(group, dataset, strategy, seed)]

    def round_records(self, group, dataset, strategy, seed, keys=ROUND_KEYS) -> list:
        """Per line of a trial's ``rounds.jsonl``: the ``keys`` asked for (by default its ``round``, ``processor``
        and ``per_class_accuracy``; Fig. 4 asks for the indices selected), the rest not kept; {} for a line that
        is not JSON, and the lines after it still read. Each file read once per set of keys, for the rows and
        the provenance alike."""
        key = (group, dataset, strategy, seed, tuple(keys))
        if key not in self._records:
            self._records[key] = self._read_rounds(*key)
        return self._records[key]

    def _read_rounds(self, group, dataset, strategy, seed, keys) -> list:
        out = []
        try:
            with open(os.path.join(trial_dir(os.path.join(self.root, group), dataset, strategy, seed),
                                   "rounds.jsonl"), errors="replace") as f:
                for line in f:
                    if line.strip():
                        try:
                            rec = json.loads(line)
                            out.append({k: rec[k] for k in keys if k in rec})
                        except (ValueError, TypeError):
                            out.append({})
        except OSError:
            pass
        return out


def per_round_columns(sub: pd.DataFrame, records: list, classes=None) -> dict:
    """A finished trial's rows' columns read from its ``rounds.jsonl`` records: ``processor`` per round, and
    ``recall_<class>`` beside each of its ``count_<class>`` columns (the class's recall on the test set, from the
    round's ``per_class_accuracy``; NaN where a round has none, or the class no test image). ``classes``: the
    trial's class names in label order (its config.json); without them, the count columns the trial filled (a
    group's table holds every dataset's count columns, e.g. NEU's 6 classes beside CIFAR-10's 10)."""
    by_round = {}
    for i, rec in enumerate(records):
        r = rec.get("round")
        by_round.setdefault(r if isinstance(r, int) else i, rec)
    rounds = [by_round.get(int(r), {}) for r in sub["round"]]
    out = {"processor": [r.get("processor") or UNRECORDED for r in rounds]}
    counts = ([f"count_{c}" for c in classes] if classes else
              [c for c in sub.columns if str(c).startswith("count_") and sub[c].notna().any()])
    for i, c in enumerate(counts):
        out[recall_column(c)] = [
            float(pc[i]) if isinstance(pc := r.get("per_class_accuracy"), list) and len(pc) == len(counts)
            and pc[i] is not None else float("nan") for r in rounds]
    return out


class Trials:
    """An artifact's trials: the rows of the finished ones made under the profile's configuration, and
    the expected trials that are missing, partial, or made under another configuration."""

    def __init__(self):
        self.frames, self.expected, self.missing, self.partial, self.other = [], [], [], [], []
        self.configs = {}

    @property
    def rows(self) -> pd.DataFrame:
        return pd.concat(self.frames, ignore_index=True) if self.frames else pd.DataFrame()


def _mismatch(identity: dict, cfg) -> str:
    """The identity fields the profile's configuration fixes in which a trial differs from it (such a trial is
    not used: e.g. one made in another precision is never mixed into the profile's tables)."""
    if cfg is None:
        return ""

    want = json.loads(json.dumps(config_identity(cfg)))
    want.pop("dataset")
    identity = {**LEGACY_IDENTITY, **identity}
    return ", ".join(f"{k}={identity.get(k)!r} (profile: {want[k]!r})" for k in want
                     if k in identity and identity[k] != want[k])


def gather(art, tree: Tree, root: str, seeds=None) -> Trials:
    t = Trials()
    for run in art.runs:
        try:
            expected = dict(run.configs(root))
        except (ConfigError, TypeError, ValueError):
            expected = {}
        df, configs = tree.group(run.group)
        for d in run.datasets:
            for s in run.strategies:
                for k in run.seeds:
                    if seeds is not None and k not in seeds:
                        continue
                    key = (run.group, d, s, k)
                    t.expected.append(key)
                    sub = df[(df["dataset"] == d) & (df["strategy"] == s) & (df["seed"] == k)] if not df.empty \
                        else df
                    if sub.empty:
                        t.missing.append(key)
                        continue
                    conf = configs.get((d, s, k), {})
                    t.configs[key] = conf
                    identity = conf.get("identity") or {}
                    why = _mismatch(identity, expected.get(d))
                    if why:
                        t.other.append((key, why))
                    elif not as_bool(sub["finished"]).all():
                        t.partial.append((key, int(sub["round"].max()), identity.get("rounds")))
                    else:
                        t.frames.append(sub.assign(group=run.group, sweep=run.sweep, **per_round_columns(
                            sub, tree.round_records(run.group, d, s, k), conf.get("classes"))))
    return t
