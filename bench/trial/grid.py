"""A grid of trials (datasets x strategies x seeds) and the executors that run it.

``local`` runs trials one after another in this process; ``pool`` runs them in N worker processes that
share the machine's GPUs (round-robin over the visible devices); ``ray`` submits each trial as a Ray task
with a fractional GPU.  On the CPU, concurrent trials split the cores (``cpu_threads``; ``threads=`` sets
it).  A trial writes only its own folder, so workers never touch the same file; a finished trial is skipped
and a partial one resumes (``bench.trial.loop.run_trial``).
"""
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, replace

import torch
from tqdm.auto import tqdm

import bench.trial.loop  # noqa: F401
from bench.core.config import REPO_ROOT, Config, load_config, preset_for
from bench.core.errors import ConfigError, GridError, RunStopped, describe_failure
from bench.trial import stop
from bench.trial.loop import looks_finished, run_trial, trial_name
from bench.trial.preflight import import_user_modules
from bench.trial.progress import grid_time_left, human
from bench.trial.store import trial_dir


@dataclass(frozen=True)
class Trial:
    cfg: Config
    strategy: str
    seed: int

    @property
    def name(self):
        return trial_name(self.cfg.dataset, self.strategy, self.seed)


def expand(datasets, strategies=None, seeds=None, config=None, overrides=(), base=None, **fields):
    """Trials for every (dataset, strategy, seed); each dataset under ``config`` or its own preset, then
    ``base`` (a scale profile's settings) and ``overrides``."""
    if seeds is not None and any(int(k) < 0 for k in seeds):
        raise ConfigError(f"seeds are non-negative integers (numpy's SeedSequence), got {list(seeds)}")
    trials = []
    for d in datasets:
        cfg = load_config(config or preset_for(d), overrides, base, dataset=d, **fields)
        for s in (strategies or cfg.strategies):
            for k in (seeds if seeds is not None else cfg.seeds):
                trials.append(Trial(replace(cfg, strategies=tuple(strategies or cfg.strategies)), s, int(k)))
    return trials


