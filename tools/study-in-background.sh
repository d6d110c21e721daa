#!/usr/bin/env bash
# Run a study (or the paper: STUDY=paper) for days without holding a terminal: from a git worktree of this
# checkout's HEAD, so later edits here never change a running trial; in a session of its own below every other
# session's work (albench --nice 19, see docs/scale.md); committing the finished rounds' small files of the
# profile's results tree to this checkout's branch as they land, so a stop loses at most the rounds in flight.
#
#   tools/study-in-background.sh STUDY PROFILE [albench options...]
#   tools/study-in-background.sh imbalance cpu --executor pool --workers 2 --data-root ~/data
#
# Environment: COMMIT_EVERY seconds between commits (default 600; 0: never commit), WORKTREE (default
# ../albench-run-<commit> beside this checkout), PYTHON (default .venv/bin/python of this checkout), STOP_AT
# (a time `date -d` reads, e.g. 11:20 or "+2 hours": then the study is asked to stop, as kill -USR1 below).
# Results go to this checkout's results/ (--out), self-supervised features are read from its results/features.
# Stop it with: kill -USR1 <the pid printed> (each running trial saves the round in hand first, then the study
# ends with exit 3), or at once with kill -- -<pid>; the commit loop ends by itself once the study has ended,
# after one last commit. Old worktrees stay: git worktree list, git worktree remove <path>.
set -euo pipefail
if [ $# -lt 2 ]; then
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
study=$1 profile=$2
shift 2
say() { echo "study-in-background: $*" >&2; }
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
commit=$(git -C "$repo" rev-parse HEAD)
branch=$(git -C "$repo" symbolic-ref -q HEAD || true)
wt=${WORKTREE:-$(dirname "$repo")/albench-run-${commit:0:7}}
py=${PYTHON:-$repo/.venv/bin/python}
py=$(cd "$repo" && command -v "$py" || true)
py=${py:+$(cd "$repo" && cd "$(dirname "$py")" && pwd)/$(basename "$py")}
every=${COMMIT_EVERY:-600}
[[ "$every" =~ ^[0-9]+$ ]] || { say "COMMIT_EVERY must be whole seconds, got '$every'"; exit 2; }
[ -n "$py" ] || { say "no python at ${PYTHON:-$repo/.venv/bin/python} (make setup, or set PYTHON)"; exit 2; }
stop_at=
if [ -n "${STOP_AT:-}" ]; then
  stop_at=$(date -d "$STOP_AT" +%s 2>/dev/null) || { say "STOP_AT: date cannot read '$STOP_AT' (e.g. 11:20, '+2 hours')"; exit 2; }
  [ "$stop_at" -gt "$(date +%s)" ] || { say "STOP_AT '$STOP_AT' is $(date -d "@$stop_at"), already past"; exit 2; }
fi
if [ -d "$wt" ]; then   # reused only at this very commit, unchanged but for this tool's own two logs (the next
  # phase of a study at the same commit): else the code announced is not the code run
  if [ "$(git -C "$wt" rev-parse HEAD 2>/dev/null)" != "$commit" ] ||
     [ -n "$(git -C "$wt" status --porcelain -- . ':!study.log' ':!commit.log')" ]; then
    say "$wt exists at another commit or with changes; remove it (git worktree remove $wt) or set WORKTREE"
    exit 2
  fi
else
  git -C "$repo" worktree add --quiet --detach "$wt" "$commit"
fi
if [ -e "$repo/data" ] && [ ! -e "$wt/data" ]; then ln -s "$(cd "$repo/data" && pwd -P)" "$wt/data"; fi
if [ "$study" = paper ]; then what=(paper); else what=(study "$study"); fi
root=$(cd "$repo" && "$py" -c "from bench.paper.manifest import load_profile; print(load_profile('$profile').root('results'))")

# the study leads its own session (setsid): --nice 19 lowers the session's autogroup as well as the processes
cd "$wt"
ALBENCH_FEATURES=${ALBENCH_FEATURES:-$repo/results/features} setsid nohup "$py" -m bench "${what[@]}" \
  --profile "$profile" --out "$repo/results" --no-progress --nice 19 "$@" >"$wt/study.log" 2>&1 </dev/null &
pid=$!
for _ in $(seq 300); do   # until it has said what it runs (its first line), or ended
  grep -q " to run" "$wt/study.log" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 1
done
if ! grep -q " to run" "$wt/study.log"; then
  say "the study ended at once; its log ($wt/study.log) ends:"
  tail -5 "$wt/study.log" >&2
  exit 1
fi
echo "albench ${what[*]} --profile $profile: pid $pid, commit ${commit:0:7}, worktree $wt, log $wt/study.log"
if [ -n "$stop_at" ]; then   # asked to stop between rounds then, if it still runs (the rounds in hand are saved)
  # (polling every 2 s, so it ends with the study: only a process given the same pid within those 2 s could
  # be reached, after some 32,000 others)
  setsid nohup bash -c 'while [ "$(date +%s)" -lt "$1" ] && kill -0 "$2" 2>/dev/null; do sleep 2; done
    kill -0 "$2" 2>/dev/null && kill -USR1 "$2"' _ "$stop_at" "$pid" >/dev/null 2>&1 </dev/null &
  echo "asked to stop at $(date -d "@$stop_at") (STOP_AT); the rounds in hand finish first"
fi

if [ "$every" -gt 0 ] && git -C "$repo" check-ignore -q "$root/x/rounds.csv"; then
  echo "not committing: git ignores $root (only the trees .gitignore lets in are committed, e.g. results/paper-cpu)"
elif [ "$every" -gt 0 ]; then
  # every $every s while the study runs, and once as soon as it ends: the trials' tables and identities and the
  # profile's record, nothing else of the tree (no reports, locks or temporary files), and only while the
  # checkout is on the branch it was on at the start (a switch or rebase in between is left alone)
  setsid nohup bash -c '
    land() {
      [ "$(git symbolic-ref -q HEAD || true)" = "$6" ] || { echo "not on $6 now: nothing committed"; return 0; }
      for f in "**/rounds.csv" "**/rounds.jsonl" "**/config.json" profile.json; do
        git add -- ":(glob)$2/$f" 2>/dev/null || true   # none there yet: nothing to add
      done
      git diff --cached --quiet -- "$2" ||
        git commit -q -m "$3: rounds landed, $(find "$2" -name rounds.csv | wc -l) trial folders" -- "$2"
    }
    cd "$1"
    while kill -0 "$4" 2>/dev/null; do   # every $5 s, and at once when the study ends
      t=0; while [ "$t" -lt "$5" ] && kill -0 "$4" 2>/dev/null; do sleep 1; t=$((t + 1)); done
      land "$@" || true
    done
    land "$@"' _ "$repo" "$root" "albench ${what[*]} --profile $profile" "$pid" "$every" "$branch" \
    >"$wt/commit.log" 2>&1 </dev/null &
  echo "committing $root every $every s (log $wt/commit.log)"
fi
