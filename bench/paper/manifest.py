"""The paper's experiments as data: ``configs/paper/manifest.yaml`` (one entry per artifact: figure or table)
and the scale profiles ``configs/profiles/<name>.yaml`` (paper | cpu | smoke), resolved into runs.

An artifact names its datasets, strategies (registry keys or named variants), seeds, config overrides and
how it is drawn. A profile is a named set of overrides applied to every trial, plus its departures from
the paper (written into the report), dataset substitutions (smoke: CIFAR -> digits analogues), per-artifact
restrictions and the core subset it runs by default.  Results of a profile live under its own folder
(``<root>/paper-<profile>/<group>/<dataset>/<strategy>/seed<k>``), so profiles can never mix; ``group``
separates trials whose config differs (a validation split, ResNet-34, a budget sweep).  Artifacts with
``from: <artifact>`` draw the runs of another artifact (no training of their own).

Resolution order for a trial's config: the dataset's preset (``configs/paper/<family>.yaml``) < the
profile's ``overrides`` (and ``family_overrides`` for that family) < the artifact's ``overrides`` < the
sweep item < the profile's ``artifact_overrides`` for that artifact.  Strategy parameters: the profile's
``strategy_params`` < the artifact's ``variants`` (named variants of registered strategies).
"""
import copy
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import yaml

from bench.core.config import CONFIG_DIR, load_config, preset_for, read_yaml_mapping
from bench.core.errors import ConfigError
from bench.paper import draw_leaderboard  # noqa: F401 (registers a study's draw kinds in DRAW)
from bench.paper.draw import DRAW

MANIFEST = os.path.join(CONFIG_DIR, "paper", "manifest.yaml")
STUDY_DIR = os.path.join(CONFIG_DIR, "studies")
PROFILE_DIR = os.path.join(CONFIG_DIR, "profiles")
DRAWS = tuple(DRAW)   # the kinds of drawing bench.paper.draw registers


@dataclass(frozen=True)
class Run:
    """Trials that share one config: every (dataset, strategy, seed) of one group (and one sweep item)."""
    group: str                       # results subfolder under the profile's root
    datasets: Tuple[str, ...]
    strategies: Tuple[str, ...]      # labels: registry keys or named variants
    seeds: Tuple[int, ...]
    overrides: dict                  # config overrides on top of the preset (profile + artifact + sweep)
    strategy_params: dict            # {label: {param: value}} incl. variants ({strategy: base, ...})
    sweep: str = ""                  # the sweep item's label ("budget=250"), '' if none

    def configs(self, root: str):
        """(dataset, Config) for each dataset, with ``out`` set to this run's folder."""
        out = os.path.join(root, self.group)
        for d in self.datasets:
            fields = dict(self.overrides, dataset=d, out=out, strategies=list(self.strategies),
                          seeds=list(self.seeds), strategy_params=self.strategy_params)
            yield d, load_config(preset_for(d), (), **fields)

    def trials(self):
        """(group, dataset, strategy, seed) of every trial."""
        return [(self.group, d, s, k) for d in self.datasets for s in self.strategies for k in self.seeds]


@dataclass(frozen=True)
class Artifact:
    name: str
    title: str
    draw: str
    runs: Tuple[Run, ...]
    source: str = ""                 # the artifact whose runs this one draws ('' = its own)
    metric: str = "accuracy"
    paper: Optional[dict] = None     # the paper's numbers (tables), as the manifest gives them
    options: Dict = field(default_factory=dict)   # drawing options (n images, highlight class, ...)
    note: str = ""                   # what the paper leaves open and what was chosen

    def trials(self):
        return [t for r in self.runs for t in r.trials()]


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    departures: Tuple[str, ...]
    core: Tuple[str, ...]            # artifacts run when none are named
    raw: dict

    def root(self, base: str = "results") -> str:
        return os.path.join(base, f"paper-{self.name}")


def load_yaml(path: str, what: str) -> dict:
    if not os.path.exists(path):
        raise ConfigError(f"{what} {path} not found")
    return read_yaml_mapping(path, what)