def cpu_threads(cfg: Config, workers: int) -> int:
    """torch threads for one trial: the config's ``threads``, else the machine's cores split between the
    ``workers`` concurrent trials (each worker's torch would otherwise start a thread per core and the
    workers would thrash: measured 4.8x slower for two workers on two cores)."""
    return cfg.threads or max(1, (os.cpu_count() or 1) // max(1, workers))


def run_one(trial: Trial, progress: bool = True, device: str = None, threads: int = 0):

    cfg = replace(trial.cfg, device=device) if device else trial.cfg
    threads = threads or cfg.threads
    if threads:
        torch.set_num_threads(threads)
    return run_trial(cfg, trial.strategy, trial.seed, progress=progress)


def _pool_init(threads: int, imports=(), running_dir: str = ""):
    """A pool worker's start: the user's ``--import`` modules, its torch threads and the imports every trial
    needs, once; ``running_dir``: where it notes the trial it runs (``_note_path``)."""

    if imports:

        import_user_modules(imports)
    if threads:
        torch.set_num_threads(threads)
    # started with the signal held (_run_pool): one sent meanwhile is noted now; the parent's, in its file
    stop.listen(worker=True, shared=os.path.join(running_dir, STOP_FILE) if running_dir else "")
    global _RUNNING_DIR
    _RUNNING_DIR = running_dir
    if running_dir:   # the pool terminates its other workers when one dies: they are not to blame

        signal.signal(signal.SIGTERM, _terminated)


_RUNNING_DIR = ""
STOP_FILE = "stop"   # in the workers' folder, beside their notes (named by pid): a stop asked of the parent


def _note_path() -> str:
    """This worker's note of the trial in hand ('' outside a pool that keeps notes)."""
    return os.path.join(_RUNNING_DIR, str(os.getpid())) if _RUNNING_DIR else ""


def _terminated(signum, frame):
    note = _note_path()
    if note and os.path.exists(note):
        os.remove(note)
    os._exit(128 + signum)


def _pool_worker(args):
    trial, device, threads = args
    note = _note_path()
    if note:
        with open(note, "w") as f:
            f.write(trial.name)
    try:
        run_one(trial, progress=False, device=device, threads=threads)
    finally:
        if note and os.path.exists(note):
            os.remove(note)
    return trial.name


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_pool(jobs, workers, threads, imports, on_done, failed, stopped):
    """Run ``jobs`` on ``workers`` reused processes. A trial's own error fails that trial; a worker that dies
    (killed, out of memory) fails the trial it was running, found by the note each worker keeps of its
    trial (the workers the pool then terminates remove theirs), and the trials its death interrupted run
    again in a fresh pool, unless a stop was asked. Fills ``failed`` ({trial name: failure}) as failures
    happen, and ``stopped`` with the ``RunStopped`` of the trials a stop ended."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool
    from multiprocessing import resource_tracker

    if stop.SIGNAL is not None:
        with stop.held():   # the pool's resource tracker, started here, keeps the stop signal blocked for good
            resource_tracker.ensure_running()

    pending, blameless, interrupted = list(jobs), 0, set()
    with tempfile.TemporaryDirectory(prefix="albench-workers-") as running:
        stop.share(os.path.join(running, STOP_FILE))
        while pending and not stop.asked():
            broken = []
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_pool_init,
                                     initargs=(threads, tuple(imports), running)) as ex:
                with stop.held():   # the workers start (in submit) with the stop signal held until they listen
                    futures = {ex.submit(_pool_worker, j): j for j in pending}
                for f in as_completed(futures):
                    job = futures[f]
                    try:
                        on_done(f.result())
                    except RunStopped as why:
                        stopped.append(why)
                    except BrokenProcessPool:
                        broken.append(job)
                    except Exception as err:   # the trial's own error: the others go on
                        failed[job[0].name] = describe_failure(err)
            dead = {}
            for note in set(os.listdir(running)) - {STOP_FILE}:   # left by a worker that died uncleanly: SIGKILL, OOM
                with open(os.path.join(running, note)) as fh:
                    name = fh.read()
                os.remove(os.path.join(running, note))
                if not _pid_alive(int(note)):
                    dead[name] = "its worker process died (killed by a signal, or out of memory)"
            if broken and not dead:   # an idle worker died: its interrupted neighbours run again, once
                blameless += 1
                if blameless > 1:
                    dead = {j[0].name: "the worker pool broke twice with no trial to blame" for j in broken}
            failed.update(dead)
            pending = [j for j in broken if j[0].name not in dead]
            interrupted |= {j[0].name for j in pending}
        stop.share("")
    # left by a stop: interrupted when a worker died and not run again, or (a stop asked before) never run
    for j in pending:
        saved = j[0].name in interrupted and os.path.exists(os.path.join(_folder(j[0]), "rounds.csv"))
        stopped.append(RunStopped(f"{j[0].name}: interrupted when a worker died, not run again after the stop; it "
                                  "resumes at its last saved round", trial=j[0].name) if saved else
                       RunStopped(f"{j[0].name}: not started", started=False, trial=j[0].name))


def run_grid(trials, executor: str = "local", workers: int = 1, address: str = None, progress: bool = True,
             gpus_per_trial: float = None, imports=(), cost=None):
    """Run ``trials`` through ``executor``; returns the names of the trials that finished. A trial that fails
    (its own error, or a dead worker) does not stop the others: GridError names every failure at the end.
    ``imports``: the user's ``--import`` modules, imported in every worker process too; ``cost``: each trial's
    estimated seconds by name (the plan's), which weigh the time left said after each trial
    (``bench.trial.progress.grid_time_left``)."""
    t0 = time.perf_counter()
    done, failed, stopped = [], {}, []
    stop.listen(unreachable="Ray's tasks run in Ray's own processes, which it does not reach"
                if executor == "ray" else "")
    if stop.asked():   # asked while the command prepared the run
        raise RunStopped(_stopped(trials, done, failed, stopped))

    def finished(name):
        done.append(name)
        elapsed = time.perf_counter() - t0
        gone = set(done) | set(failed)
        pending = [t.name for t in trials if t.name not in gone]
        left = grid_time_left(elapsed, done, pending, cost) if pending else None
        eta = "" if left is None else f", ~{human(left)} left at this pace"
        if not progress:   # without bars (a log file), one line per finished trial
            print(f"albench: {name} done ({len(done)} of {len(trials)}, {elapsed / 60:.1f} min since the start{eta})",
                  file=sys.stderr, flush=True)
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(name + eta)

    bar = None
    if executor == "local":
        for t in trials:
            try:
                run_one(t, progress)
            except RunStopped as why:   # asked between rounds: this trial saved its round, no other starts
                stopped.append(why)
                break
            except (KeyboardInterrupt, OSError):   # the user's stop; a full disk stops every trial alike
                raise
            except Exception as err:
                if len(trials) == 1:
                    raise   # one trial: its own error, as it is
                failed[t.name] = describe_failure(err)
                print(f"albench: {t.name} failed: {failed[t.name]}", file=sys.stderr, flush=True)
                continue
            finished(t.name)
    else:
        # no tqdm remaining time: it counts trials alike, the postfix weighs them (grid_time_left)
        bar = tqdm(total=len(trials), desc=f"grid ({executor}, {workers} workers)", unit="trial",
                   disable=not progress, bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]")
        if executor == "pool":

            n_gpu = torch.cuda.device_count()
            jobs = [(t, (f"cuda:{i % n_gpu}" if n_gpu and t.cfg.device in ("auto", "cuda") else None),
                     cpu_threads(t.cfg, workers)) for i, t in enumerate(trials)]
            # the workers live for the whole grid (a spawned process pays ~2-4 s of imports: on a grid of
            # small trials that was most of the time), each setting its torch threads once
            threads = {j[2] for j in jobs}
            _run_pool(jobs, workers, threads.pop() if len(threads) == 1 else 0, imports, finished, failed,
                      stopped)
        elif executor == "ray":
            _run_ray(trials, workers, address, gpus_per_trial, finished, imports, failed)
        else:
            raise ValueError(f"unknown executor {executor!r}; use local, pool or ray")
        bar.close()
    said = _stopped(trials, done, failed, stopped) if stopped or (
        stop.asked() and len(done) + len(failed) < len(trials)) else ""
    if failed:

        raise GridError(sorted(failed.items()), len(trials), stopped=said)
    if said:
        raise RunStopped(said)
    return done


def _folder(t: Trial) -> str:
    return trial_dir(t.cfg.out, t.cfg.dataset, t.strategy, t.seed)


def _stopped(trials, done, failed, stopped) -> str:
    """What a stop asked between rounds left: each trial that ended at its last saved round (and how), and
    how many never began (stopped before their start, or never reached); finished ones, here or before, apart."""
    ended = [str(s) for s in stopped if s.started]
    seen = set(done) | set(failed) | {s.trial for s in stopped if s.started}
    finished = len(done) + sum(1 for t in trials if t.name not in seen and looks_finished(_folder(t), t.cfg.rounds))
    waiting = len(trials) - finished - len(failed) - len(ended)
    return (f"stopped as asked: {finished} of {len(trials)} trial(s) finished, {len(ended)} ended at their last "
            f"saved round, {waiting} not started" + (f", {len(failed)} failed" if failed else "")
            + "; run the same command to go on from there (no saved round runs again)"
            + "".join(f"\n  {e}" for e in ended))


def _run_ray(trials, workers, address, gpus_per_trial, finished, imports, failed):
    try:
        import ray
    except ImportError:
        raise SystemExit("the ray executor needs Ray: pip install -e .[ray]") from None
    env = {"env_vars": {"PYTHONPATH": REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}}
    if not ray.is_initialized():
        kw = {"address": address} if address else {"num_cpus": max(1, workers), "include_dashboard": False}
        with stop.held():   # Ray's own processes (started here, in this process group) never die of a stop
            ray.init(runtime_env=env, log_to_driver=False, **kw)
    n_gpu = ray.cluster_resources().get("GPU", 0)
    gpu = gpus_per_trial if gpus_per_trial is not None else (min(1.0, n_gpu / max(1, workers)) if n_gpu else 0)
    task = ray.remote(num_gpus=gpu, num_cpus=1, max_retries=0)(_ray_task)
    pending = {task.remote(t, sys.path + [os.getcwd()], cpu_threads(t.cfg, workers), tuple(imports)): t
               for t in trials}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        t = pending.pop(ready[0])
        try:
            finished(ray.get(ready[0]))
        except Exception as err:   # the task's own error, or its worker died (ray's WorkerCrashedError)
            failed[t.name] = describe_failure(err)


def _ray_task(trial, path, threads=0, imports=()):
    sys.path[:0] = [p for p in path if p not in sys.path]
    if imports:

        import_user_modules(imports)
    run_one(trial, progress=False, threads=threads)
    return trial.name
