"""tools/: the scripts the project's own long runs use, run for real on a throwaway clone."""
import os
import shutil
import subprocess
import sys
import time

from tests.helpers import ROOT

TOOL = os.path.join(ROOT, "tools", "study-in-background.sh")
GIT = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=dict(os.environ, **GIT)).stdout


def test_a_study_in_the_background_runs_from_a_worktree_and_commits_its_rounds(tmp_path):
    clone, wt = tmp_path / "repo", tmp_path / "run"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", ROOT, str(clone)], check=True)
    os.makedirs(clone / "tools", exist_ok=True)
    shutil.copy(TOOL, clone / "tools")   # the working tree's version of the tool
    with open(clone / ".gitignore", "a") as f:   # smoke's results tree is ignored in the project; let it in here
        f.write("!results/paper-smoke/\nresults/paper-smoke/report-*/\n")
    git(clone, "add", "tools", ".gitignore")
    git(clone, "commit", "-qm", "the tool under test")
    head = git(clone, "rev-parse", "HEAD").strip()
    env = dict(os.environ, **GIT, PYTHON=sys.executable, COMMIT_EVERY="1", WORKTREE=str(wt), PYTHONPATH="")
    r = subprocess.run([str(clone / "tools" / "study-in-background.sh"), "imbalance", "smoke", "--only", "balanced",
                        "--strategies", "random", "--seeds", "0"], cwd=clone, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"worktree {wt}" in r.stdout and "committing results/paper-smoke every 1 s" in r.stdout
    pid = int(r.stdout.split("pid ")[1].split(",")[0])
    deadline = time.time() + 240   # until the study has ended and the loop's last commit has landed
    while time.time() < deadline and (os.path.exists(f"/proc/{pid}") or "rounds landed" not in git(clone, "log", "-1")
                                      or git(clone, "status", "--porcelain", "results/paper-smoke")):
        time.sleep(1)
    assert git(wt, "rev-parse", "HEAD").strip() == head           # the study ran the clone's committed code
    assert "trial(s) run" in (wt / "study.log").read_text()
    tracked = git(clone, "ls-files", "results/paper-smoke").split()
    assert "results/paper-smoke/main/digits/random/seed0/rounds.csv" in tracked
    assert not any("report-" in f for f in tracked)                # reports are never committed
    assert git(clone, "status", "--porcelain", "results/paper-smoke") == ""


def test_without_arguments_it_says_how_to_use_it():
    r = subprocess.run([TOOL], capture_output=True, text=True)
    assert r.returncode == 2 and "tools/study-in-background.sh STUDY PROFILE" in r.stdout
