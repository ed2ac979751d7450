#!/usr/bin/env bash
# pgbench (libpq) driver of the client matrix: a 2-second run of a SELECT
# script with a parameter in each query mode (simple, extended, prepared).
# A case passes when pgbench exits 0 with no failed transactions and the
# script's answer is checked by \gset (pgbench aborts a client whose SELECT
# returns no row). Prints one JSON line per case; see tests/clients/README.md.
set -u
CLIENT=pgbench

# shellcheck source=libpq_env.sh
. "$(dirname "${BASH_SOURCE[0]}")/libpq_env.sh"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

json_str() {
  local s
  s=$(printf '%s' "$1" | tr '\000-\037' ' ' | cut -c1-400)
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# The answer must come back: \gset stores it, and the \if aborts the client
# (a failed transaction) when it is not the number sent.
cat >"$WORK/select.sql" <<'EOF'
\set k random(1, 1000000)
SELECT :k + 1 AS answer \gset
\set want :k + 1
\set bad :answer != :want
\if :bad
  SELECT pgiris_matrix_wrong_answer();
\endif
EOF

printf '{"client":"%s","meta":{"version":%s}}\n' "$CLIENT" "$(json_str "$(pgbench --version)")"
for mode in simple extended prepared; do
  name="pgbench_$mode"
  printf '{"client":"%s","case":"%s","start":true}\n' "$CLIENT" "$name"
  timeout 30 pgbench -n -c 2 -j 1 -T 2 -M "$mode" -f "$WORK/select.sql" >"$WORK/out" 2>"$WORK/err"
  rc=$?
  tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$WORK/out" | head -1)
  failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$WORK/out" | head -1)
  done_tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/out" | head -1)
  err=$(grep -v '^pgbench (' "$WORK/err" | head -3 | tr '\n' ' ')
  if [ $rc -eq 0 ] && [ "${failed:-0}" = 0 ] && [ "${done_tx:-0}" -gt 0 ]; then
    printf '{"client":"%s","case":"%s","ok":true,"detail":%s}\n' "$CLIENT" "$name" \
      "$(json_str "$done_tx transactions, tps $tps")"
  else
    printf '{"client":"%s","case":"%s","ok":false,"detail":%s}\n' "$CLIENT" "$name" \
      "$(json_str "exit $rc, ${done_tx:-0} transactions, ${failed:-?} failed: $err")"
  fi
done
