#!/usr/bin/env bash
# Run a study (or the paper: STUDY=paper) for days without holding a terminal: from a git worktree of this
# checkout's HEAD, so later edits here never change a running trial; in a session of its own below every other
# session's work (albench --nice 19, see docs/scale.md); committing the finished rounds' small files of the
# profile's results tree to this checkout as they land, so a stop loses at most the rounds in flight.
#
#   tools/study-in-background.sh STUDY PROFILE [albench options...]
#   tools/study-in-background.sh imbalance cpu --executor pool --workers 2 --data-root ~/data
#
# Environment: COMMIT_EVERY seconds between commits (default 600; 0: never commit), WORKTREE (default
# ../albench-run-<commit> beside this checkout), PYTHON (default .venv/bin/python of this checkout).
# Results go to this checkout's results/ (--out), self-supervised features are read from its results/features.
# Stop it with: kill -- -<the pid printed> (the commit loop ends by itself once the study has ended).
set -euo pipefail
if [ $# -lt 2 ]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
study=$1 profile=$2
shift 2
repo=$(git rev-parse --show-toplevel)
commit=$(git -C "$repo" rev-parse --short HEAD)
wt=${WORKTREE:-$(dirname "$repo")/albench-run-$commit}
py=${PYTHON:-$repo/.venv/bin/python}
every=${COMMIT_EVERY:-600}
[ -d "$wt" ] || git -C "$repo" worktree add --quiet --detach "$wt" HEAD
if [ -e "$repo/data" ] && [ ! -e "$wt/data" ]; then ln -s "$(cd "$repo/data" && pwd -P)" "$wt/data"; fi
if [ "$study" = paper ]; then what=(paper); else what=(study "$study"); fi
root=$(cd "$repo" && "$py" -c "from bench.paper.manifest import load_profile; print(load_profile('$profile').root('results'))")

# the study leads its own session (exec): --nice 19 lowers the session's autogroup as well as the processes
cd "$wt"
ALBENCH_FEATURES=${ALBENCH_FEATURES:-$repo/results/features} setsid nohup "$py" -m bench "${what[@]}" \
  --profile "$profile" --out "$repo/results" --no-progress --nice 19 "$@" >"$wt/study.log" 2>&1 </dev/null &
pid=$!
echo "albench ${what[*]} --profile $profile: pid $pid, commit $commit, worktree $wt, log $wt/study.log"

if [ "$every" -gt 0 ] && git -C "$repo" check-ignore -q "$root/x/rounds.csv"; then
  echo "not committing: git ignores $root (only the trees .gitignore lets in are committed, e.g. results/paper-cpu)"
elif [ "$every" -gt 0 ]; then
  # commit only the profile's results tree (rounds.csv, rounds.jsonl, config.json, profile.json: reports are
  # ignored), every $every seconds while the study runs, and once more after it ends
  setsid nohup bash -c '
    land() { git add -- "$2" && { git diff --cached --quiet -- "$2" ||
             git commit -q -m "$3: rounds landed, $(find "$2" -name rounds.csv | wc -l) trial folders" -- "$2"; }; }
    cd "$1"
    while kill -0 "$4" 2>/dev/null; do sleep "$5"; land "$@" || true; done
    land "$@"' _ "$repo" "$root" "albench ${what[*]} --profile $profile" "$pid" "$every" \
    >"$wt/commit.log" 2>&1 </dev/null &
  echo "committing $root every $every s (log $wt/commit.log)"
fi
