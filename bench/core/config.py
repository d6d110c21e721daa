"""One frozen dataclass of defaults (the paper protocol, Sec. 4.2), YAML presets, ``key=value`` overrides.

Resolution order: dataclass defaults < preset YAML (``configs/...``) < command-line ``key=value``.
The resolved config is written beside every result (``config.json``).
"""
import dataclasses
import os
from dataclasses import dataclass, field
from typing import Optional, Tuple

import yaml

from bench.core.errors import ConfigError

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # the checkout
CONFIG_DIR = os.path.join(REPO_ROOT, "configs")


def features_root() -> str:
    """Where named feature sets live (``albench features`` writes, ``features=<name>`` reads):
    ``$ALBENCH_FEATURES``, else ``results/features`` in this checkout."""
    return os.environ.get("ALBENCH_FEATURES") or os.path.join(REPO_ROOT, "results", "features")
STEP_MODES = ("auto", "eager", "graph", "compile")   # how a training step runs, see bench.trial.train
PRECISIONS = ("auto", "fp32", "bf16")                # the arithmetic, see bench.core.device
DEFAULT_STRATEGIES = ("random", "entropy", "margin", "least_confidence", "coreset", "bald", "vaal", "vabal")


@dataclass(frozen=True)
class Config:
    # what to run
    dataset: str = "digits"                  # dataset spec, see `albench list`
    strategies: Tuple[str, ...] = DEFAULT_STRATEGIES  # registry keys (a grid runs each)
    strategy_params: dict = field(default_factory=dict)  # {strategy: {param: value}} for get_strategy(); an
    # entry may name a variant of a registered strategy: {vabal_noprior: {strategy: vabal, use_prior: false}}
    seeds: Tuple[int, ...] = (0, 1, 2)       # one trial per seed; every random stream derives from it
    # the active-learning schedule (paper Sec. 4.1)
    initial: int = 500                       # size of the random initial labelled pool
    budget: int = 500                        # images labelled per selection round
    rounds: int = 5                          # selection rounds after the initial pool
    validation: float = 0.0                  # fraction of each class held out for validation (0 = none);
                                             # stratified, seeded, after the imbalance removal, never selectable
    # the classifier (paper Sec. 4.2)
    arch: str = "resnet18"                   # resnet18 | resnet34 (supplement Fig. 6)
    width: int = 64                          # channels of the first stage (64 = the paper's ResNet)
    epochs: int = 200                        # retrained from scratch for this many epochs each round
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_milestones: Tuple[int, ...] = (160,)  # epochs where lr is multiplied by lr_gamma (0.1 -> 0.01); they
                                             # scale with epochs= unless given beside it (see load_config)
    lr_gamma: float = 0.1
    crop_pad: int = 4                        # random crop with this zero padding (0 = off)
    hflip: bool = True                       # random horizontal flip
    # execution
    eval_batch_size: int = 0                 # batch for evaluation and strategies' forward passes (0: the
                                             # device's, 1024 on CUDA and 256 on a CPU; bench.core.device)
    device: str = "auto"                     # auto | cpu | cuda | cuda:N
    precision: str = "auto"                  # auto (bf16 where the device does it natively, else fp32) | fp32 |
                                             # bf16; part of a trial's identity, recorded resolved (bench.core.device)
    threads: int = 0                         # torch CPU threads per trial (0: all cores for one trial, cores /
                                             # workers in the pool and ray executors); a background run takes fewer
    train_step: str = "auto"                 # auto (graph on CUDA, eager on CPU) | eager | graph | compile
    data_root: str = ""                      # '' = $ALBENCH_DATA, else ~/.cache/albench
    download: bool = False                   # let torchvision download CIFAR where the network allows
    image_size: int = 0                      # resize every image to image_size x image_size (0 = as stored)
    out: str = "results"                     # results root: <out>/<dataset>/<strategy>/seed<k>/

    def params_for(self, strategy: str) -> dict:
        """The parameters of the strategy (or named variant) ``strategy``, without a variant's base name."""
        params = dict(self.strategy_params.get(strategy, {}) or {})
        params.pop("strategy", None)
        return params

    def registry_key(self, strategy: str) -> str:
        """The registered strategy behind ``strategy``: itself, or the base a named variant gives."""
        return (self.strategy_params.get(strategy) or {}).get("strategy", strategy)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


