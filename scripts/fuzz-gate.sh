#!/usr/bin/env bash
# The fuzzing gate: schemathesis (PyPI) against a running digit-user, from docs/openapi.json — every endpoint
# of both listeners (the internal listener serves them all), the description's examples, positive and
# boundary data, a bounded number of examples per endpoint. It fails on a server error (a 5xx the description does not list for the endpoint), an answer
# that contradicts the description (status, content type, headers, body schema) or a crash. Generated data
# that DIGIT's lenient parsers accept or refuse is not judged (negative_data_rejection,
# positive_data_acceptance are off): the compatibility tests decide leniency.
# Then the Postman collection's login flow (docs/digit-user.postman_collection.json) runs with newman against the
# same service: create an employee, log in, /user/_details, log out, the token refused.
# Usage: scripts/fuzz-gate.sh ST_BINARY [MAX_EXAMPLES]   (run by scripts/test.sh after the tests)
set -euo pipefail
cd "$(dirname "$0")/.."
st="$1"
examples="${2:-30}"
spec="$PWD/docs/openapi.json"
collection="$PWD/docs/digit-user.postman_collection.json"
newman="$PWD/docs/postman/node_modules/.bin/newman"
binary="$PWD/target/debug/digit-user"
work=$(mktemp -d)
read -r public internal < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')
# a cheap password hash: the gate is about shapes, not hashing cost
DIGIT_USER__HASHER__MEMORY_KIB=256 DIGIT_USER__HASHER__ITERATIONS=1 \
  "$binary" serve --data-dir "$work/data" --listen "127.0.0.1:$public" --internal-listen "127.0.0.1:$internal" \
  > "$work/service.log" 2>&1 &
service=$!
stop() { kill "$service" 2>/dev/null || true; wait "$service" 2>/dev/null || true; }
trap 'stop; rm -rf "$work"' EXIT
python3 - "$internal" <<'PY'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/health/ready"
for _ in range(150):
    try:
        if urllib.request.urlopen(url, timeout=1).status == 200:
            sys.exit(0)
    except Exception:
        time.sleep(0.2)
sys.exit("the service did not become ready")
PY
cd "$work"
if ! "$st" run "$spec" --url "http://127.0.0.1:$internal" \
    --phases examples,coverage,fuzzing --max-examples "$examples" --workers 1 \
    --checks all \
    --exclude-checks negative_data_rejection,positive_data_acceptance,ignored_auth,missing_required_header,unsupported_method \
    --header 'Authorization: Basic ZWdvdi11c2VyLWNsaWVudDo=' \
    --no-color; then
  echo "--- the service's log"; tail -n 50 service.log
  exit 1
fi
if ! "$newman" run "$collection" --folder "Login, details, logout" --env-var "baseUrl=http://127.0.0.1:$public" \
    --reporters cli --color off; then
  echo "--- the service's log"; tail -n 50 service.log
  exit 1
fi
