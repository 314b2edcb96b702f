# Sourced by run.sh, shell.sh and test.sh (which set BIN): the action server and the
# caseworker desk, started one way everywhere, and Rasa pointed at the action server.

# start_actions PORT LOGFILE: the action server on 127.0.0.1:PORT; sets ACTIONS_PID.
# Refuses to start on an invalid service catalog, printing every problem.
start_actions() {
  "$BIN/python" -m amparo.catalog check "${AMPARO_CATALOG:-services_catalog.yml}" || return 1
  SANIC_HOST=127.0.0.1 "$BIN/rasa" run actions --actions actions --port "$1" >"$2" 2>&1 &
  ACTIONS_PID=$!
}

# endpoints_for PORT FILE: endpoints.yml, with the action server at PORT.
endpoints_for() {
  sed "s#http://127.0.0.1:5055/webhook#http://127.0.0.1:$1/webhook#" endpoints.yml >"$2"
}

# start_desk PORT LOGFILE: the caseworker desk (JSON API) on 127.0.0.1:PORT; sets DESK_PID.
start_desk() {
  "$BIN/python" -m caseworker --port "$1" >"$2" 2>&1 &
  DESK_PID=$!
}
