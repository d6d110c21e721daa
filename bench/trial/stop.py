"""A stop asked for between rounds, so that ending a long run loses nothing already computed.

``kill -USR1 <pid>`` asks the trials of the command ``<pid>`` (``albench run``, ``paper`` or ``study``, once it
has printed its first line) to finish the round in hand, save it as usual, and end; no further trial starts,
and the command ends with exit code 3 (``RunStopped``), saying which trial stopped after which round. Running
the same command again resumes every trial at its next round, as after any interruption, with no round
computed twice. A trial that fails meanwhile still fails the run (exit 2, ``GridError``). A plain ``kill``
(SIGTERM) or Ctrl-C still stops at once, losing the rounds in flight.

The ``local`` and ``pool`` executors stop so. The pool's workers learn of it from their parent, through a
file in the folder where they note their trials, looked at between rounds (the signal sent to the whole
process group, ``kill -USR1 -- -<pid>``, reaches them too); they and the pool's resource tracker start with
the signal blocked, so none dies of its default action. Ray's tasks run in Ray's own processes, which it does
not reach (they start with it blocked): a Ray run says so and goes on (stop it with Ctrl-C or Ray's tools).
The command line ignores the signal as it ends; ``bench.cli.main`` called in a program forgets the stop and
puts the program's own handler back (``stop_listening``).
"""
import contextlib
import os
import signal
import threading

SIGNAL = getattr(signal, "SIGUSR1", None)   # None where the platform has no SIGUSR1 (Windows): no stop then
_asked = False
_listening = False
_worker = False   # a pool worker: it says nothing (its parent does, once) and also reads the parent's file
_shared = ""      # the file whose existence means a stop was asked: the parent writes it, its workers look
_unreachable = ""  # why a stop cannot reach this run's trials (Ray), said instead of stopping
_before = None     # the handler listen() replaced, put back by stop_listening()


def _say(text: str):
    """To stderr without Python's buffered stream: the handler may run while the main code is writing to it
    (a progress bar into a full pipe), where print() raises a reentrant-call error into that code."""
    try:
        os.write(2, f"albench: {text}\n".encode())
    except OSError:
        pass


def _ask(signum, frame):
    global _asked
    first, _asked = not _asked, True
    _tell()
    if first and not _worker:
        _say(f"stop asked (SIGUSR1), but {_unreachable}: the run goes on (Ctrl-C or kill stop it at once)"
             if _unreachable else "stop asked (SIGUSR1): every running trial saves the round in hand, then "
             "the run ends (kill without -USR1 stops at once)")


def _tell():
    if _shared and not os.path.exists(_shared):
        try:
            open(_shared, "w").close()
        except OSError:   # the pool's folder is gone: the pool has ended
            pass


def listen(worker: bool = False, shared: str = "", unreachable: str = ""):
    """Note a stop from now on, in this process; only from its main thread (Python's rule for handlers:
    elsewhere, e.g. a trial run from a thread, nothing changes). ``worker``: a pool worker, reading
    ``shared``, the file its parent writes; ``unreachable``: why this run's trials cannot stop (said)."""
    global _worker, _shared, _unreachable, _listening, _before
    _worker, _unreachable = worker, unreachable
    if worker:
        _shared = shared
    if SIGNAL is not None and threading.current_thread() is threading.main_thread():
        previous = signal.signal(SIGNAL, _ask)
        if not _listening:
            _before, _listening = previous, True
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {SIGNAL})


def stop_listening(ending: bool = False):
    """Forget any stop asked, and give the signal back its handler from before ``listen()``; ``ending`` (the
    process ends: the command line) ignore it instead where that was the default action, which would kill the
    process at the interpreter's shutdown, when Python's handlers give way to it."""
    global _listening, _asked, _shared, _unreachable, _worker
    _asked, _shared, _unreachable, _worker = False, "", "", False
    if _listening and threading.current_thread() is threading.main_thread():
        before = signal.SIG_DFL if _before is None else _before   # None: a handler not set from Python
        signal.signal(SIGNAL, signal.SIG_IGN if ending and before == signal.SIG_DFL else before)
        _listening = False


def share(path: str):
    """Write ``path`` when a stop is asked (at once if it was already), for the workers that look at it;
    '' to stop writing it."""
    global _shared
    _shared = path
    if _asked:
        _tell()


@contextlib.contextmanager
def held():
    """The signal waits, blocked, in this thread: processes started meanwhile inherit the block (through fork
    and exec alike), so none dies of the signal's default action before it listens."""
    if SIGNAL is None:
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {SIGNAL})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def asked() -> bool:
    return _asked or (_worker and bool(_shared) and os.path.exists(_shared))
