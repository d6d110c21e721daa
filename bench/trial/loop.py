"""One active-learning trial as one function: ``run_trial(cfg, strategy_name, seed)``.

Seeds are data: ``SeedSequence(seed).spawn(2)`` gives the initial-pool stream and the rounds' stream;
round r's stream splits into a training seed and the strategy's Generator.  The initial pool and every
round's training seed therefore depend on (dataset, seed, round) only: every strategy starts from the
same pool and trains with the same seed, so curves are paired (paper Sec. 4.2, "same random seed").
A validation split (``validation=``) is carved from the training set with its own stream of the seed.

A round is: train the evaluation classifier on the labelled pool (the same recipe for every strategy),
and, if the strategy asks for one, its scoring model with the same seed; evaluate on the test (and
validation) split; then (except after the last round) let the strategy select the next batch.  Its row
and record are written when the round ends; a rerun of the same command resumes after the last verified
round (``bench.trial.store.load_trial``), under a per-trial lock. A stop asked for (``bench.trial.stop``)
ends the trial after the round in hand is written, or before it starts.
"""
import dataclasses
import json
import os
import time
from typing import List

import numpy as np
import torch

from bench.core.contract import selection_problems
from bench.core.device import conv_backend, processor, resolve_device, resolve_precision, sync
from bench.core.errors import RunStopped, StrategyContractError, StrategyError, describe_failure
from bench.core.pool import LabelLeakError, Pool
from bench.trial import stop
from bench.trial.identity import trial_identity
from bench.trial.preflight import prepare
from bench.trial.progress import TrialBar
from bench.trial.store import (
    TrialLock,
    atomic_write,
    load_trial,
    round_checksum,
    save_round,
    trial_dir,
    versions,
)
from bench.trial.train import channel_stats, evaluate, train_classifier
from datasets.splits import validation_split


def trains_scoring_model(strategy, r: int, rounds: int) -> bool:
    """Whether round ``r`` trains the strategy's own scoring model (BALD's dropout network): where a
    selection follows it, or where it is also the evaluated classifier (the last round selects nothing)."""
    return bool(strategy.scoring_model_options) and (r < rounds or strategy.evaluate_scoring_model)


def models_per_round(strategy, rounds: int) -> List[int]:
    """Classifiers trained in rounds 0 .. ``rounds``: two where the scoring model is trained beside the
    evaluated classifier, else one."""
    return [1 + (trains_scoring_model(strategy, r, rounds) and not strategy.evaluate_scoring_model)
            for r in range(rounds + 1)]


def trial_name(dataset: str, strategy_name: str, seed: int) -> str:
    """How a trial is named in messages, bars and a stop's account (``bench.trial.grid.Trial.name``)."""
    return f"{dataset}/{strategy_name}/seed{seed}"


