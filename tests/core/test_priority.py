"""`--nice N`: the job and its workers below other work, its session's autogroup too when it leads one.

Every lowering happens in child processes inside a session of the test's own (a wrapper started with
``setsid``), so a broken check can lower only that throwaway session, never the test runner's."""
import json
import os
import subprocess
import sys

import pytest

from bench.core import priority

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# a child that lowers itself to argv[1], then reports what it said, its nice value, its autogroup and the
# nice value of a process it starts (a worker); a refused value reports the error and its unchanged nice
CHILD = """
import json, os, subprocess, sys
from bench.core.priority import lower, AUTOGROUP
from bench.core.errors import ConfigError
try:
    said = lower(int(sys.argv[1]))
except ConfigError as err:
    said = ["refused: " + str(err)]
group = open(AUTOGROUP).read().strip() if os.path.exists(AUTOGROUP) else "none"
worker = subprocess.run([sys.executable, "-c", "import os; print(os.getpriority(os.PRIO_PROCESS, 0))"],
                        capture_output=True, text=True).stdout.strip()
print(json.dumps({"said": said, "nice": os.getpriority(os.PRIO_PROCESS, 0), "group": group,
                  "worker": int(worker)}))
"""

# the wrapper, leader of a fresh session: runs CHILD as a plain child (in the wrapper's session), as a
# shell job would start it (leads its process group, not its session) and under setsid (its own session)
WRAPPER = """
import json, os, subprocess, sys
from bench.core.priority import AUTOGROUP
group = lambda: open(AUTOGROUP).read().strip() if os.path.exists(AUTOGROUP) else "none"
out = {"before": group()}
for how, kw in (("plain", {}), ("job", {"process_group": 0}), ("setsid", {"start_new_session": True})):
    run = subprocess.run([sys.executable, "-c", sys.argv[1], sys.argv[2]], capture_output=True, text=True,
                         check=True, **kw)
    out[how] = json.loads(run.stdout)
out["after"] = group()
print(json.dumps(out))
"""


def lowered(n):
    env = dict(os.environ, PYTHONPATH=ROOT)
    run = subprocess.run([sys.executable, "-c", WRAPPER, CHILD, str(n)], capture_output=True, text=True, check=True,
                         start_new_session=True, cwd=ROOT, env=env)
    return json.loads(run.stdout)


@pytest.mark.parametrize("n", [0, 20, -5])
def test_a_value_outside_1_to_19_is_refused_and_nothing_changes(n):
    got = lowered(n)
    for how in ("plain", "job", "setsid"):
        assert got[how]["said"][0].startswith("refused: --nice takes 1..19")
        assert got[how]["nice"] == got[how]["worker"] == os.getpriority(os.PRIO_PROCESS, 0)
    assert got["after"] == got["before"]


@pytest.mark.skipif(not hasattr(os, "getsid") or sys.version_info < (3, 11), reason="POSIX sessions, process_group=")
@pytest.mark.parametrize("n", [7, 19])
def test_the_job_and_its_workers_run_niced_and_only_a_session_leader_lowers_its_autogroup(n):
    got = lowered(n)
    want = max(n, os.getpriority(os.PRIO_PROCESS, 0))
    for how in ("plain", "job", "setsid"):
        assert got[how]["nice"] == got[how]["worker"] == want and got[how]["said"][0] == f"nice {want}"
    assert got["after"] == got["before"]   # neither the plain child nor the shell-job-like one touched it
    if priority.autogroup_scheduling():
        assert got["before"].endswith(" nice 0")
        for how in ("plain", "job"):
            assert got[how]["group"] == got["before"] and "setsid" in got[how]["said"][1]
        assert got["setsid"]["group"].endswith(f" nice {n}") and f"autogroup nice {n}" in got["setsid"]["said"][1]
        assert got["setsid"]["group"].split()[0] != got["before"].split()[0]   # a group of its own


def test_autogroups_count_only_in_the_root_cpu_cgroup(tmp_path, monkeypatch):
    enabled = tmp_path / "enabled"
    enabled.write_text("1\n")
    cgroup, controllers = tmp_path / "cgroup", tmp_path / "subtree_control"
    monkeypatch.setattr(priority, "AUTOGROUP_ENABLED", str(enabled))
    monkeypatch.setattr(priority, "CGROUP", str(cgroup))
    monkeypatch.setattr(priority, "CGROUP2_ROOT_CONTROLLERS", str(controllers))
    cases = [("1:cpu:/\n2:memory:/x\n0::/\n", "", True),          # cgroup v1, the root cpu group
             ("3:cpu,cpuacct:/user.slice\n0::/\n", "", False),    # v1, a cpu group of its own
             ("0::/user.slice/session-3.scope\n", "memory pids\n", True),   # v2 without the cpu controller
             ("0::/user.slice/session-3.scope\n", "cpu memory\n", False),   # v2, cpu controller on
             ("0::/\n", "cpu\n", True)]
    for text, ctl, want in cases:
        cgroup.write_text(text)
        controllers.write_text(ctl)
        assert priority.autogroup_scheduling() is want, text
    enabled.write_text("0\n")
    cgroup.write_text("1:cpu:/\n")
    assert priority.autogroup_scheduling() is False
