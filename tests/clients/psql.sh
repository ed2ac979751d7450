#!/usr/bin/env bash
# psql (libpq) driver of the client matrix: simple protocol, text results.
# psql 15 has no \bind, so "parameters" are psql variables (:'name'), quoted
# client-side. Cancel is psql's own Ctrl-C path (SIGINT -> PQcancel).
# Prints one JSON line per case; see tests/clients/README.md.
set -u
CLIENT=psql

# shellcheck source=libpq_env.sh
. "$(dirname "${BASH_SOURCE[0]}")/libpq_env.sh"
T="$PGIRIS_MATRIX_TABLE"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
US=$'\x1f'

json_str() {
  local s
  s=$(printf '%s' "$1" | tr '\000-\037' ' ' | cut -c1-400)
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}
start() { printf '{"client":"%s","case":"%s","start":true}\n' "$CLIENT" "$1"; }
pass() { printf '{"client":"%s","case":"%s","ok":true,"detail":%s}\n' "$CLIENT" "$1" "$(json_str "${2:-}")"; }
fail() { printf '{"client":"%s","case":"%s","ok":false,"detail":%s}\n' "$CLIENT" "$1" "$(json_str "$2")"; }

# q SQL...: run statements in one psql session; stdout in $OUT, stderr in $ERR.
q() {
  OUT=$(psql -X -q -A -t -F "$US" -v ON_ERROR_STOP=1 -v VERBOSITY=verbose "$@" 2>"$WORK/err")
  local rc=$?
  ERR=$(tr '\n' ' ' <"$WORK/err")
  return $rc
}
# An error's text without psql's "psql:<stdin>:N: " prefix.
errtext() { printf '%s' "$ERR" | sed -e 's/psql:[^ ]*: //g' -e 's/  */ /g' | cut -c1-300; }

printf '{"client":"%s","meta":{"version":%s}}\n' "$CLIENT" "$(json_str "$(psql --version)")"

# --- connect
start connect
if q -c '\conninfo'; then
  if [ "$PGIRIS_MATRIX_TLS" = 1 ]; then
    proto=$(printf '%s' "$OUT" | sed -n 's/.*SSL connection (protocol: \([^,]*\),.*/\1/p')
    if [ -n "$proto" ]; then pass connect "tls=$proto"; else fail connect "no SSL connection: $OUT"; fi
  elif printf '%s' "$OUT" | grep -q 'SSL connection'; then
    fail connect "TLS in use with sslmode=disable: $OUT"
  else
    pass connect plaintext
  fi
else
  fail connect "$(errtext)"
  for c in server_version ddl insert_params type.int type.bigint type.text type.varchar \
    type.boolean type.double type.numeric type.date type.timestamp type.timestamptz \
    type.bytea type.uuid nulls tx_commit tx_rollback error_42P01 error_23505 bad_password \
    unknown_user cancel; do
    fail "$c" "not run: connect failed"
  done
  [ "$PGIRIS_MATRIX_AUTH" = scram ] && [ "$PGIRIS_MATRIX_TLS" = 1 ] && fail scram_plus "not run: connect failed"
  exit 0
fi