FIELDS = {f.name: f for f in dataclasses.fields(Config)}
TUPLE_FIELDS = {"strategies", "seeds", "lr_milestones"}


def _coerce(key: str, value):
    if key not in FIELDS:
        raise ConfigError(f"unknown config key {key!r}; valid keys: {', '.join(FIELDS)}")
    if key in TUPLE_FIELDS:
        if isinstance(value, str):
            value = [v for v in value.replace(" ", "").split(",") if v]
        value = tuple(value) if isinstance(value, (list, tuple)) else (value,)
        if key != "strategies":
            try:
                value = tuple(int(v) for v in value)
            except (TypeError, ValueError):
                raise ConfigError(f"{key} must be a list of integers (e.g. {key}=[0,1,2]), got {value!r}") from None
        return value
    default = FIELDS[key].default
    if key == "strategy_params":
        if not isinstance(value, dict):
            raise ConfigError("strategy_params must be a mapping {strategy: {param: value}}")
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    try:
        return type(default)(value) if value is not None else default
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a {type(default).__name__}, got {value!r}") from None


def read_yaml_mapping(path: str, what: str) -> dict:
    """The YAML mapping in ``path``; ConfigError naming the file, line and column of a syntax error, or
    saying that the file holds no mapping."""
    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{what} {path} is not valid YAML{where}: {getattr(err, 'problem', None) or err}") from None
    except OSError as err:
        raise ConfigError(f"{what} {path} cannot be read: {err.strerror or err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} holds no key: value mapping (found a {type(data).__name__})")
    return data


