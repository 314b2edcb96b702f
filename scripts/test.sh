#!/usr/bin/env bash
# Everything `make test` checks after `rasa data validate` and training (done by make):
# pytest (unit, component, action, channel and whole-stack tests), then the
# conversation tests of each language with `rasa test`, failing on any wrong prediction.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
export AMPARO_MODEL=${AMPARO_MODEL:-models/amparo.tar.gz}
mkdir -p var results
. scripts/lib.sh
# The conversation tests open cases and erase data: never in the stores `make run` uses.
rm -f var/test-cases.db* var/test-tracker.db*
export AMPARO_CASES_DB="sqlite:///$PWD/var/test-cases.db"
export AMPARO_TRACKER_DB="sqlite:///$PWD/var/test-tracker.db"
# Keys of their own too (pytest sets its own for each test).
eval "$("$BIN/python" -m amparo.contacts | sed 's/^/export /')"

"$BIN/python" -m pytest "$@" || exit 1

port=$("$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_actions "$port" var/test-actions.log || exit 1
trap 'kill $ACTIONS_PID 2>/dev/null; wait $ACTIONS_PID 2>/dev/null' EXIT
endpoints_for "$port" var/test-endpoints.yml
"$BIN/python" -m scripts.wait_ready "http://127.0.0.1:$port/health" --pids "$ACTIONS_PID" \
  || exit 1

passed=0
failed=0
for lang in es en pt; do
  echo "== conversation tests: $lang"
  if "$BIN/rasa" test core --model "$AMPARO_MODEL" --stories "tests/conversations/$lang" \
      --endpoints var/test-endpoints.yml --out "results/$lang" \
      --fail-on-prediction-errors >"results/rasa-test-$lang.log" 2>&1; then
    grep -hE "Finished collecting predictions|Correct:" "results/rasa-test-$lang.log" | tail -2
    echo "conversation tests $lang: passed"
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    tail -40 "results/rasa-test-$lang.log"
    echo "conversation tests $lang: FAILED (results/rasa-test-$lang.log, results/$lang/)"
  fi
done
echo "conversations: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
