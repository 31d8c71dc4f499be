#!/usr/bin/env bash
# The import's rate: egov-user's tables with N generated users (default 100,000; PII sealed by
# tests/import/enc_service.py, a role and an address each) in a throw-away PostgreSQL, then
# `digit-user admin import` (release build) into an empty data dir, then `admin import verify`, each timed;
# then the same rows through a running pod with the journal on (tansu, in memory): `admin import --url`.
# Run by hand (README "Moving from egov-user"); not part of the test command.
# Usage: benches/import.sh [USERS]   (needs what scripts/test.sh installs: PostgreSQL, the import venv)
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${1:-100000}
PYTHON="${DIGIT_USER_TEST_PYTHON:-${XDG_CACHE_HOME:-$HOME/.cache}/digit-user-tools/import-venv/bin/python}"
PG_BIN=${DIGIT_USER_TEST_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}

work=$(mktemp -d)
as_pg=()
if [ "$(id -u)" -eq 0 ]; then chown postgres "$work"; as_pg=(runuser -u postgres --); fi
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${as_pg[@]}" "$PG_BIN/initdb" -D "$work/pg" -A trust -U digit >/dev/null
"${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
  -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
psql=("$PG_BIN/psql" -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U digit)
"${psql[@]}" -d postgres -c "CREATE DATABASE egov"

echo "== $USERS users into egov-user's tables"
grep -v -- '-- fork$' tests/import/egov_user.sql | "${psql[@]}" -d egov
# 100 names, mobiles and address lines sealed under one key of egov-enc-service's scheme
"$PYTHON" - "$work" <<'EOF'
import json, subprocess, sys
work = sys.argv[1]
plain = [f"Citizen Name {i}" for i in range(100)] + [f"98{i:08d}" for i in range(100)] \
    + [f"House {i}, Mall Road" for i in range(100)]
out = subprocess.run([sys.executable, "tests/import/enc_service.py", "bench-master@pw", "--seal"],
                     input=json.dumps(plain), capture_output=True, text=True, check=True).stdout
v = json.loads(out)
sealed = [x["ciphertext"] for x in v["values"]]
with open(f"{work}/pool.csv", "w") as f:
    for i in range(100):
        f.write(f'{i},"{sealed[i]}","{sealed[100 + i]}","{sealed[200 + i]}"\n')
key = v["keys"][0]
with open(f"{work}/keys.sql", "w") as f:
    f.write("CREATE TABLE eg_enc_symmetric_keys (key_id integer, secret_key text, initial_vector text, "
            "tenant_id text, active boolean);\n")
    f.write(f"INSERT INTO eg_enc_symmetric_keys VALUES ({key['key_id']}, '{key['secret_key']}', "
            f"'{key['initial_vector']}', 'pb', true);\n")
with open(f"{work}/master.json", "w") as f:
    json.dump({k: v["master"][k] for k in ("password", "salt", "initialvector")}, f)
EOF
"${psql[@]}" -d egov -f "$work/keys.sql"
"${psql[@]}" -d egov <<EOF
CREATE TEMP TABLE pool (i int, name text, mobile text, addr text);
\copy pool FROM '$work/pool.csv' WITH (FORMAT csv)
INSERT INTO eg_user (id, uuid, tenantid, username, password, name, mobilenumber, type, active, createddate,
    lastmodifieddate, gender)
SELECT 1000 + g, md5(g::text)::uuid::text, CASE WHEN g % 2 = 0 THEN 'pb' ELSE 'pb.amritsar' END, 'USER-' || g,
    '\$2a\$10\$7EqJtq98hPqEX7fNZaFWoOhi5BWX4Z5S8A1V2nZB2X0N3q3Q2l5Gm', p.name, p.mobile,
    CASE WHEN g % 2 = 0 THEN 'CITIZEN' ELSE 'EMPLOYEE' END, true, now(), now(), 1 + g % 2
