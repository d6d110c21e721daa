"""One active-learning trial as one function: ``run_trial(cfg, strategy_name, seed)``.

Seeds are data: ``SeedSequence(seed).spawn(2)`` gives the initial-pool stream and the rounds' stream;
round r's stream splits into a training seed and the strategy's Generator.  The initial pool and every
round's training seed therefore depend on (dataset, seed, round) only: every strategy starts from the
same pool and trains with the same seed, so curves are paired (paper Sec. 4.2, "same random seed").

A round is: train a fresh classifier on the labelled pool, evaluate it on the test split, then (except
after the last round) let the strategy select the next batch.  Its row and record are written when the
round ends; a rerun of the same command resumes after the last finished round.
"""
import dataclasses
import json
import os
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from bench import import_datasets
from bench.errors import ConfigError
from bench.pool import Pool
from bench.results import atomic_write, load_trial, save_round, trial_dir, versions
from bench.train import channel_stats, evaluate, resolve_device, sync, train_classifier

# config fields that change a trial's numbers; a results folder refuses to resume under different ones
IDENTITY_FIELDS = ("dataset", "initial", "budget", "rounds", "arch", "width", "epochs", "batch_size", "lr",
                   "momentum", "weight_decay", "lr_milestones", "lr_gamma", "crop_pad", "hflip")


def check_schedule(cfg, n_train: int):
    need = cfg.initial + cfg.rounds * cfg.budget
    if need > n_train:
        raise ConfigError(
            f"{cfg.dataset} has {n_train} training images, but initial={cfg.initial} + rounds={cfg.rounds} x "
            f"budget={cfg.budget} needs {need}; lower rounds or budget (at most "
            f"{max(0, (n_train - cfg.initial) // cfg.budget)} rounds of {cfg.budget} fit)")


def load_checked(cfg, seed: int = 0):
    """The trial's dataset (removal drawn by ``seed``), with the schedule checked against its size."""
    ds = import_datasets().get_dataset(cfg.dataset, cfg.data_root or None, seed=seed, download=cfg.download)
    check_schedule(cfg, len(ds.y_train))
    return ds


def prepare(cfg, strategy_name: str, seed: int = 0):
    """Everything that can fail on bad input, before any file is written: (strategy, dataset)."""
    from strategies import get_strategy

    return get_strategy(strategy_name, **cfg.params_for(strategy_name)), load_checked(cfg, seed)


def run_trial(cfg, strategy_name: str, seed: int, progress: bool = True, position: int = 0):
    """Run (or resume) one trial; returns its rows (list of dicts). Writes under ``cfg.out``."""
    strategy, ds = prepare(cfg, strategy_name, seed)
    device = resolve_device(cfg.device)

    identity = {k: getattr(cfg, k) for k in IDENTITY_FIELDS}
    identity = json.loads(json.dumps({**identity, "strategy": strategy_name, "seed": seed,
                                      "strategy_params": strategy.get_params(),
                                      "classifier_options": strategy.classifier_options}))
    path = trial_dir(cfg.out, cfg.dataset, strategy_name, seed)
    rows, records = load_trial(path, identity)
    if len(rows) == cfg.rounds + 1:
        return rows
    os.makedirs(path, exist_ok=True)
    if not rows:
        atomic_write(os.path.join(path, "config.json"), json.dumps(
            {"identity": identity, "config": dataclasses.asdict(cfg), "versions": versions(),
             "dataset_source": ds.source, "classes": list(ds.classes), "n_train": int(len(ds.y_train)),
             "n_test": int(len(ds.y_test)), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, indent=2))

    init_ss, rounds_ss = np.random.SeedSequence(seed).spawn(2)
    round_ss = rounds_ss.spawn(cfg.rounds + 1)
    if records:
        labelled = np.concatenate([records[0]["initial"]] + [r["selected"] for r in records]).astype(np.int64)
    else:
        labelled = np.sort(np.random.default_rng(init_ss).choice(len(ds.y_train), cfg.initial, replace=False))

    x = torch.from_numpy(ds.x_train).to(device)
    y = torch.from_numpy(ds.y_train).to(device)
    x_test, y_test = torch.from_numpy(ds.x_test).to(device), torch.from_numpy(ds.y_test).to(device)
    mean, std = channel_stats(ds.x_train)
    k = ds.num_classes
    class_cols = [f"count_{c}" for c in ds.classes]
    desc = f"{cfg.dataset}/{strategy_name}/seed{seed}"
    bar = tqdm(total=(cfg.rounds + 1) * cfg.epochs, initial=len(rows) * cfg.epochs, desc=desc, unit="ep",
               disable=not progress, position=position, leave=True, dynamic_ncols=True)
    for r in range(len(rows), cfg.rounds + 1):
        train_seed, select_ss = round_ss[r].spawn(2)
        lab_t = torch.as_tensor(labelled, device=device)
        model, train_s = train_classifier(cfg, x[lab_t], y[lab_t], k, int(train_seed.generate_state(1)[0]),
                                          mean, std, progress=bar, **strategy.classifier_options)
        t0 = time.perf_counter()
        metrics = evaluate(model, x_test, y_test, k, cfg.eval_batch_size)
        eval_s = time.perf_counter() - t0
        record = {"round": r, "per_class_accuracy": metrics["per_class_accuracy"]}
        if r == 0:
            record.update(initial=labelled.tolist(), initial_classes=ds.y_train[labelled].tolist())
        select_s, selected = float("nan"), np.zeros(0, np.int64)
        if r < cfg.rounds:
            pool = Pool(x, ds.y_train, labelled, model, k, np.random.default_rng(select_ss), device,
                        cfg.eval_batch_size, ds.classes)
            t0 = time.perf_counter()
            selected = np.asarray(strategy.select(pool, cfg.budget))
            sync(device)
            select_s = time.perf_counter() - t0
            check_selection(selected, pool, cfg.budget, strategy_name)
            record["diagnostics"] = getattr(strategy, "diagnostics_", {}) or {}
        record.update(selected=selected.tolist(), selected_classes=ds.y_train[selected].tolist())
        counts = np.bincount(ds.y_train[labelled], minlength=k)
        rows.append({"dataset": cfg.dataset, "strategy": strategy_name, "seed": seed, "round": r,
                     "n_labelled": len(labelled), "accuracy": metrics["accuracy"],
                     "balanced_accuracy": metrics["balanced_accuracy"], "train_seconds": train_s,
                     "select_seconds": select_s, "eval_seconds": eval_s, **dict(zip(class_cols, counts.tolist()))})
        records.append(record)
        save_round(path, rows, records)
        bar.set_postfix(round=r, n=len(labelled), acc=f"{metrics['accuracy']:.3f}")
        labelled = np.concatenate([labelled, selected])
        del model
    bar.close()
    return rows


def check_selection(idx: np.ndarray, pool, budget: int, name: str):
    want = min(budget, len(pool.unlabelled))
    problems = []
    if idx.dtype.kind not in "iu":
        problems.append(f"dtype {idx.dtype}")
    elif len(idx) != want:
        problems.append(f"{len(idx)} indices for a budget of {want}")
    elif len(np.unique(idx)) != len(idx):
        problems.append("duplicate indices")
    elif not np.isin(idx, pool.unlabelled).all():
        problems.append("indices outside the unlabelled pool")
    if problems:
        raise RuntimeError(f"strategy {name!r} broke the select() contract: {'; '.join(problems)}")
