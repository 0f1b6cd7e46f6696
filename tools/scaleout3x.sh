#!/usr/bin/env bash
# Run the Redis scale-out suite several times in a row (3 by default), stopping at the
# first red: every tests/e2e/test_redis_*.py and tests/connectors/test_redis*.py, on
# asyncio and trio, against the real redis-servers the tests start themselves.
#
#   tools/scaleout3x.sh                 # 3 rounds
#   ROUNDS=5 tools/scaleout3x.sh -k stall   # extra arguments go to pytest
#   PYTHON=/path/to/venv/bin/python tools/scaleout3x.sh
#
# ANYSTREAM_REQUIRE_REDIS=1 is set, so a missing redis-server or coredis fails the run
# instead of skipping it: a round is green only if every scenario really ran. Each
# round's wall time is printed; the exit status is pytest's for the first red round, 0
# when all rounds are green.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
ROUNDS="${ROUNDS:-3}"
export ANYSTREAM_REQUIRE_REDIS=1
# This checkout's sources first (a venv may hold an editable install of another one).
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

shopt -s nullglob
files=(tests/e2e/test_redis_*.py tests/connectors/test_redis*.py)
if [ "${#files[@]}" -eq 0 ]; then
    echo "scaleout3x: no test files found under tests/" >&2
    exit 2
fi

total_start=$(date +%s)
for round in $(seq 1 "$ROUNDS"); do
    echo "== scale-out suite, round $round of $ROUNDS: ${#files[@]} files"
    start=$(date +%s)
    status=0
    "$PYTHON" -m pytest -p no:cacheprovider -q -x "${files[@]}" "$@" || status=$?
    took=$(( $(date +%s) - start ))
    if [ "$status" -ne 0 ]; then
        echo "== round $round of $ROUNDS: RED after ${took} s (pytest exit $status)" >&2
        exit "$status"
    fi
    echo "== round $round of $ROUNDS: green in ${took} s"
done
echo "== all $ROUNDS rounds green in $(( $(date +%s) - total_start )) s"
