"""The exceptions albench raises for bad input; the CLI turns each into one message and exit code 2."""
import os
import re
import sys
import traceback


class AlbenchError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""


class ConfigError(AlbenchError, ValueError):
    """An impossible or inconsistent configuration (budget <= 0, more rounds than the pool allows, ...)."""


class UnknownNameError(ConfigError, KeyError):
    """A name no registry knows (a strategy, a dataset spec, an architecture); the message lists the known ones.
    A ``KeyError`` too, as the registries have always raised."""

    def __str__(self):   # KeyError's str() quotes its message
        return str(self.args[0]) if self.args else ""


class DataError(AlbenchError):
    """A dataset that cannot be read."""


class DatasetNotFoundError(DataError, FileNotFoundError):
    """No copy of a dataset in any place albench looks."""


class DatasetCorruptError(DataError):
    """A dataset file exists but is unreadable or incomplete."""


class ResultsConflictError(AlbenchError):
    """A results folder holds a run with a different configuration."""


class ResultsCorruptError(AlbenchError):
    """A results folder whose files cannot be verified (missing identity or table, unreadable JSON)."""


class TrainingDivergedError(AlbenchError):
    """The classifier's loss became NaN or infinite: its accuracy would be meaningless."""


class GridError(AlbenchError):
    """Trials of a grid failed (their own error, or their worker process died); the others ran to the end, or
    to a stop asked between rounds (``stopped``: what it left)."""

    def __init__(self, failures, total: int, stopped: str = ""):
        self.failures = list(failures)   # (trial name, what happened)
        lines = "".join(f"\n  {name}: {what}" for name, what in self.failures)
        super().__init__(f"{len(self.failures)} of {total} trial(s) failed"
                         + (f":{lines}\nand the run {stopped}" if stopped else
                            f"; every other trial ran to the end:{lines}")
                         + "\nfix the cause and run the same command: finished rounds are kept, only what is "
                         "missing runs (ALBENCH_DEBUG=1 shows a failure's traceback)")


class RunStopped(Exception):
    """A stop asked between rounds (``bench.trial.stop``): the trials in hand saved their round and ended.
    Not an error: the CLI says so and exits 3; the same command resumes (a failed trial beside it: GridError,
    exit 2). ``started``: whether the trial that raised it had begun (False: it stopped before its start)."""

    def __init__(self, what: str, started: bool = True, trial: str = ""):
        super().__init__(what, started, trial)   # all in args: it crosses a process boundary by pickling
        self.started, self.trial = started, trial   # trial: its name (bench.trial.grid.Trial.name)

    def __str__(self):
        return str(self.args[0])


class StrategyContractError(AlbenchError):
    """A strategy's select() broke its contract (a selection of the wrong shape, size or indices; a changed
    pool): the round is not recorded."""


class StrategyError(AlbenchError):
    """A strategy that is not albench's own raised in its select(): its error, worded as its own."""


def describe_failure(err: BaseException) -> str:
    """An AlbenchError's own message; else ``Type: message (at file:line)``, the error and the innermost frame
    it came from, also across a
    process boundary (a pool worker's traceback travels as text in ``__cause__``; a Ray task's error holds
    it in its own text, the task's error itself in ``cause``)."""
    where = ""
    remote = str(err.__cause__) if err.__cause__ is not None else ""
    if isinstance(getattr(err, "cause", None), BaseException):   # Ray: its error's text holds the traceback
        remote, err = str(err), err.cause
    if isinstance(err, AlbenchError):   # worded already (a strategy's error says whose and where)
        return str(err)
    frames = re.findall(r'File "([^"]+)", line (\d+)', remote)
    if frames:
        where = f"{os.path.basename(frames[-1][0])}:{frames[-1][1]}"
    elif err.__traceback__ is not None:
        last = traceback.extract_tb(err.__traceback__)[-1]
        where = f"{os.path.basename(last.filename)}:{last.lineno}"
    if os.environ.get("ALBENCH_DEBUG"):
        print(remote or "".join(traceback.format_exception(err)), file=sys.stderr)
    return f"{type(err).__name__}: {err}" + (f" (at {where})" if where else "")
