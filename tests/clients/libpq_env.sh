# Sourced by the libpq drivers (psql.sh, pgbench.sh): the matrix's
# PGIRIS_MATRIX_* settings as libpq environment variables.
export PGHOST="$PGIRIS_MATRIX_HOST" PGPORT="$PGIRIS_MATRIX_PORT" \
  PGUSER="$PGIRIS_MATRIX_USER" PGPASSWORD="$PGIRIS_MATRIX_PASSWORD" \
  PGDATABASE="$PGIRIS_MATRIX_DBNAME" PGSSLMODE="$PGIRIS_MATRIX_SSLMODE" \
  PGCONNECT_TIMEOUT=10 PGAPPNAME=pgiris-matrix
if [ "$PGSSLMODE" = verify-full ] || [ "$PGSSLMODE" = verify-ca ]; then
  export PGSSLROOTCERT="$PGIRIS_MATRIX_CA_FILE"
fi
if [ "$PGIRIS_MATRIX_AUTH" = scram ] && [ "$PGIRIS_MATRIX_TLS" = 1 ]; then
  export PGCHANNELBINDING="$PGIRIS_MATRIX_CHANNEL_BINDING"
elif [ "$PGIRIS_MATRIX_AUTH" = trust ]; then
  export PGCHANNELBINDING=disable
fi