FROM generate_series(1, $USERS) g JOIN pool p ON p.i = g % 100;
INSERT INTO eg_userrole_v1 SELECT CASE WHEN type = 'CITIZEN' THEN 'CITIZEN' ELSE 'EMPLOYEE' END, tenantid, id,
    tenantid, now() FROM eg_user;
INSERT INTO eg_user_address (id, createddate, createdby, type, address, city, pincode, userid, tenantid)
SELECT u.id, now(), 1, 'PERMANENT', p.addr, 'Amritsar', '143001', u.id, u.tenantid
FROM eg_user u JOIN pool p ON p.i = (u.id - 1000) % 100;
ANALYZE;
EOF

echo "== release build"
cargo build --release --quiet --bin digit-user
export DIGIT_USER_IMPORT_FROM="postgresql://digit@127.0.0.1:$port/egov"
export DIGIT_USER__LOG__LEVEL=warn
run() {
  local started ended
  started=$(date +%s.%N)
  "$@" >"$work/out.txt" 2>"$work/err.txt" || { cat "$work/out.txt" "$work/err.txt"; exit 1; }
  ended=$(date +%s.%N)
  head -n 1 "$work/out.txt"
  python3 -c "s=$ended-$started; print(f'  {s:.1f} s, {$USERS/s:,.0f} users/s')"
}
echo "== admin import"
run target/release/digit-user admin import --data-dir "$work/data" --enc-master "$work/master.json" --batch 1000
echo "== admin import (again: a delta pass over rows modified within the last day, i.e. all of them)"
run target/release/digit-user admin import --data-dir "$work/data" --enc-master "$work/master.json" --batch 1000
echo "== admin import verify (one row in 100 field by field)"
run target/release/digit-user admin import verify --data-dir "$work/data" --enc-master "$work/master.json"
du -sh "$work/data" | sed 's/^/  data dir: /'

echo "== through a running pod with the journal on (tansu in memory, one broker, 16 partitions)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
kport=$(free_port); public=$(free_port); internal=$(free_port)
tansu broker --listener-url "tcp://127.0.0.1:$kport" --advertised-listener-url "tcp://127.0.0.1:$kport" \
  --storage-engine memory://tansu/ >/dev/null 2>&1 &
pids+=($!)
key() { python3 -c "import base64; print(base64.b64encode(bytes([$1]) * 32).decode())"; }
(
  export DIGIT_USER_SEALING_KEYS="1:$(key 11)" DIGIT_USER_BLIND_INDEX_KEY="$(key 12)" DIGIT_USER_TOKEN_KEY="$(key 13)"
  export DIGIT_USER_OTP_PEPPER="$(key 14)" DIGIT_USER__KAFKA__BROKERS="127.0.0.1:$kport"
  export DIGIT_USER__CLUSTER__PARTITIONS=16 DIGIT_USER__CLUSTER__ORDINAL=0
  export DIGIT_USER__JOURNAL__REPLICATION_FACTOR=1 DIGIT_USER__JOURNAL__MIN_INSYNC_REPLICAS=1
  exec target/release/digit-user serve --data-dir "$work/pod" --listen "127.0.0.1:$public" \
    --internal-listen "127.0.0.1:$internal"
) 2>"$work/pod.log" &
pids+=($!)
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$public/health/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$public/health/ready" >/dev/null || { echo "the pod is not ready"; tail "$work/pod.log"; exit 1; }
echo "== admin import --url"
run target/release/digit-user admin import --url "http://127.0.0.1:$internal" --data-dir "$work/importer" \
  --enc-master "$work/master.json" --batch 1000
echo "== admin import verify --url (one row in 100 field by field)"
run target/release/digit-user admin import verify --url "http://127.0.0.1:$internal" --data-dir "$work/importer" \
  --enc-master "$work/master.json"
du -sh "$work/pod" | sed 's/^/  pod data dir: /'
