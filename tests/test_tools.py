"""tools/: the scripts the project's own long runs use, run for real on a throwaway clone."""
import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.helpers import ROOT

TOOL = os.path.join(ROOT, "tools", "study-in-background.sh")
GIT = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=dict(os.environ, **GIT)).stdout


needs_git = pytest.mark.skipif(not os.path.exists(os.path.join(ROOT, ".git")),
                               reason="the tool works on a git checkout; this copy of the repository is not one")


def clone_with_the_tool(tmp_path):
    """A throwaway clone of this repository holding the working tree's version of the tool, smoke's results
    tree let in by its .gitignore (the project ignores it)."""
    clone = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", ROOT, str(clone)], check=True)
    os.makedirs(clone / "tools", exist_ok=True)
    shutil.copy(TOOL, clone / "tools")
    with open(clone / ".gitignore", "a") as f:
        f.write("!results/paper-smoke/\n")
    git(clone, "add", "tools", ".gitignore")
    git(clone, "commit", "-qm", "the tool under test")
    return clone


@needs_git
def test_a_study_in_the_background_runs_from_a_worktree_and_commits_its_rounds(tmp_path):
    clone, wt = clone_with_the_tool(tmp_path), tmp_path / "run"
    head = git(clone, "rev-parse", "HEAD").strip()
    # an hour between commits: the one that lands is the loop's last, made as soon as the study ends
    env = dict(os.environ, **GIT, PYTHON=sys.executable, COMMIT_EVERY="3600", WORKTREE=str(wt), PYTHONPATH="")
    r = subprocess.run([str(clone / "tools" / "study-in-background.sh"), "imbalance", "smoke", "--only", "balanced",
                        "--strategies", "random", "--seeds", "0"], cwd=clone, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"worktree {wt}" in r.stdout and "committing results/paper-smoke every 3600 s" in r.stdout
    pid = int(r.stdout.split("pid ")[1].split(",")[0])
    deadline = time.time() + 240   # until the study has ended and the loop's last commit has landed
    while time.time() < deadline and (os.path.exists(f"/proc/{pid}") or "rounds landed" not in git(clone, "log", "-1")
                                      or git(clone, "status", "--porcelain", "-uno", "results/paper-smoke")):
        time.sleep(1)
    assert git(wt, "rev-parse", "HEAD").strip() == head           # the study ran the clone's committed code
    assert "trial(s) run" in (wt / "study.log").read_text()
    tracked = git(clone, "ls-files", "results/paper-smoke").split()
    assert "results/paper-smoke/main/digits/random/seed0/rounds.csv" in tracked
    assert {os.path.basename(f) for f in tracked} == {"rounds.csv", "rounds.jsonl", "config.json", "profile.json"}
    assert git(clone, "status", "--porcelain", "-uno", "results/paper-smoke") == ""   # every table committed

    # started again at the next commit, the worktree of the last one is refused, not reused with its old code
    git(clone, "commit", "-q", "--allow-empty", "-m", "a later commit")
    r = subprocess.run([str(clone / "tools" / "study-in-background.sh"), "imbalance", "smoke"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and f"{wt} exists at another commit" in r.stderr


@needs_git
def test_without_arguments_it_says_how_to_use_it_and_a_study_that_fails_at_once_is_said(tmp_path):
    r = subprocess.run([TOOL], capture_output=True, text=True)
    assert r.returncode == 2 and "tools/study-in-background.sh STUDY PROFILE" in r.stdout
    clone = clone_with_the_tool(tmp_path)
    env = dict(os.environ, PYTHON=sys.executable, COMMIT_EVERY="0", WORKTREE=str(tmp_path / "wt"), PYTHONPATH="")
    r = subprocess.run([str(clone / "tools" / "study-in-background.sh"), "imbalance", "smoke", "--strategies",
                        "no_such_strategy"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "the study ended at once" in r.stderr and "no_such_strategy" in r.stderr

    # started again at the same commit (a study's next phase), the worktree is reused: its two logs are the
    # tool's own, not changes; anything else in it is one, and refused
    r = subprocess.run([str(clone / "tools" / "study-in-background.sh"), "imbalance", "smoke", "--strategies",
                        "another_unknown"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "another_unknown" in r.stderr
    (tmp_path / "wt" / "stray.py").write_text("")
    r = subprocess.run([str(clone / "tools" / "study-in-background.sh"), "imbalance", "smoke"], env=env,
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "exists at another commit or with changes" in r.stderr


@needs_git
def test_stop_at_asks_the_study_to_stop_between_rounds_and_a_past_or_unreadable_time_is_refused(tmp_path):
    clone = clone_with_the_tool(tmp_path)
    env = dict(os.environ, PYTHON=sys.executable, COMMIT_EVERY="0", WORKTREE=str(tmp_path / "wt"), PYTHONPATH="")
    tool = [str(clone / "tools" / "study-in-background.sh"), "imbalance", "smoke", "--only", "balanced"]
    for when, said in (("yesterday", "already past"), ("not a time", "date cannot read")):
        r = subprocess.run(tool, env=dict(env, STOP_AT=when), cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and said in r.stderr, r.stderr
    r = subprocess.run(tool, env=dict(env, STOP_AT="+5 seconds"), cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and "asked to stop at" in r.stdout, r.stderr
    pid = int(r.stdout.split("pid ")[1].split(",")[0])
    deadline = time.time() + 120
    try:
        while time.time() < deadline and os.path.exists(f"/proc/{pid}"):
            time.sleep(0.5)
    finally:
        if os.path.exists(f"/proc/{pid}"):   # not stopped: not left running either
            os.killpg(pid, 9)
    log = (tmp_path / "wt" / "study.log").read_text()
    assert "stop asked (SIGUSR1)" in log and "stopped as asked:" in log, log[-2000:]
