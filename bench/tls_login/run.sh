#!/usr/bin/env bash
# TLS login benchmark: connections per second and server CPU per login over
# TLS 1.3 with one ECDSA P-256 certificate, for pgiris, PgBouncer and
# PostgreSQL side by side (method: shared/research/pg-anchors.md section 12).
#
#   bench/tls_login/run.sh            # trust and SCRAM, 10 s per run
#   DURATION=20 AUTHS=scram-sha-256 bench/tls_login/run.sh
#
# Needs: a release build of pgiris (cargo build --release), PostgreSQL 15+
# server binaries (initdb, postgres), pgbouncer, pgbench, openssl, and root
# (PostgreSQL and PgBouncer run as the `postgres` user via runuser).
# The server under test is pinned to CPU 0, pgbench to CPU 1. CPU per login
# is the server process's utime+stime delta (PostgreSQL: the postmaster's
# own plus its reaped children's) divided by the logins pgbench made.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-4}
AUTHS=${AUTHS:-"trust scram-sha-256"}
PGBIN=${PGBIN:-$(dirname "$(readlink -f "$(command -v postgres)")")}
PGIRIS=${PGIRIS:-$ROOT/target/release/pgiris}
PASSWORD=bench-password
[ -x "$PGIRIS" ] || { echo "build first: cargo build --release" >&2; exit 2; }

WORK=$(mktemp -d /tmp/pgiris-bench.XXXXXX)
chown postgres "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# utime+stime (+cutime+cstime with "children") of a pid, in clock ticks.
cpu_ticks() {
  awk -v kids="${2:-}" '{ t = $14 + $15; if (kids != "") t += $16 + $17; print t }' "/proc/$1/stat"
}
wait_port() {
  for _ in $(seq 100); do
    (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1" >&2
  return 1
}

# One certificate for all three.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$WORK/server.key" -out "$WORK/server.crt" 2>/dev/null
chown postgres "$WORK/server.key" "$WORK/server.crt"
chmod 600 "$WORK/server.key"
echo "SELECT 1;" > "$WORK/select1.sql"

# PostgreSQL: TLS clients by the method under test; PgBouncer's plain
# server connections by trust.
PGPORT=$(free_port)
runuser -u postgres -- "$PGBIN/initdb" -D "$WORK/pg" -A trust -U postgres >/dev/null
cat >> "$WORK/pg/postgresql.conf" <<EOF
port = $PGPORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$WORK'
ssl = on
ssl_cert_file = '$WORK/server.crt'
ssl_key_file = '$WORK/server.key'
ssl_min_protocol_version = 'TLSv1.3'
shared_buffers = 128MB
fsync = off
max_connections = 200
EOF
taskset -c 1 runuser -u postgres -- "$PGBIN/postgres" -D "$WORK/pg" >"$WORK/pg.log" 2>&1 &
PIDS+=($!)
wait_port "$PGPORT"
PG_PID=$(head -1 "$WORK/pg/postmaster.pid")
psql -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres \
  -c "ALTER ROLE postgres PASSWORD '$PASSWORD'"
# The verifier PostgreSQL stored is what pgiris and PgBouncer get.
VERIFIER=$(psql -X -At -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres \
  -c "SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'")
printf '"postgres" "%s"\n' "$VERIFIER" > "$WORK/userlist.txt"
chown postgres "$WORK/userlist.txt"

set_pg_hba() {
  cat > "$WORK/pg/pg_hba.conf" <<EOF
local     all all              trust
hostssl   all all 127.0.0.1/32 $1
hostnossl all all 127.0.0.1/32 trust
EOF
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" reload >/dev/null
}

start_pgbouncer() {
  BPORT=$(free_port)
  cat > "$WORK/pgbouncer.ini" <<EOF
[databases]
postgres = host=127.0.0.1 port=$PGPORT dbname=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BPORT
unix_socket_dir =
auth_type = $1
auth_file = $WORK/userlist.txt
pool_mode = transaction
default_pool_size = 20
max_client_conn = 1000
log_connections = 0
log_disconnections = 0
client_tls_sslmode = require
client_tls_cert_file = $WORK/server.crt
client_tls_key_file = $WORK/server.key
client_tls_protocols = tlsv1.3
logfile = $WORK/pgbouncer.log
pidfile = $WORK/pgbouncer.pid
EOF
  chown postgres "$WORK/pgbouncer.ini"
  rm -f "$WORK/pgbouncer.pid"
  taskset -c 0 runuser -u postgres -- pgbouncer "$WORK/pgbouncer.ini" >/dev/null 2>&1 &
  PIDS+=($!)
  wait_port "$BPORT"
  # runuser stays as the parent: measure pgbouncer itself.
  BOUNCER_PID=$(cat "$WORK/pgbouncer.pid")
}

start_pgiris() {
  IPORT=$(free_port)
  mkdir -p "$WORK/pgiris/data"
  printf 'hostssl all all 127.0.0.1/32 %s\n' "$1" > "$WORK/pgiris/pg_hba.conf"
  cat > "$WORK/pgiris/pgiris.toml" <<EOF
[server]
listen = ["127.0.0.1:$IPORT"]
max_connections = 1000
[tls]
cert_file = "$WORK/server.crt"
key_file = "$WORK/server.key"
min_version = "1.3"
[auth]
hba_file = "pg_hba.conf"
users_file = "$WORK/userlist.txt"
max_failures = 0
[backend.embedded]
data_dir = "data"
[log]
level = "warning"
connections = false
EOF
  taskset -c 0 "$PGIRIS" --config "$WORK/pgiris/pgiris.toml" >"$WORK/pgiris.log" 2>&1 &
  PGIRIS_PID=$!
  PIDS+=("$PGIRIS_PID")
  wait_port "$IPORT"
}

stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# run NAME PORT PID [children]
run() {
  local name=$1 port=$2 pid=$3 kids=${4:-}
  local before after out logins tps conn
  before=$(cpu_ticks "$pid" "$kids")
  out=$(PGPASSWORD=$PASSWORD PGSSLMODE=require taskset -c 1 pgbench -n -C \
    -c "$CLIENTS" -j 1 -T "$DURATION" -f "$WORK/select1.sql" \
    -h 127.0.0.1 -p "$port" -U postgres postgres 2>&1)
  sleep 0.5 # let PostgreSQL reap its last backends
  after=$(cpu_ticks "$pid" "$kids")
  logins=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
  tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out")
  conn=$(sed -n 's/^average connection time = \([0-9.]*\) ms/\1/p' <<<"$out")
  awk -v n="$name" -v a="$AUTH" -v l="$logins" -v t="$tps" -v c="$conn" \
      -v d="$((after - before))" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%-10s %-14s %8d logins %9.1f conn/s %8.2f ms/conn  server CPU %6.3f ms/login\n",
             n, a, l, t, c, (l > 0 ? d * 1000 / hz / l : 0) }'
}

echo "TLS 1.3, ECDSA P-256, $CLIENTS clients, ${DURATION}s each, $(nproc) CPUs"
for AUTH in $AUTHS; do
  set_pg_hba "$AUTH"
  run postgres "$PGPORT" "$PG_PID" children
  start_pgbouncer "$AUTH"
  run pgbouncer "$BPORT" "$BOUNCER_PID"
  stop "$BOUNCER_PID"
  start_pgiris "$AUTH"
  run pgiris "$IPORT" "$PGIRIS_PID"
  stop "$PGIRIS_PID"
done