def list_profiles() -> List[str]:
    return sorted(f[:-5] for f in os.listdir(PROFILE_DIR) if f.endswith(".yaml"))


def _merge_profile(parent: dict, child: dict) -> dict:
    """``child`` over ``parent``: mappings merge key by key (recursively), ``departures`` and ``caveats``
    append the child's items to the parent's, anything else the child gives replaces the parent's."""
    out = copy.deepcopy(parent)
    for key, value in child.items():
        if key == "extends":
            continue
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge_profile(out[key], value)
        elif key in ("departures", "caveats") and isinstance(value, list):
            out[key] = list(out.get(key) or []) + value
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_profile(name: str, _seen=()) -> Profile:
    """A scale profile; one with ``extends: <profile>`` is that profile with its own keys merged over it
    (``_merge_profile``), and keeps its own name (so its own results folder)."""
    path = os.path.join(PROFILE_DIR, f"{name}.yaml")
    if not os.path.exists(path):
        raise ConfigError(f"unknown profile {name!r}; available: {', '.join(list_profiles())}")
    raw = load_yaml(path, "profile")
    if raw.get("extends"):
        parent = str(raw["extends"])
        if parent == name or parent in _seen:
            raise ConfigError(f"profile {name!r} extends {parent!r} in a circle")
        raw = _merge_profile(load_profile(parent, _seen + (name,)).raw, raw)
    return Profile(name, raw.get("description", ""), tuple(raw.get("departures", [])),
                   tuple(raw.get("core", [])), raw)


def load_manifest(path: str = MANIFEST) -> dict:
    raw = load_yaml(path, "manifest")
    if "artifacts" not in raw:
        raise ConfigError(f"{path} has no 'artifacts' mapping")
    return raw


def list_studies() -> List[str]:
    return sorted(f[:-5] for f in os.listdir(STUDY_DIR) if f.endswith(".yaml")) if os.path.isdir(STUDY_DIR) else []


def load_study(name: str, strategies=()) -> dict:
    """A study: a manifest beside the paper's (``configs/studies/<name>.yaml``, or a path to one), read by
    the same machinery; its artifacts share a profile's results tree with the paper's, so a trial both need
    (same group, dataset, strategy, seed) is one folder, run once. ``strategies`` that the study does not
    name (a user's own, registered by ``--import``) are added to every artifact, after its own."""
    path = name if name.endswith((".yaml", ".yml")) else os.path.join(STUDY_DIR, f"{name}.yaml")
    if not os.path.exists(path):
        raise ConfigError(f"unknown study {name!r}: no {path}; available: {', '.join(list_studies()) or 'none'} "
                          "(or give the path of a study manifest)")
    raw = load_manifest(path)
    raw["_name"] = os.path.splitext(os.path.basename(path))[0]
    if raw["_name"] in ("claims", "paper"):
        raise ConfigError(f"a study cannot be named {raw['_name']!r} (the paper's own README block and command use "
                          "it): rename the file")
    named = {s for a in raw["artifacts"].values() for s in a.get("strategies") or ()}
    extra = [s for s in strategies if s not in named]
    for a in raw["artifacts"].values():
        if extra and not a.get("from"):
            a["strategies"] = list(a.get("strategies") or ()) + extra
    raw["_added"] = extra
    return raw


def command(profile: str, manifest: dict = None) -> str:
    """How the user names this run: ``albench paper --profile P`` or ``albench study NAME --profile P``."""
    name = (manifest or {}).get("_name")
    return f"albench study {name} --profile {profile}" if name else f"albench paper --profile {profile}"


def _family(dataset: str) -> str:
    return dataset.split("_")[0]


