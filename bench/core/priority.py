"""Run below the machine's other work (``--nice N``): a study of days on a machine that is also used.

``nice`` alone does not do it on Linux. With autogroup scheduling (``/proc/sys/kernel/sched_autogroup_enabled``,
on in most distributions) the scheduler first shares the CPU between *sessions* (a terminal, a ``setsid``)
and applies a process's nice value only among the processes of its own session. A study niced to 19 in one
session and a test run in another still split the cores half and half; with torch threads on every core
that is worse than half (a thread waiting at a barrier for one that was preempted). A session's own weight is
its autogroup's nice value (``/proc/self/autogroup``). ``lower`` sets it too, but only when this process
leads its session (started with ``setsid``): the group is then this job and the workers it starts, never the
user's terminal. Otherwise it says how to start the job so that it can.

Priority changes no number: a trial's identity never records it.
"""
import os

from bench.core.errors import ConfigError

AUTOGROUP = "/proc/self/autogroup"
AUTOGROUP_ENABLED = "/proc/sys/kernel/sched_autogroup_enabled"


def autogroup_scheduling() -> bool:
    """Whether the kernel shares the CPU between sessions first (Linux autogroup)."""
    try:
        with open(AUTOGROUP_ENABLED) as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def lower(n: int) -> list[str]:
    """Give this process, and the workers it starts later, nice value ``n`` (1..19; 19: only idle cores);
    a lower priority than it has is kept. Returns what was done, one line each, for the user to read."""
    if not 1 <= n <= 19:
        raise ConfigError(f"--nice takes 1..19 (19: run only on cores nothing else wants), got {n}")
    now = os.getpriority(os.PRIO_PROCESS, 0)
    os.setpriority(os.PRIO_PROCESS, 0, max(now, n))
    done = [f"nice {max(now, n)}"]
    if not autogroup_scheduling():
        return done
    if os.getsid(0) != os.getpid():
        return done + ["the kernel shares the CPU between sessions first (autogroup), so this only orders the job "
                       "against its own terminal's processes; start it as `setsid albench ...` and --nice lowers it "
                       "against everything else too"]
    try:
        with open(AUTOGROUP) as f:
            level = max(int(f.read().split()[-1]), n)   # "/autogroup-98 nice 0"
        with open(AUTOGROUP, "w") as f:
            f.write(str(level))
    except (OSError, ValueError, IndexError) as err:
        return done + [f"its session's autogroup kept its weight ({getattr(err, 'strerror', None) or err}: "
                       f"{AUTOGROUP})"]
    return done + [f"its session's autogroup nice {level} (this job and its workers only: it leads its session)"]
