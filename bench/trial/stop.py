"""A stop asked for between rounds, so that ending a long run loses nothing already computed.

``kill -USR1 <pid>`` asks every running trial of the command ``<pid>`` to finish the round in hand, save it as
usual, and end; no further trial starts, and the command ends with exit code 3 (``RunStopped``), saying so.
Running the same command again resumes every trial at its next round, as after any interruption, with no
round computed twice. A plain ``kill`` (SIGTERM) or Ctrl-C still stops at once, losing the rounds in flight.

Covered: the ``local`` and ``pool`` executors. The pool's workers learn of it from their parent (a file in the
folder where they note their trials, looked at between rounds) or from the signal itself where it reaches
them too (``kill -USR1 -- -<pid>``, a process group); a worker still starting holds the signal blocked,
inherited from its parent, until it listens, so none dies of the signal's default action. A Ray task runs in
Ray's own processes, which neither reaches: stop those with Ray's tools.
"""
import os
import signal
import sys
import threading

from bench.core.errors import RunStopped

SIGNAL = getattr(signal, "SIGUSR1", None)   # None where the platform has no SIGUSR1 (Windows): no stop then
_asked = False
_quiet = False    # a pool worker: its parent says it, once
_shared = ""      # a file whose existence means a stop was asked: the parent writes it, its workers look


def _ask(signum, frame):
    global _asked
    if not _asked and not _quiet:
        print("albench: stop asked (SIGUSR1): every running trial saves the round in hand, then the run ends "
              "(kill without -USR1 stops at once)", file=sys.stderr, flush=True)
    _asked = True
    _tell()


def _tell():
    if _shared and not os.path.exists(_shared):
        try:
            open(_shared, "w").close()
        except OSError:   # the pool's folder is gone: the pool has ended
            pass


def listen(quiet: bool = False, shared: str = ""):
    """Note a stop from now on, in this process; only from its main thread (Python's rule for handlers:
    elsewhere, e.g. a trial run from a thread, nothing changes). ``quiet``: note it without saying so;
    ``shared``: the file its parent writes when it is asked (a pool worker)."""
    global _quiet, _shared
    _quiet, _shared = quiet, shared
    if SIGNAL is not None and threading.current_thread() is threading.main_thread():
        signal.signal(SIGNAL, _ask)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {SIGNAL})


def share(path: str):
    """Write ``path`` when a stop is asked (at once if it was already), for the workers that look at it;
    '' to stop writing it."""
    global _shared
    _shared = path
    if _asked:
        _tell()


def held():
    """A context in which the signal waits, blocked: processes started in it inherit the block (through
    fork and exec alike), so none dies of the signal's default action before it ``listen()``s."""
    return _Held()


class _Held:
    def __enter__(self):
        if SIGNAL is not None:
            signal.pthread_sigmask(signal.SIG_BLOCK, {SIGNAL})

    def __exit__(self, *exc):
        if SIGNAL is not None:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {SIGNAL})


def asked() -> bool:
    return _asked or (_quiet and bool(_shared) and os.path.exists(_shared))


def check(what: str, started: bool = True):
    """Raise ``RunStopped`` if a stop was asked: between rounds (``what``: the trial and the round it saved)
    and before a trial starts (``started`` False)."""
    if asked():
        raise RunStopped(what, started)


def forget():
    """Back to no stop asked (a new command in the same process: tests, ``albench paper`` after a stop)."""
    global _asked
    _asked = False