def parse_override(text: str):
    """``key=value`` (value parsed as YAML); ``strategy_params.vabal.lam=0.01`` sets a nested entry."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not key=value")
    key, raw = text.split("=", 1)
    try:
        return key.strip(), yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"override {text!r}: its value is not valid YAML ({str(err).splitlines()[0]}); "
                          "quote it, e.g. key='[1, 2]'") from None


def preset_for(dataset: str) -> str:
    """The preset a dataset runs under by default: configs/paper/<family>.yaml, or configs/digits.yaml."""
    family = dataset.split("_")[0]
    path = os.path.join(CONFIG_DIR, "paper", f"{family}.yaml")
    return path if os.path.exists(path) else os.path.join(CONFIG_DIR, "digits.yaml")


def scale_milestones(milestones, written_for: int, epochs: int) -> Tuple[int, ...]:
    """Milestones written for ``written_for`` epochs moved to the same fractions of ``epochs`` (the paper's
    160 of 200 is 80 % of training): rounded, then held within 1..epochs-1 so that a decay stays a decay
    (none fits a single epoch)."""
    if epochs < 2:
        return ()
    return tuple(sorted({min(max(1, int(round(m * epochs / written_for))), epochs - 1) for m in milestones}))


def load_config(preset: Optional[str] = None, overrides=(), base: Optional[dict] = None, **fields) -> Config:
    """Defaults < preset (a path, or a name under configs/) < ``base`` (a dict: a scale profile's overrides
    and strategy_params, for ``albench run --profile``) < ``overrides`` ("k=v" strings) < ``fields``.

    A layer that changes ``epochs`` without giving ``lr_milestones`` moves the milestones of the layer below
    to the same fractions of training (``scale_milestones``): ``epochs=10`` over the paper's preset decays at
    epoch 8, as 160 of 200. Milestones given beside ``epochs`` are taken as they are."""
    values = {}
    layers = []
    if preset:
        path = preset if os.path.exists(preset) else os.path.join(CONFIG_DIR, preset)
        path = path if os.path.exists(path) or path.endswith(".yaml") else path + ".yaml"
        if not os.path.exists(path):
            raise ConfigError(f"config {preset!r} not found (looked at {path}); presets live in {CONFIG_DIR}")
        values.update(read_yaml_mapping(path, "config"))
        layers.append(dict(values))
    if base:
        values.update(base)
        layers.append(dict(base))
    items = [parse_override(o) for o in overrides] + list(fields.items())
    layers.append(dict(items))
    for key, value in items:
        if key.startswith("strategy_params."):
            _, strat, *rest = key.split(".")
            params = {k: dict(v) for k, v in values.get("strategy_params", {}).items()}
            if rest:
                params.setdefault(strat, {})[rest[0]] = value
            else:
                params[strat] = value
            key, value = "strategy_params", params
        values[key] = value
    resolved = {k: _coerce(k, v) for k, v in values.items()}
    epochs_now = written_for = FIELDS["epochs"].default   # the defaults' milestones: the paper's 160 of 200
    for layer in layers:
        if "epochs" in layer:
            epochs_now = _coerce("epochs", layer["epochs"])
        if "lr_milestones" in layer:
            written_for = epochs_now
    epochs = resolved.get("epochs", FIELDS["epochs"].default)
    if epochs != written_for:
        resolved["lr_milestones"] = scale_milestones(resolved.get("lr_milestones", FIELDS["lr_milestones"].default),
                                                     written_for, epochs)
    cfg = Config(**resolved)
    check_config(cfg)
    return cfg


def check_config(cfg: Config):
    """Errors that need no data: non-positive sizes, an unknown device string, a schedule past the epochs."""
    for key in ("initial", "budget", "epochs", "batch_size", "width"):
        if getattr(cfg, key) <= 0:
            raise ConfigError(f"{key} must be > 0, got {getattr(cfg, key)}")
    if cfg.eval_batch_size < 0:
        raise ConfigError(f"eval_batch_size must be >= 0 (0 = the device's), got {cfg.eval_batch_size}")
    if cfg.precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {cfg.precision!r}")
    if cfg.batch_size < 2:
        raise ConfigError(f"batch_size must be >= 2 (a batch of one image cannot be batch-normalised and is "
                          f"skipped, so training would run no step), got {cfg.batch_size}")
    late = [m for m in cfg.lr_milestones if not 0 < m < cfg.epochs]
    if late:
        raise ConfigError(f"lr_milestones {list(late)} must lie in 1..epochs-1 = 1..{cfg.epochs - 1} (a milestone "
                          "at or past the last epoch never decays the learning rate); with epochs="
                          f"{cfg.epochs} pass e.g. lr_milestones=[{max(1, int(0.8 * cfg.epochs))}] (the paper's "
                          "160 of 200), or lr_milestones=[] for a constant rate")
    if not 0 <= cfg.validation < 1:
        raise ConfigError(f"validation is a fraction of each class in [0, 1), got {cfg.validation}")
    if cfg.threads < 0:
        raise ConfigError(f"threads must be >= 0 (0 = automatic), got {cfg.threads}")
    if cfg.image_size < 0:
        raise ConfigError(f"image_size must be >= 0 (0 keeps the stored size), got {cfg.image_size}")
    if not (cfg.lr > 0 and cfg.lr < float("inf")):
        raise ConfigError(f"lr must be a positive finite number, got {cfg.lr}")
    if cfg.rounds < 0:
        raise ConfigError(f"rounds must be >= 0, got {cfg.rounds}")
    if not cfg.seeds or not cfg.strategies:
        raise ConfigError("at least one seed and one strategy are needed")
    if any(int(k) < 0 for k in cfg.seeds):
        raise ConfigError(f"seeds are non-negative integers (numpy's SeedSequence), got {list(cfg.seeds)}")
    if cfg.train_step not in STEP_MODES:
        raise ConfigError(f"train_step must be one of {', '.join(STEP_MODES)}, got {cfg.train_step!r}")
    if not (cfg.device in ("auto", "cpu", "cuda") or cfg.device.startswith("cuda:")):
        raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {cfg.device!r}")
