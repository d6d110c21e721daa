"""A trial's identity: everything that changes its numbers. A results folder resumes only under the identity it
was made under (``identity_differences``), and every table reads the precision it records."""
import json

import torch

from bench import __version__
from bench.core.device import resolve_device, resolve_precision

# config fields that change a trial's numbers; a results folder refuses to resume under different ones
# (``precision`` is recorded resolved, fp32 or bf16: see config_identity)
IDENTITY_FIELDS = ("dataset", "initial", "budget", "rounds", "arch", "width", "epochs", "batch_size", "lr",
                   "momentum", "weight_decay", "lr_milestones", "lr_gamma", "crop_pad", "hflip", "validation",
                   "image_size", "precision")


def config_identity(cfg) -> dict:
    """The config's part of a trial's identity: ``IDENTITY_FIELDS``, with ``precision`` resolved on the
    config's device (``auto`` is recorded as what it ran: ``fp32`` or ``bf16``)."""
    identity = {k: getattr(cfg, k) for k in IDENTITY_FIELDS}
    identity["precision"] = resolve_precision(cfg.precision, resolve_device(cfg.device))
    return identity


def trial_identity(cfg, strategy, strategy_name: str, seed: int, ds) -> dict:
    """Everything that changes a trial's numbers; resuming under a different identity is refused."""
    identity = config_identity(cfg)
    if identity["precision"] == "bf16" and resolve_device(cfg.device).type == "cpu":
        # oneDNN's bf16 kernels split their reductions by thread: the same seed gives other numbers with
        # another thread count (fp32 measured invariant), so a bf16 CPU trial is made at one thread count
        identity["cpu_threads"] = torch.get_num_threads()
    identity.update(strategy=strategy_name, registry_key=cfg.registry_key(strategy_name), seed=seed,
                    strategy_params=strategy.get_params(),
                    scoring_model_options=strategy.scoring_model_options,
                    evaluate_scoring_model=strategy.evaluate_scoring_model,
                    strategy_provenance=strategy.provenance(), data_source=ds.source,
                    data_fingerprint=getattr(ds, "fingerprint", None), albench_version=__version__)
    return json.loads(json.dumps(identity))


# identity fields added after trials were recorded, with the value those trials ran under: every trial
# recorded before ``precision`` existed ran on the CPU in plain fp32 (no CUDA trial was ever committed)
LEGACY_IDENTITY = {"precision": "fp32"}


def identity_differences(saved: dict, identity: dict) -> list:
    """The fields in which two trial identities differ. Where both carry the same data fingerprint (the
    sha256 of the base data), the file's path (``data_source``) is provenance, not identity: the same data
    moved or reached by another path resumes; so is a feature file's path beside its sha256. A field the
    saved identity predates reads as its ``LEGACY_IDENTITY`` value."""
    saved = {**LEGACY_IDENTITY, **saved}
    diff = sorted(k for k in set(saved) | set(identity) if saved.get(k) != identity.get(k))
    if saved.get("data_fingerprint") and saved.get("data_fingerprint") == identity.get("data_fingerprint"):
        diff = [k for k in diff if k != "data_source"]
    if "strategy_provenance" in diff and _hashes_only(saved.get("strategy_provenance")) == \
            _hashes_only(identity.get("strategy_provenance")):   # the same feature files reached by another path
        diff.remove("strategy_provenance")
    return diff


def _hashes_only(provenance):
    """``strategy_provenance`` with the path of each file that carries its sha256 left out (the sha256 is the
    identity: a clone at another path, or the features root moved, resumes)."""
    if isinstance(provenance, dict):
        if "features_sha256" in provenance:
            return {k: v for k, v in provenance.items() if k != "features"}
        return {k: _hashes_only(v) for k, v in provenance.items()}
    return provenance


def expected_identity(cfg, label: str, seed: int, strategy) -> dict:
    """The parts of ``trial_identity`` known without loading the data (what a plan compares a folder with)."""

    ident = config_identity(cfg)
    ident.update(strategy=label, registry_key=cfg.registry_key(label), seed=seed,
                 strategy_params=strategy.get_params())
    return json.loads(json.dumps(ident))