def run_trial(cfg, strategy_name: str, seed: int, progress: bool = True, position: int = 0):
    """Run (or resume) one trial; returns its rows (list of dicts). Writes under ``cfg.out``."""
    name = trial_name(cfg.dataset, strategy_name, seed)
    if stop.asked() and not looks_finished(trial_dir(cfg.out, cfg.dataset, strategy_name, seed), cfg.rounds):
        raise RunStopped(f"{name}: not started", started=False, trial=name)
    strategy, ds = prepare(cfg, strategy_name, seed)
    identity = trial_identity(cfg, strategy, strategy_name, seed, ds)
    path = trial_dir(cfg.out, cfg.dataset, strategy_name, seed)
    if stop.asked() and not os.path.isdir(path):   # asked while the data loaded: no folder made for nothing
        raise RunStopped(f"{name}: not started", started=False, trial=name)
    os.makedirs(path, exist_ok=True)
    with TrialLock(path):
        rows, records = load_trial(path, identity, ds.classes)
        if len(rows) == cfg.rounds + 1:
            return rows
        if stop.asked():   # its table looked whole, but fewer rounds verified: none starts after a stop
            raise RunStopped(f"{name}: not started" if not rows else f"{name}: stopped after round "
                             f"{len(rows) - 1} of {cfg.rounds}", started=bool(rows), trial=name)
        header = {"identity": identity, "config": dataclasses.asdict(cfg), "versions": versions(),
                  "classes": list(ds.classes), "n_train": int(len(ds.y_train)), "n_test": int(len(ds.y_test)),
                  "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        with conv_backend(cfg.width, resolve_device(cfg.device)):
            return _run_rounds(cfg, strategy, strategy_name, seed, ds, path, rows, records, progress, position,
                               header if not rows else None)


def looks_finished(path: str, rounds: int) -> bool:
    """Whether the trial's table holds every round (its header and ``rounds`` + 1 rows): counted, not verified
    (``load_trial`` verifies), only to tell a stop that a trial needs no start."""
    try:
        with open(os.path.join(path, "rounds.csv"), "rb") as f:
            return sum(1 for _ in f) == rounds + 2
    except OSError:
        return False


def _run_rounds(cfg, strategy, strategy_name, seed, ds, path, rows, records, progress, position, header=None):
    """The rounds from ``len(rows)`` on; ``header`` (config.json) is written with the first finished round,
    so a trial that fails before finishing one (bad data, divergence) leaves no file behind."""
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    val = validation_split(ds.y_train, cfg.validation, seed)
    init_ss, rounds_ss = np.random.SeedSequence(seed).spawn(2)
    round_ss = rounds_ss.spawn(cfg.rounds + 1)
    if records:
        labelled = np.concatenate([records[0]["initial"]] + [r["selected"] for r in records]).astype(np.int64)
        if records[-1].get("strategy_state"):   # its memory across rounds, as the last recorded round left it
            strategy.load_state_dict(records[-1]["strategy_state"])
    else:
        candidates = np.setdiff1d(np.arange(len(ds.y_train)), val)   # all of them without a validation split
        labelled = np.sort(np.random.default_rng(init_ss).choice(candidates, cfg.initial, replace=False))

    x = torch.from_numpy(ds.x_train).to(device)
    y = torch.from_numpy(ds.y_train).to(device)
    x_test, y_test = torch.from_numpy(ds.x_test).to(device), torch.from_numpy(ds.y_test).to(device)
    val_t = torch.as_tensor(val, device=device)
    mean, std = channel_stats(ds.x_train)
    k = ds.num_classes
    class_cols = [f"count_{c}" for c in ds.classes]
    # the bar counts training images, and each round's evaluation and selection in image-equivalents
    # (bench.trial.progress), so its ETA covers whole rounds
    images = [(cfg.initial + r * cfg.budget) * cfg.epochs * m
              for r, m in enumerate(models_per_round(strategy, cfg.rounds))]
    name = trial_name(cfg.dataset, strategy_name, seed)
    bar = TrialBar(images, len(rows), name, disable=not progress, position=position)
    for r in range(len(rows), cfg.rounds + 1):
        train_seed, select_ss = round_ss[r].spawn(2)
        train_seed = int(train_seed.generate_state(1)[0])
        lab_t = torch.as_tensor(labelled, device=device)

        def train(**options):
            return train_classifier(cfg, x[lab_t], y[lab_t], k, train_seed, mean, std, progress=bar, **options)

        scorer, score_s = None, float("nan")
        if trains_scoring_model(strategy, r, cfg.rounds):
            scorer, score_s = train(**strategy.scoring_model_options)
        model, train_s = (scorer, score_s) if strategy.evaluate_scoring_model else train()
        if strategy.evaluate_scoring_model:
            score_s = 0.0   # no separate scoring model: the evaluated one scores
        t0 = time.perf_counter()
        metrics = evaluate(model, x_test, y_test, k, cfg.eval_batch_size, precision)
        eval_s = time.perf_counter() - t0
        record = {"round": r, "per_class_accuracy": metrics["per_class_accuracy"]}
        val_cols = {}
        if len(val):
            vm = evaluate(model, x[val_t], y[val_t], k, cfg.eval_batch_size, precision)
            val_cols = {"val_accuracy": vm["accuracy"], "val_balanced_accuracy": vm["balanced_accuracy"]}
            record["val_per_class_accuracy"] = vm["per_class_accuracy"]
        if r == 0:
            record.update(initial=labelled.tolist(), initial_classes=ds.y_train[labelled].tolist())
            if len(val):
                record["validation"] = val.tolist()
        select_s, selected = float("nan"), np.zeros(0, np.int64)
        if r < cfg.rounds:
            # the strategy sees a copy of the training images: one that writes into pool.x cannot change
            # what later rounds train on, and is caught below
            pool = Pool(x.clone(), ds.y_train, labelled, scorer if scorer is not None else model, k,
                        np.random.default_rng(select_ss), device, cfg.eval_batch_size, ds.classes,
                        classifier=model, held_out=val, budget=cfg.budget,
                        source_index=getattr(ds, "train_index", None), true_labels=strategy.reads_true_labels,
                        precision=precision, keep_passes=True)
            unlabelled = pool.unlabelled.copy()
            bar.set_postfix_str(f"round {r}: selecting {cfg.budget}")
            t0 = time.perf_counter()
            selected = select_checked(strategy, pool, cfg.budget, strategy_name, r)
            sync(device)
            select_s = time.perf_counter() - t0
            selected = check_selection(selected, pool, unlabelled, cfg.budget, strategy_name, r)
            if not torch.equal(pool.x, x):
                raise StrategyContractError(f"strategy {strategy_name!r} changed the pool's images (pool.x) in "
                                            f"round {r}: a strategy reads the pool, never writes it")
            record["diagnostics"] = getattr(strategy, "diagnostics_", {}) or {}
            state = strategy.state_dict()
            if state:
                record["strategy_state"] = state
            if len(pool.revealed):
                record["revealed"] = pool.revealed.tolist()
            del pool
        record.update(selected=selected.tolist(), selected_classes=ds.y_train[selected].tolist())
        counts = np.bincount(ds.y_train[labelled], minlength=k)
        rows.append({"dataset": cfg.dataset, "strategy": strategy_name, "seed": seed, "round": r,
                     "n_labelled": len(labelled), "accuracy": metrics["accuracy"],
                     "balanced_accuracy": metrics["balanced_accuracy"], **val_cols, "train_seconds": train_s,
                     "scoring_train_seconds": score_s, "select_seconds": select_s, "eval_seconds": eval_s,
                     "reads_true_labels": bool(strategy.reads_true_labels),
                     **dict(zip(class_cols, counts.tolist()))})
        record["processor"] = processor()   # where this round ran (a resumed trial may move machines)
        if device.type == "cpu":
            record["onednn"] = torch.backends.mkldnn.enabled   # off only for narrow nets on AVX2 (conv_backend)
        record["checksum"] = round_checksum(records[-1].get("checksum", "") if records else "", rows[-1], record)
        records.append(record)
        if header is not None:
            atomic_write(os.path.join(path, "config.json"), json.dumps(header, indent=2))
            header = None
        save_round(path, rows, records)
        bar.round_done(r, train_s + (score_s if np.isfinite(score_s) else 0.0), eval_s, select_s)
        bar.set_postfix(round=r, n=len(labelled), acc=f"{metrics['accuracy']:.3f}")
        labelled = np.concatenate([labelled, selected])
        del model, scorer
        if r < cfg.rounds and stop.asked():   # the round is saved: the next run resumes at r + 1
            bar.close()
            raise RunStopped(f"{name}: stopped after round {r} of {cfg.rounds}", trial=name)
    bar.close()
    return rows


def select_checked(strategy, pool, budget: int, name: str, r: int):
    """``strategy.select(pool, budget)``, its errors worded as its own: a label read or bought against the
    rules is a StrategyContractError; any error of a strategy from outside albench (a user's module) is a
    StrategyError naming the strategy, the round and the file:line it came from (its traceback with
    ``ALBENCH_DEBUG=1``). An error of albench's own strategies propagates with its traceback: a bug here."""
    try:
        return strategy.select(pool, budget)
    except LabelLeakError as err:
        raise StrategyContractError(f"strategy {name!r} broke the label rules in round {r}: {err}") from err
    except Exception as err:
        if type(strategy).__module__.split(".")[0] in ("strategies", "bench"):
            raise
        raise StrategyError(f"strategy {name!r} failed in round {r}: {describe_failure(err)}") from err


def check_selection(idx, pool, unlabelled: np.ndarray, budget: int, name: str, r: int) -> np.ndarray:
    """The selection as int64, or StrategyContractError naming the strategy, the round and what is wrong
    (``bench.core.pool.selection_problems``, the rule the strategy kit asserts)."""
    selected, problems = selection_problems(idx, unlabelled, pool.revealed, budget)
    if problems:
        raise StrategyContractError(f"strategy {name!r} broke the select() contract in round {r}: "
                                    f"{'; '.join(problems)}")
    return selected
