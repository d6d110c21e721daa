"""``albench features --data BASE --method simclr``: a self-supervised feature set of a base dataset's training
images (no labels), the one TypiClust and ProbCover are defined on, trained here and kept where those strategies
find it by name (``features=simclr``).

``<out>/<base>/simclr.npy``   float16, one L2-normalised row per base training image (row i = training image i of
                             the base dataset before any imbalance removal: ``Dataset.train_index`` indexes it)
``<out>/<base>/simclr.json``  provenance: method, recipe, seed, the data's fingerprint, albench version, the
                             features file's sha256, k-NN accuracies (the features, raw pixels, a random encoder)
``<out>/<base>/simclr.pt``    the encoder's weights (float16): the features again in seconds, bit for bit on a
                             CPU with the same kernels (the .npy is tracked so that every machine reads the
                             same bytes; see ``_make_again``)
``<out>/<base>/simclr.ckpt``  the run in progress, one per finished epoch (a killed run resumes from it)
"""
import io
import json
import os
import sys
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from bench import __version__
from bench.core.config import CONFIG_DIR, features_root, read_yaml_mapping
from bench.core.device import channels_last, conv_backend, processor, resolve_device, resolve_precision, seeded
from bench.core.errors import ConfigError
from bench.features.knn import knn_accuracy, raw_pixels
from bench.features.simclr import SimCLR, embed_all, train_epoch
from bench.trial.preflight import import_datasets
from bench.trial.store import atomic_write, safe_name, versions
from strategies._shared.feature_source import file_sha256

METHODS = ("simclr",)


def recipe_for(method: str, profile: str, epochs: int = 0) -> dict:
    """The method's recipe at a scale profile (``configs/features/<method>.yaml``); ``epochs`` overrides."""
    if method not in METHODS:
        raise ConfigError(f"unknown feature method {method!r}; available: {', '.join(METHODS)}")
    recipes = read_yaml_mapping(os.path.join(CONFIG_DIR, "features", f"{method}.yaml"), "feature recipe")
    if profile not in recipes:
        raise ConfigError(f"no {method} recipe for profile {profile!r}; available: {', '.join(recipes)}")
    recipe = dict(recipes[profile])
    if epochs:
        recipe["epochs"] = int(epochs)
    return recipe


def paths(out: str, base: str, method: str) -> dict:
    folder = os.path.join(out, safe_name(base))
    return {k: os.path.join(folder, f"{method}.{k}") for k in ("npy", "json", "pt", "ckpt")}


def to_bytes(obj) -> bytes:
    buf = io.BytesIO()
    if isinstance(obj, np.ndarray):
        np.save(buf, obj, allow_pickle=False)
    else:
        torch.save(obj, buf)
    return buf.getvalue()