# --- server_version: psql's variables come from the ParameterStatus message.
start server_version
if q -c 'SHOW server_version' -c '\echo :SERVER_VERSION_NUM'; then
  show=${OUT%%$'\n'*}
  num=${OUT##*$'\n'}
  if [[ "$num" =~ ^[0-9]+$ ]] && [ "$num" -ge 140000 ]; then
    pass server_version "SERVER_VERSION_NUM=$num, SHOW: $show"
  else
    fail server_version "SERVER_VERSION_NUM=$num (expected 14 or later), SHOW: $show"
  fi
else
  fail server_version "$(errtext)"
fi

# --- ddl
start ddl
if q -c "DROP TABLE IF EXISTS $T" -c "$PGIRIS_MATRIX_DDL"; then pass ddl created; else fail ddl "$(errtext)"; fi

# --- insert_params: psql variables, quoted by psql as literals.
start insert_params
insert_note=""
if q -v id=1 -v i=2147483647 -v b=9007199254740993 -v "t=it's a \\ test ✓ é" \
  -v "v=varchar ✓" -v bo=true -v d=3.141592653589793 -v n=12345678.90 -v dt=2024-02-29 \
  -v "ts=2024-02-29 12:34:56.789012" -v "tz=2024-02-29 14:34:56.789012+02" \
  -v 'by=\x0001deadbeefff5c27' -v u=a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11 <<EOF
INSERT INTO $T (id, c_int, c_bigint, c_text, c_varchar, c_bool, c_float8, c_numeric, c_date,
  c_timestamp, c_timestamptz, c_bytea, c_uuid)
VALUES (:'id', :'i', :'b', :'t', :'v', :'bo', :'d', :'n', :'dt', :'ts', :'tz', :'by', :'u');
INSERT INTO $T (id) VALUES (2);
EOF
then
  pass insert_params "psql variables, 2 rows"
else
  fail insert_params "$(errtext)"
  if ! q -c "$PGIRIS_MATRIX_FIXTURE_INSERT"; then
    insert_note="insert_params failed and so did the literal fixture INSERT: $(errtext)"
  fi
fi

# --- types: psql shows PostgreSQL's text output; compare it byte for byte.
COLS=(c_int c_bigint c_text c_varchar c_bool c_float8 c_numeric c_date c_timestamp c_timestamptz c_bytea c_uuid)
KINDS=(int bigint text varchar boolean double numeric date timestamp timestamptz bytea uuid)
WANT=(2147483647 9007199254740993 "it's a \\ test ✓ é" "varchar ✓" t 3.141592653589793 12345678.90
  2024-02-29 "2024-02-29 12:34:56.789012" "2024-02-29 12:34:56.789012+00" '\x0001deadbeefff5c27'
  a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11)
cols=$(IFS=,; echo "${COLS[*]}")
row_err=""
if q -c "SELECT $cols FROM $T WHERE id = 1"; then
  if [ -z "$OUT" ]; then row_err="${insert_note:-SELECT returned no row}"; fi
  IFS="$US" read -r -a GOT <<<"$OUT"
else
  row_err="SELECT failed: $(errtext)"
fi
for i in "${!COLS[@]}"; do
  start "type.${KINDS[$i]}"
  if [ -n "$row_err" ]; then
    fail "type.${KINDS[$i]}" "no row: $row_err"
  elif [ "${GOT[$i]-}" = "${WANT[$i]}" ]; then
    pass "type.${KINDS[$i]}" "${GOT[$i]}"
  else
    fail "type.${KINDS[$i]}" "${COLS[$i]}: expected text '${WANT[$i]}', got '${GOT[$i]-}'"
  fi
done

start nulls
if q -c '\pset null <NULL>' -c "SELECT $cols FROM $T WHERE id = 2"; then
  OUT=${OUT#*$'\n'}   # \pset's own output line
  IFS="$US" read -r -a GOT <<<"$OUT"
  nonnull=""
  for i in "${!COLS[@]}"; do [ "${GOT[$i]-}" = "<NULL>" ] || nonnull="$nonnull ${COLS[$i]}"; done
  if [ ${#GOT[@]} -eq 12 ] && [ -z "$nonnull" ]; then pass nulls "12 NULLs"; else fail nulls "expected NULL in every column, got values in:$nonnull (row: $OUT)"; fi
else
  fail nulls "$(errtext)"
fi

# --- transactions: session A is a psql coprocess fed statement by statement,
# session B a separate psql checking what others see.
count_b() { q -c "SELECT count(*) FROM $T WHERE id = $1" && printf '%s' "$OUT"; }
transaction() { # case id COMMIT|ROLLBACK
  local name=$1 id=$2 verb=$3 want line got apid ain aout
  [ "$verb" = COMMIT ] && want=1 || want=0
  coproc A { psql -X -q -A -t -v ON_ERROR_STOP=1 2>"$WORK/a.err"; }
  # bash unsets A and A_PID when the coprocess exits: keep copies.
  apid=$A_PID
  exec {ain}<&"${A[0]}" {aout}>&"${A[1]}"
  finish() { exec {aout}>&-; kill "$apid" 2>/dev/null; wait "$apid" 2>/dev/null; exec {ain}<&-; }
  printf "BEGIN;\nINSERT INTO %s (id, c_text) VALUES (%s, 'tx');\nSELECT count(*) FROM %s WHERE id = %s;\n" \
    "$T" "$id" "$T" "$id" >&"$aout"
  if ! read -r -t 10 line <&"$ain"; then
    fail "$name" "session A: no answer to BEGIN/INSERT/SELECT: $(tr '\n' ' ' <"$WORK/a.err")"
    finish; return
  fi
  if [ "$line" != 1 ]; then fail "$name" "own uncommitted row: count=$line"; finish; return; fi
  if ! got=$(count_b "$id"); then fail "$name" "session B: $(errtext)"; finish; return; fi
  if [ "$got" != 0 ]; then fail "$name" "uncommitted row visible to another session"; finish; return; fi
  printf '%s;\nSELECT count(*) FROM %s WHERE id = %s;\n' "$verb" "$T" "$id" >&"$aout"
  read -r -t 10 line <&"$ain" || line="(no answer: $(tr '\n' ' ' <"$WORK/a.err"))"
  finish
  got=$(count_b "$id") || got="error: $(errtext)"
  if [ "$line" = "$want" ] && [ "$got" = "$want" ]; then
    pass "$name" "visibility checked from a second session"
  else
    fail "$name" "after $verb: the session sees $line rows, another session $got, expected $want"
  fi
}
start tx_commit
transaction tx_commit 10 COMMIT
start tx_rollback
transaction tx_rollback 11 ROLLBACK

# --- errors: psql's LAST_ERROR_SQLSTATE.
sqlstate_case() { # case expected statements...
  local name=$1 want=$2 got
  shift 2
  OUT=$(printf '%s\n\\echo STATE=:LAST_ERROR_SQLSTATE\n' "$@" | psql -X -q -A -t -v VERBOSITY=verbose 2>"$WORK/err")
  ERR=$(tr '\n' ' ' <"$WORK/err")
  got=$(printf "%s" "$OUT" | sed -n "s/^STATE=//p" | tail -1)
  if [ "$got" = "$want" ]; then pass "$name" "$want: $(errtext)"; else fail "$name" "expected SQLSTATE $want, got '$got': $(errtext)"; fi
}
start error_42P01
sqlstate_case error_42P01 42P01 "SELECT * FROM pgiris_matrix_no_such_table;"
start error_23505
sqlstate_case error_23505 23505 "INSERT INTO $T (id) VALUES (100);" "INSERT INTO $T (id) VALUES (100);"

# --- logins that must be refused.
refused() { # case what env...
  local name=$1 what=$2
  shift 2
  if env "$@" psql -X -q -A -t -c 'SELECT 1' >/dev/null 2>"$WORK/err"; then
    fail "$name" "auth not enforced: $what was accepted"
  else
    ERR=$(tr '\n' ' ' <"$WORK/err")
    if printf '%s' "$ERR" | grep -q 'password authentication failed'; then
      pass "$name" "28P01 (by message; libpq gives no SQLSTATE for a failed login): $(errtext)"
    else
      fail "$name" "expected 28P01 'password authentication failed', got: $(errtext)"
    fi
  fi
}
start bad_password
refused bad_password "a login with a wrong password" PGPASSWORD="wrong-$PGIRIS_MATRIX_PASSWORD"
start unknown_user
refused unknown_user "a login as an unknown user" PGUSER=pgiris_matrix_no_such_user

if [ "$PGIRIS_MATRIX_AUTH" = scram ] && [ "$PGIRIS_MATRIX_TLS" = 1 ]; then
  start scram_plus
  if PGCHANNELBINDING=require q -c 'SELECT 1'; then
    pass scram_plus "channel_binding=require accepted (SCRAM-SHA-256-PLUS)"
  else
    fail scram_plus "$(errtext)"
  fi
fi

# --- cancel: SIGINT makes psql send a CancelRequest (PQcancel).
start cancel
psql -X -q -A -t -v VERBOSITY=verbose -c "$PGIRIS_MATRIX_LONG_QUERY" >"$WORK/c.out" 2>"$WORK/c.err" &
pid=$!
sleep "${PGIRIS_MATRIX_CANCEL_AFTER:-0.5}"
kill -INT "$pid"
sent=$(date +%s%N)
waited=0
while kill -0 "$pid" 2>/dev/null && [ $waited -lt 50 ]; do sleep 0.1; waited=$((waited + 1)); done
if kill -0 "$pid" 2>/dev/null; then
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null
  fail cancel "no 57014 and no result 5s after the cancel was sent: the query kept running"
else
  wait "$pid" 2>/dev/null
  ms=$(( ($(date +%s%N) - sent) / 1000000 ))
  ERR=$(tr '\n' ' ' <"$WORK/c.err")
  if printf '%s' "$ERR" | grep -q 'ERROR: *57014'; then
    if [ "$ms" -lt 2000 ]; then pass cancel "57014 about $ms ms after the cancel"; else fail cancel "57014 arrived $ms ms after the cancel (want < 2s)"; fi
  elif [ -s "$WORK/c.out" ]; then
    fail cancel "the query completed ($(head -c 60 "$WORK/c.out")): the cancel had no effect"
  else
    fail cancel "expected 57014, got: $(errtext)"
  fi
fi
