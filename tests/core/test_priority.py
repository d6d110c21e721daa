"""`--nice N`: the job and its workers below other work, its session's autogroup too when it leads one."""
import os
import subprocess
import sys

import pytest

from bench.core import priority
from bench.core.errors import ConfigError

# a child that lowers itself, then reports its nice value, its autogroup and a grandchild's nice (a worker)
CHILD = """
import os, subprocess, sys
from bench.core.priority import lower, AUTOGROUP
print("|".join(lower(int(sys.argv[1]))))
print(os.getpriority(os.PRIO_PROCESS, 0))
print(open(AUTOGROUP).read().strip() if os.path.exists(AUTOGROUP) else "none")
print(subprocess.run([sys.executable, "-c", "import os; print(os.getpriority(os.PRIO_PROCESS, 0))"],
                     capture_output=True, text=True).stdout.strip())
"""


def lowered(n, own_session):
    out = subprocess.run([sys.executable, "-c", CHILD, str(n)], capture_output=True, text=True, check=True,
                         start_new_session=own_session, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                             os.path.abspath(__file__)))))
    said, nice, group, worker = out.stdout.strip().split("\n")
    return said, int(nice), group, int(worker)


@pytest.mark.parametrize("n", [0, 20, -5])
def test_a_value_outside_1_to_19_is_refused_before_anything_changes(n):
    before = os.getpriority(os.PRIO_PROCESS, 0)
    with pytest.raises(ConfigError, match="1..19"):
        priority.lower(n)
    assert os.getpriority(os.PRIO_PROCESS, 0) == before


@pytest.mark.skipif(not hasattr(os, "getsid"), reason="POSIX sessions")
def test_the_job_and_its_workers_run_niced_and_a_session_leader_lowers_its_own_autogroup_only():
    mine = open(priority.AUTOGROUP).read().strip() if os.path.exists(priority.AUTOGROUP) else "none"
    said, nice, group, worker = lowered(7, own_session=True)
    assert nice == worker == max(7, os.getpriority(os.PRIO_PROCESS, 0))
    if priority.autogroup_scheduling():
        assert group.endswith(" nice 7") and "autogroup nice 7" in said
        assert group.split()[0] != mine.split()[0]   # a group of its own, not the test runner's
    said, nice, group, worker = lowered(5, own_session=False)
    assert nice == worker == max(5, os.getpriority(os.PRIO_PROCESS, 0))
    if priority.autogroup_scheduling():   # the caller's session is left as it was, and the user told how
        assert group == mine and "setsid" in said
