#!/usr/bin/env bash
# Run the InterUSS test driver, uss_qualifier, against this system: scenario
# GeneralFlightAuthorization with our flight check table (interop/flight_check_table.yaml).
#
#   bash interop/run_uss_qualifier.sh
#
# 1. Creates the driver's virtual environment if missing (.venv-uss: Python 3.13, which
#    interuss-monitoring needs, through pyenv or python3.13; package interuss-monitoring from
#    PyPI) and puts the scenario's documentation file where uss_qualifier looks for it (the
#    wheel does not ship it; see interop/uss_qualifier/general_flight_authorization.md).
# 2. Starts `utm serve` on a free loopback port with a fresh SQLite database, one operator
#    principal, and the InterUSS test key trusted for the audience "localhost".
# 3. Files, as that operator through our own API, the routed delivery that row CD-07 must
#    conflict with (CD-WCH to CD-PPH, departing two hours from now).
# 4. Runs uss_qualifier (report in $USS_QUALIFIER_OUTPUT, default a temporary folder), then
#    checks its exit code and that every requirement of participant lowalt_utm passed
#    (interop/check_report.py).
# 5. Stops the server. Exits non-zero if anything above failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MONITORING_VERSION=0.37.0
VENV="${USS_QUALIFIER_VENV:-$ROOT/.venv-uss}"
WORK="$(mktemp -d -t uss-qualifier-XXXXXX)"
OUTPUT="${USS_QUALIFIER_OUTPUT:-$WORK/report}"
SERVER_PID=""

say() { printf '== %s\n' "$*"; }

cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT

# -- 1. the driver's environment ------------------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import monitoring.uss_qualifier" \
        2>/dev/null; then
    say "creating $VENV (Python 3.13, interuss-monitoring $MONITORING_VERSION)"
    if command -v pyenv >/dev/null 2>&1 && pyenv versions --bare | grep -qx '3\.13\.[0-9]*'; then
        version="$(pyenv versions --bare | grep -x '3\.13\.[0-9]*' | sort -V | tail -n 1)"
        PYENV_VERSION="$version" python3 -m venv "$VENV"
    elif command -v python3.13 >/dev/null 2>&1; then
        python3.13 -m venv "$VENV"
    else
        echo "uss_qualifier needs Python 3.13 (pyenv or python3.13); none found" >&2
        exit 1
    fi
    if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
            "interuss-monitoring==$MONITORING_VERSION" >"$WORK/pip.log" 2>&1; then
        grep -v "^WARNING: Location" "$WORK/pip.log" | tail -n 30 >&2
        echo "installing interuss-monitoring failed (log: $WORK/pip.log)" >&2
        exit 1
    fi
fi
scenario_doc="$("$VENV/bin/python" -c '
import os
import monitoring.uss_qualifier.scenarios.interuss.flight_authorization.general_flight_authorization as m
print(os.path.splitext(m.__file__)[0] + ".md")')"
if [[ ! -f "$scenario_doc" ]]; then
    cp interop/uss_qualifier/general_flight_authorization.md "$scenario_doc"
fi

# -- 2. the server --------------------------------------------------------------------------
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
OPERATOR_TOKEN="interop-seed-operator-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
cat >"$WORK/principals.json" <<EOF
[{"token": "$OPERATOR_TOKEN", "role": "operator", "operator_id": "seed-logistics"}]
EOF
say "utm serve on 127.0.0.1:$PORT (log: $WORK/server.log)"
UTM_DATABASE_URL="sqlite:///$WORK/utm.sqlite" \
UTM_PRINCIPALS="$WORK/principals.json" \
UTM_INTERUSS_PUBLIC_KEY="$ROOT/interop/interuss_test_key_public.pem" \
UTM_INTERUSS_AUDIENCE=localhost \
    python3 -m api.cli serve --host 127.0.0.1 --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
# HTTP from the standard library (no curl needed): GET, or POST of a JSON body, to a URL.
http() {
    python3 - "$@" <<'PYTHON'
import json, sys, urllib.request
url, token, body = sys.argv[1], (sys.argv[2:3] or [""])[0], (sys.argv[3:4] or [None])[0]
request = urllib.request.Request(url, data=body.encode() if body else None,
                                 method="POST" if body else "GET")
request.add_header("Content-Type", "application/json")
if token:
    request.add_header("Authorization", f"Bearer {token}")
with urllib.request.urlopen(request, timeout=30) as response:
    print(response.read().decode())
PYTHON
}
for _ in $(seq 1 120); do
    if http "http://127.0.0.1:$PORT/v1/health" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        cat "$WORK/server.log" >&2
        echo "the server stopped before answering" >&2
        exit 1
    fi
    sleep 1
done
http "http://127.0.0.1:$PORT/v1/health" >/dev/null

# -- 3. the approved routed flight row CD-07 meets ----------------------------------------
departure="$(python3 -c '
from datetime import UTC, datetime, timedelta
print((datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:00Z"))')"
say "filing a routed delivery CD-WCH -> CD-PPH departing $departure"
seeded="$(http "http://127.0.0.1:$PORT/v1/flight-plans" "$OPERATOR_TOKEN" \
    "{\"origin\": {\"vertiport\": \"CD-WCH\"}, \"destination\": {\"vertiport\": \"CD-PPH\"},
      \"earliest_departure_time\": \"$departure\", \"latest_departure_time\": \"$departure\",
      \"drone\": {\"id\": \"seed-drone\", \"category\": \"light\"},
      \"purpose\": \"hospital delivery (uss_qualifier row CD-07 must conflict with it)\"}")"
state="$(printf '%s' "$seeded" | python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])')"
if [[ "$state" != "approved" ]]; then
    echo "the routed delivery was not approved: $seeded" >&2
    exit 1
fi

# -- 4. uss_qualifier -----------------------------------------------------------------------
mkdir -p "$WORK/config"
for file in uss_qualifier_config.yaml flight_check_table.yaml flight_intents.yaml; do
    sed "s#http://localhost:8089/#http://localhost:$PORT/#" "interop/$file" >"$WORK/config/$file"
done
say "uss_qualifier (report: $OUTPUT)"
status=0
USS_QUALIFIER_AUTH_SPEC="NoAuth(sub=uss_qualifier)" \
    "$VENV/bin/python" -m monitoring.uss_qualifier.main \
    --config "file://$WORK/config/uss_qualifier_config.yaml" \
    --output-path "$OUTPUT" >"$WORK/uss_qualifier.log" 2>&1 || status=$?
if [[ $status -ne 0 ]]; then
    tail -n 40 "$WORK/uss_qualifier.log" >&2
    echo "uss_qualifier exited with $status (log: $WORK/uss_qualifier.log)" >&2
fi

# -- 5. the report --------------------------------------------------------------------------
report="$OUTPUT/report.json"
[[ -f "$report" ]] || report="$(find "$OUTPUT" -name report.json | head -n 1)"
if [[ -z "$report" || ! -f "$report" ]]; then
    echo "no report.json under $OUTPUT" >&2
    exit 1
fi
check=0
python3 interop/check_report.py "$report" --participant lowalt_utm \
    --table interop/flight_check_table.yaml || check=$?
if [[ $status -ne 0 || $check -ne 0 ]]; then
    echo "uss_qualifier run FAILED (exit $status, report check $check); server log: $WORK/server.log" >&2
    exit 1
fi
say "uss_qualifier: every requirement of lowalt_utm passed (report: $report)"
