-- The fixture every driver of the client matrix uses. The runner reads this
-- file and hands the statements to the drivers (PGIRIS_MATRIX_DDL,
-- PGIRIS_MATRIX_FIXTURE_INSERT) with {table} replaced by the driver's table.
-- The values are repeated in each driver (as client-side values to bind and
-- to expect); tests/clients/README.md lists them.

-- ddl: one column per type the matrix checks.
CREATE TABLE {table} (
    id int PRIMARY KEY,
    c_int int,
    c_bigint bigint,
    c_text text,
    c_varchar varchar(20),
    c_bool boolean,
    c_float8 double precision,
    c_numeric numeric(10,2),
    c_date date,
    c_timestamp timestamp,
    c_timestamptz timestamptz,
    c_bytea bytea,
    c_uuid uuid
);

-- fixture_insert: row 1 written as plain SQL literals, used when a client's
-- own parameterised INSERT (case insert_params) fails, so the type cases
-- still test what SELECT returns. Row 2 (all NULL) likewise.
INSERT INTO {table} (id, c_int, c_bigint, c_text, c_varchar, c_bool, c_float8,
    c_numeric, c_date, c_timestamp, c_timestamptz, c_bytea, c_uuid)
VALUES (1, 2147483647, 9007199254740993, 'it''s a \ test ✓ é', 'varchar ✓', true,
    3.141592653589793, 12345678.90, '2024-02-29', '2024-02-29 12:34:56.789012',
    '2024-02-29 14:34:56.789012+02', '\x0001deadbeefff5c27',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'), (2, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL);
