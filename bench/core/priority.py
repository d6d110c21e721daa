"""Run below the machine's other work (``--nice N``): a study of days on a machine that is also used.

``nice`` alone does not do it on Linux. With autogroup scheduling (``/proc/sys/kernel/sched_autogroup_enabled``,
in force for a process whose cpu cgroup is the root one: the default of many distributions, not of a
container or a systemd machine with the cpu controller on) the scheduler first shares the CPU between
*sessions* (a terminal, a ``setsid``) and applies a process's nice value only among the processes of its own
session. A study niced to 19 in one session and a test run in another then still split the cores half and
half; with torch threads on every core that is worse than half (a thread waiting at a barrier for one that
was preempted). A session's own weight is its autogroup's nice value (``/proc/self/autogroup``). ``lower``
sets it too, but only when this process leads its session (started with ``setsid``): the group is then this
job and the local workers it starts, never the user's terminal. Otherwise it says how to start the job so
that it can. Nice 19 is the lowest weight, not idle-only: against one busy nice-0 thread it keeps about 1.5 %
of a core (weights 15 and 1024).

Priority changes no number: a trial's identity never records it.
"""
import errno
import os
import time

from bench.core.errors import ConfigError

AUTOGROUP = "/proc/self/autogroup"
AUTOGROUP_ENABLED = "/proc/sys/kernel/sched_autogroup_enabled"
CGROUP = "/proc/self/cgroup"
CGROUP2_ROOT_CONTROLLERS = "/sys/fs/cgroup/cgroup.subtree_control"


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _cpu_cgroup_is_root() -> bool:
    """Whether this process's cpu cgroup is the root one (the kernel applies autogroups only there)."""
    lines = [line.split(":", 2) for line in _read(CGROUP).splitlines() if line.count(":") >= 2]
    for _, controllers, path in lines:   # cgroup v1 (or hybrid) with the cpu controller mounted
        if "cpu" in controllers.split(","):
            return path == "/"
    for hierarchy, _, path in lines:      # cgroup v2: a group of its own where the root passes the cpu controller on
        if hierarchy == "0" and path != "/":
            return "cpu" not in _read(CGROUP2_ROOT_CONTROLLERS).split()
    return True


def autogroup_scheduling() -> bool:
    """Whether the kernel shares the CPU between sessions first for this process (Linux autogroup)."""
    return _read(AUTOGROUP_ENABLED).strip() == "1" and _cpu_cgroup_is_root()


def _set_autogroup(level: int) -> None:
    """Write the session's autogroup nice; the kernel takes one such write per 100 ms from a user without
    CAP_SYS_NICE (EAGAIN otherwise), so jobs started together retry."""
    for attempt in range(20):
        try:
            with open(AUTOGROUP, "w") as f:
                f.write(str(level))
            return
        except OSError as err:
            if err.errno != errno.EAGAIN or attempt == 19:
                raise
            time.sleep(0.11)


def lower(n: int) -> list[str]:
    """Give this process, and the local workers it starts later, nice value ``n`` (1..19; 19: the lowest);
    a lower priority than it has is kept. Returns what was done, one line each, for the user to read."""
    if not 1 <= n <= 19:
        raise ConfigError(f"--nice takes 1..19 (19: the lowest priority), got {n}")
    level = max(os.getpriority(os.PRIO_PROCESS, 0), n)
    os.setpriority(os.PRIO_PROCESS, 0, level)
    done = [f"nice {level}"]
    if not autogroup_scheduling():
        return done
    if os.getsid(0) != os.getpid():
        return done + ["the kernel shares the CPU between sessions first (autogroup), so this only orders the job "
                       "against its own terminal's processes; start it as `setsid albench ...` and --nice lowers it "
                       "against everything else too"]
    try:
        level = max(int(_read(AUTOGROUP).split()[-1]), n)   # "/autogroup-98 nice 0"
        _set_autogroup(level)
    except (OSError, ValueError, IndexError) as err:
        return done + [f"its session's autogroup kept its weight ({getattr(err, 'strerror', None) or err}: "
                       f"{AUTOGROUP})"]
    return done + [f"its session's autogroup nice {level} (this job and its workers only: it leads its session)"]