def make_features(spec: str, method: str = "simclr", profile: str = "cpu", out: str = None, device: str = "auto",
                  data_root: str = None, seed: int = 0, epochs: int = 0, progress: bool = True, log=None,
                  adopt: bool = False) -> dict:
    """Train (or resume, or find finished) ``method``'s features of the base dataset ``spec``; returns the
    provenance record. A finished run with the same recipe, seed and data is not trained again; its features
    file, if missing or changed, is made again from the weights (``_make_again``; ``adopt``: see there)."""
    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    recipe = recipe_for(method, profile, epochs)
    datasets = import_datasets()
    parsed = datasets.parse_spec(spec)
    if parsed.kind:
        raise ConfigError(f"features are made on a base dataset's whole training split: --data {parsed.base} "
                          f"(every {parsed.base}_* spec then uses them), not {spec}")
    ds = datasets.get_dataset(spec, data_root, seed=0)
    out = out or features_root()
    p = paths(out, spec, method)
    os.makedirs(os.path.dirname(p["npy"]), exist_ok=True)
    dev = resolve_device(device)
    precision = resolve_precision("auto", dev)
    run_id = {"method": method, "profile": profile, "recipe": recipe, "seed": int(seed), "data": spec,
              "data_fingerprint": ds.fingerprint, "albench_version": __version__}
    x_all = torch.from_numpy(ds.x_train).to(dev)
    model = _model(ds, recipe, seed, dev, precision)
    done = _read_json(p["json"])
    if done and done.get("run") == run_id:
        if not os.path.exists(p["npy"]) or file_sha256(p["npy"]) != done["features_sha256"]:
            done = _make_again(model, ds, x_all, p, done, adopt, log)
        log(f"albench features: {method} of {spec} already made ({p['json']}); k-NN accuracy "
            f"{done['knn']['features']:.4f} (raw pixels {done['knn']['raw_pixels']:.4f})")
        return done
    n_train = recipe["max_images"] or len(x_all)
    x = x_all[:n_train]
    opt = torch.optim.SGD(model.parameters(), lr=recipe["lr"], momentum=0.9, weight_decay=recipe["weight_decay"])
    start_epoch, losses, seconds = 0, [], 0.0
    ckpt = torch.load(p["ckpt"], weights_only=False) if os.path.exists(p["ckpt"]) else None
    if ckpt is not None and ckpt.get("run") == run_id:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        start_epoch, losses, seconds = ckpt["epoch"] + 1, ckpt["losses"], ckpt["seconds"]
        log(f"albench features: resuming {p['ckpt']} after epoch {ckpt['epoch'] + 1} of {recipe['epochs']}")
    elif ckpt is not None:
        log(f"albench features: {p['ckpt']} belongs to another recipe, seed or data: starting afresh")
    bs = min(recipe["batch_size"], len(x))
    per_epoch = 2 * bs * (len(x) // bs)
    log(f"albench features: {method} on {spec} ({len(x):,} images, no labels), {profile} recipe: ResNet-18 width "
        f"{recipe['width']}, {recipe['epochs']} epochs of batch {bs}, {precision} on {dev.type} -> {out}/")
    bar = tqdm(total=per_epoch * recipe["epochs"], initial=per_epoch * start_epoch, unit="img", unit_scale=True,
               desc=f"{method} {spec}", disable=not progress, dynamic_ncols=True)
    for epoch in range(start_epoch, recipe["epochs"]):
        t0 = time.perf_counter()
        with conv_backend(recipe["width"], dev):
            losses.append(train_epoch(model, opt, x, recipe, epoch, seed, precision, bar))
        seconds += time.perf_counter() - t0
        bar.set_postfix(loss=f"{losses[-1]:.3f}", epoch=epoch + 1)
        atomic_write(p["ckpt"], to_bytes({"run": run_id, "model": model.state_dict(), "opt": opt.state_dict(),
                                          "epoch": epoch, "losses": losses, "seconds": seconds}))
    bar.close()
    return _finish(model, ds, x_all, p, run_id, recipe, losses, seconds, precision, dev, seed, log)


def _make_again(model, ds, x_all, p, done, adopt, log) -> dict:
    """The features file made again from the weights and put in place only if it is, bit for bit, the file the
    record names. On another machine it may not be: fp32 inference sums in another order on other kernels
    (AVX2 against AVX-512, a GPU), and a few float16 values round the other way. Then nothing is put in place,
    unless ``adopt`` and no trial under the results root read the recorded file: this machine's file is kept
    and recorded (its sha256, k-NN accuracy and machine, appended to ``adopted`` with the previous sha256).
    Adopting changes the identity of every trial that reads the features from then on."""
    model.encoder.load_state_dict(torch.load(p["pt"]))   # float16 values into float32 parameters
    made = p["npy"] + ".tmp-remade"
    try:
        feats = _write_features(model, x_all, made)
        sha = file_sha256(made)
        if sha == done["features_sha256"]:
            os.replace(made, p["npy"])
            log(f"albench features: {p['npy']} made again from the encoder's weights")
            return done
        here = _machine(x_all.device)
        if not adopt:
            raise ConfigError(f"{p['npy']} made again from {p['pt']} on this machine ({here}) is not the file "
                              f"{p['json']} records (made on {_made_on(done)}): fp32 inference differs in its "
                              f"last bits between kernels. Nothing was written. Restore the recorded file (it is "
                              f"tracked: git checkout -- {p['npy']}), or adopt this machine's with --adopt (a "
                              "trial recorded with the old file is then another trial: it refuses to resume)")
        readers = _trials_reading(done["features_sha256"], os.path.dirname(os.path.dirname(os.path.dirname(p["npy"]))))
        if readers:
            raise ConfigError(f"not adopted: {len(readers)} trial(s) read the recorded {p['npy']} (e.g. "
                              f"{readers[0]}); restore that file instead (git checkout -- {p['npy']})")
        knn = dict(done["knn"], features=_knn(model.encoder, ds, x_all, feats))
        record = dict(done, features_sha256=sha, knn=knn, adopted=_adoptions(done) + [{
            "previous_sha256": done["features_sha256"], "previous_knn": done["knn"]["features"],
            "why": "made again from the same weights on another machine", "machine": here, "versions": versions(),
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")}])
        atomic_write(p["json"], json.dumps(record, indent=1))   # the record first: a stop between the two
        os.replace(made, p["npy"])                              # writes leaves a file the next run remakes
    finally:
        if os.path.exists(made):
            os.remove(made)
    log(f"albench features: {p['npy']} made again on this machine and adopted: sha256 {sha[:16]} (was "
        f"{done['features_sha256'][:16]}), k-NN accuracy {knn['features']:.4f} (was {done['knn']['features']:.4f})")
    return record


def _machine(dev) -> str:
    return processor() if dev.type == "cpu" else torch.cuda.get_device_name(dev)


def _adoptions(done: dict) -> list:
    """The record's adoptions, oldest first (the first one recorded, on 2026-12-07, is a single dict)."""
    adopted = done.get("adopted") or []
    return [adopted] if isinstance(adopted, dict) else list(adopted)


def _made_on(done: dict) -> str:
    """The machine the recorded features file was made on, as its record says."""
    if _adoptions(done):
        last = _adoptions(done)[-1]
        return last.get("machine") or last.get("versions", {}).get("processor") or "a machine it does not name"
    v = done.get("versions", {})
    return (v.get("gpu") if str(done.get("device", "cpu")).startswith("cuda") else v.get("processor")) \
        or "a machine it does not name"


def _trials_reading(sha: str, results: str) -> list:
    """The config.json files under ``results`` whose trial read the features file of this sha256."""
    found = []
    for folder, _, files in os.walk(results):
        if "config.json" in files:
            with open(os.path.join(folder, "config.json"), errors="replace") as f:
                if sha in f.read():
                    found.append(os.path.join(folder, "config.json"))
    return sorted(found)


def _knn(encoder, ds, x_all, feats=None) -> float:
    """k-NN accuracy (k = 20, cosine) of ``encoder``'s test-split features against its training-split ones
    (``feats`` where already made)."""
    dev = x_all.device
    feats = embed_all(encoder, x_all) if feats is None else feats
    test_feats = embed_all(encoder, torch.from_numpy(ds.x_test).to(dev))
    return knn_accuracy(feats, torch.from_numpy(ds.y_train).to(dev), test_feats, torch.from_numpy(ds.y_test).to(dev))


def _model(ds, recipe, seed, dev, precision) -> SimCLR:
    with seeded(seed, dev):
        model = SimCLR(ds.x_train.shape[1], recipe["width"], recipe["projection_dim"]).to(dev)
    return model.to(memory_format=torch.channels_last) if channels_last(dev, precision) else model


def _read_json(path: str):
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_features(model: SimCLR, x: torch.Tensor, path: str) -> torch.Tensor:
    feats = embed_all(model.encoder.float().to(memory_format=torch.contiguous_format), x)
    atomic_write(path, to_bytes(feats.cpu().numpy().astype(np.float16)))
    return feats


def _finish(model, ds, x_all, p, run_id, recipe, losses, seconds, precision, dev, seed, log) -> dict:
    t0 = time.perf_counter()
    # the weights are kept in float16; the features come from exactly those, so the file is made again bit for bit
    weights = {k: v.half() if v.is_floating_point() else v for k, v in model.encoder.state_dict().items()}
    model.encoder.load_state_dict(weights)
    atomic_write(p["pt"], to_bytes(weights))
    feats = _write_features(model, x_all, p["npy"])
    x_test = torch.from_numpy(ds.x_test).to(dev)
    y_tr, y_te = torch.from_numpy(ds.y_train).to(dev), torch.from_numpy(ds.y_test).to(dev)
    random = _model(ds, recipe, seed + 1, dev, "fp32").encoder
    knn = {"k": 20, "features": _knn(model.encoder, ds, x_all, feats),
           "raw_pixels": knn_accuracy(raw_pixels(x_all), y_tr, raw_pixels(x_test), y_te),
           "random_encoder": _knn(random, ds, x_all)}
    record = {"run": run_id, "features_file": os.path.basename(p["npy"]), "features_sha256": file_sha256(p["npy"]),
              "shape": list(feats.shape), "dtype": "float16", "rows": "one per base training image, in order",
              "knn": knn, "epochs_done": len(losses), "loss_per_epoch": losses, "train_seconds": seconds,
              "evaluate_seconds": time.perf_counter() - t0, "precision": precision, "device": str(dev),
              "torch_threads": torch.get_num_threads(), "data_source": ds.source, "n_train": len(ds.y_train),
              "n_test": len(ds.y_test), "versions": versions(),
              "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    atomic_write(p["json"], json.dumps(record, indent=1))
    if os.path.exists(p["ckpt"]):
        os.remove(p["ckpt"])
    log(f"albench features: {p['npy']} {tuple(feats.shape)}; k-NN accuracy (k = 20, cosine) on the test split: "
        f"{knn['features']:.4f}, raw pixels {knn['raw_pixels']:.4f}, random encoder {knn['random_encoder']:.4f}; "
        f"{seconds / 60:.1f} min of training")
    return record