def resolve(profile: Profile, manifest: dict = None, only=None) -> List[Artifact]:
    """The manifest's artifacts under ``profile``, in manifest order (``only``: those names; default: all)."""
    manifest = manifest or load_manifest()
    arts = manifest["artifacts"]
    unknown = sorted(set(only or ()) - set(arts))
    if unknown:
        raise ConfigError(f"unknown artifact(s) {', '.join(unknown)}; the manifest has: {', '.join(arts)}")
    p = profile.raw
    out = []
    for name, a in arts.items():
        if only and name not in only:
            continue
        spec = copy.deepcopy(arts[a["from"]]) if a.get("from") else {}
        spec.update(copy.deepcopy(a))
        own = (p.get("restrict") or {}).get(name) or {}
        src = (p.get("restrict") or {}).get(a.get("from", ""), {}) if a.get("from") else {}
        datasets = own.get("datasets") or spec.get("datasets", [])
        if src.get("datasets"):   # an artifact drawn from another's runs sees only what that one ran
            datasets = [d for d in datasets if d in src["datasets"]]
        strategies = own.get("strategies") or (a["strategies"] if "strategies" in a
                                                else src.get("strategies") or spec.get("strategies", []))
        subst = p.get("datasets") or {}
        datasets = list(dict.fromkeys(subst.get(d, d) for d in datasets))   # analogues shared run once
        strategies = list(strategies)
        seeds = tuple(int(k) for k in p.get("seeds", spec.get("seeds", [0, 1, 2])))
        params = copy.deepcopy(p.get("strategy_params") or {})
        for label, variant in (spec.get("variants") or {}).items():
            base = dict(params.get(variant.get("strategy", label), {}))
            params[label] = {**base, **variant}
        group = spec.get("group", name)
        sweep = (p.get("sweeps") or {}).get(name) or spec.get("sweep") or [{}]
        runs = []
        for item in sweep:
            label = ",".join(f"{k}={v}" for k, v in item.items())
            by_family = {}
            for d in datasets:
                fam = _family(d)
                ov = dict(p.get("overrides") or {})
                ov.update((p.get("family_overrides") or {}).get(fam, {}))
                ov.update(spec.get("overrides") or {})
                ov.update(item)
                ov.update((p.get("artifact_overrides") or {}).get(name, {}))
                key = yaml.safe_dump(ov, sort_keys=True)
                by_family.setdefault(key, (ov, []))[1].append(d)
            for ov, ds in by_family.values():
                g = group + ("-" + "-".join(f"{k}{v}" for k, v in item.items()) if item else "")
                runs.append(Run(g, tuple(ds), tuple(strategies), seeds, ov, params, label))
        draw = spec.get("draw", "curve")
        if draw not in DRAWS:
            raise ConfigError(f"artifact {name}: draw must be one of {', '.join(DRAWS)}, got {draw!r}")
        out.append(Artifact(name, spec.get("title", name), draw, tuple(runs), a.get("from", ""),
                            spec.get("metric", "accuracy"), spec.get("paper"), dict(spec.get("options") or {}),
                            spec.get("note", "")))
    return out


def artifact(name: str, profile: str = "paper") -> Artifact:
    """One artifact of the manifest resolved under ``profile`` (the paper's own grid by default): where any
    command needs the paper's datasets, strategies or seeds, it reads them here."""
    return resolve(load_profile(profile), only=[name])[0]


def averaged_panels(profile: str = "paper") -> Dict[str, List[str]]:
    """The manifest's averaged panels (``draw: mean_curve``): artifact name -> the datasets it averages."""
    return {a.name: list(a.runs[0].datasets) for a in resolve(load_profile(profile)) if a.draw == "mean_curve"}


def main_grid(profile: str = "paper") -> dict:
    """The runs of the paper's main comparison (group ``main``, no sweep, no strategy variant): datasets,
    strategies and seeds, each in manifest order."""
    runs = [r for a in resolve(load_profile(profile)) for r in a.runs if r.group == "main" and not r.sweep
            and not any("strategy" in r.strategy_params.get(s, {}) for s in r.strategies)]
    return {k: list(dict.fromkeys(v for r in runs for v in getattr(r, k))) for k in ("datasets", "strategies", "seeds")}
