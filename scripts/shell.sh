#!/usr/bin/env bash
# `rasa shell` with the action server running beside it. Ports differ from `make run`,
# so both can run at once.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
ACTIONS_PORT=${SHELL_ACTIONS_PORT:-5065}
mkdir -p var
. scripts/lib.sh
local_keys || exit 1
start_actions "$ACTIONS_PORT" var/shell-actions.log || exit 1
trap 'kill $ACTIONS_PID 2>/dev/null; wait $ACTIONS_PID 2>/dev/null' EXIT INT TERM HUP
endpoints_for "$ACTIONS_PORT" var/shell-endpoints.yml
"$BIN/python" -m scripts.wait_ready "http://127.0.0.1:$ACTIONS_PORT/health" \
  --pids "$ACTIONS_PID" --warm-up "http://127.0.0.1:$ACTIONS_PORT" || exit 1
"$BIN/rasa" shell --model models/amparo.tar.gz --endpoints var/shell-endpoints.yml \
  --port "${SHELL_PORT:-5006}"
