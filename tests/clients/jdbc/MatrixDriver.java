// pgJDBC driver of the client matrix (Debian's libpostgresql-jdbc-java):
// PreparedStatement with typed parameters (bytea and uuid binary), text
// results, then (case server_prepared) the named server-side statement and
// binary results pgJDBC switches to after prepareThreshold (5) uses.
// Cancel is Statement.cancel() from another thread. Compiled and run by
// tests/clients/run; prints one JSON line per case (tests/clients/README.md).

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

public final class MatrixDriver {
    static final String CLIENT = "pgjdbc";
    static final long CASE_TIMEOUT_MS = 10_000;
    static final long CANCEL_DEADLINE_MS = 2_000;

    static String env(String name, String dflt) {
        String v = System.getenv(name);
        return v == null ? dflt : v;
    }

    static final String HOST = env("PGIRIS_MATRIX_HOST", "127.0.0.1");
    static final String PORT = env("PGIRIS_MATRIX_PORT", "5432");
    static final String USER = env("PGIRIS_MATRIX_USER", "postgres");
    static final String PASSWORD = env("PGIRIS_MATRIX_PASSWORD", "postgres");
    static final String DBNAME = env("PGIRIS_MATRIX_DBNAME", "postgres");
    static final boolean SCRAM = env("PGIRIS_MATRIX_AUTH", "trust").equals("scram");
    static final boolean TLS = env("PGIRIS_MATRIX_TLS", "0").equals("1");
    static final String SSLMODE = env("PGIRIS_MATRIX_SSLMODE", TLS ? "require" : "disable");
    static final String CA_FILE = env("PGIRIS_MATRIX_CA_FILE", "");
    static final String TABLE = env("PGIRIS_MATRIX_TABLE", "matrix_t");
    static final String DDL = env("PGIRIS_MATRIX_DDL", "");
    static final String FIXTURE_INSERT = env("PGIRIS_MATRIX_FIXTURE_INSERT", "");
    static final String LONG_QUERY = env("PGIRIS_MATRIX_LONG_QUERY", "");
    static final long CANCEL_AFTER_MS = (long) (Double.parseDouble(env("PGIRIS_MATRIX_CANCEL_AFTER", "0.5")) * 1000);
    static final long CANCEL_WAIT_MS = (long) (Double.parseDouble(env("PGIRIS_MATRIX_CANCEL_WAIT", "5")) * 1000);

    // The fixture (tests/clients/fixture.sql).
    static final String TEXT = "it's a \\ test \u2713 \u00e9";
    static final String VARCHAR = "varchar \u2713";
    static final BigDecimal NUMERIC = new BigDecimal("12345678.90");
    static final LocalDate DATE = LocalDate.of(2024, 2, 29);
    static final LocalDateTime TIMESTAMP = LocalDateTime.of(2024, 2, 29, 12, 34, 56, 789_012_000);
    static final OffsetDateTime TIMESTAMPTZ = OffsetDateTime.of(2024, 2, 29, 14, 34, 56, 789_012_000, ZoneOffset.ofHours(2));
    static final byte[] BYTEA = {0x00, 0x01, (byte) 0xde, (byte) 0xad, (byte) 0xbe, (byte) 0xef, (byte) 0xff, 0x5c, 0x27};
    static final UUID UUID_VALUE = UUID.fromString("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    static final String[] COLS = {"c_int", "c_bigint", "c_text", "c_varchar", "c_bool", "c_float8", "c_numeric",
        "c_date", "c_timestamp", "c_timestamptz", "c_bytea", "c_uuid"};
    static final String[] KINDS = {"int", "bigint", "text", "varchar", "boolean", "double", "numeric", "date",
        "timestamp", "timestamptz", "bytea", "uuid"};
    static final String[] PG_TYPES = {"int4", "int8", "text", "varchar", "bool", "float8", "numeric", "date",
        "timestamp", "timestamptz", "bytea", "uuid"};

    // --- output ---------------------------------------------------------------

    static String json(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                default:
                    if (c < 0x20) {
                        b.append(' ');
                    } else {
                        b.append(c);
                    }
            }
        }
        return b.append('"').toString();
    }

    static void emit(String name, boolean ok, String detail) {
        System.out.println("{\"client\":\"" + CLIENT + "\",\"case\":" + json(name) + ",\"ok\":" + ok
            + ",\"detail\":" + json(detail) + "}");
        System.out.flush();
    }

    static final class CaseFailed extends Exception {
        CaseFailed(String m) {
            super(m);
        }
    }

    interface Body {
        String run() throws Exception;
    }

    static void expect(boolean cond, String detail) throws CaseFailed {
        if (!cond) {
            throw new CaseFailed(detail);
        }
    }

    static String describe(Throwable e) {
        String msg = String.valueOf(e.getMessage()).replaceAll("\\s+", " ");
        if (e instanceof SQLException && ((SQLException) e).getSQLState() != null) {
            return e.getClass().getSimpleName() + " [" + ((SQLException) e).getSQLState() + "]: " + msg;
        }
        return e.getClass().getSimpleName() + ": " + msg;
    }

    // --- connections and cases -----------------------------------------------

    static Connection connect(String user, String password) throws SQLException {
        StringBuilder url = new StringBuilder("jdbc:postgresql://" + HOST + ":" + PORT + "/" + DBNAME
            + "?connectTimeout=10&ApplicationName=pgiris-matrix&sslmode=" + SSLMODE);
        if (SSLMODE.startsWith("verify")) {
            url.append("&sslrootcert=").append(CA_FILE);
        }
        Properties p = new Properties();
        p.setProperty("user", user);
        p.setProperty("password", password);
        return DriverManager.getConnection(url.toString(), p);
    }

    static Connection connect() throws SQLException {
        return connect(USER, PASSWORD);
    }

    static Connection conn;
    static final ScheduledExecutorService TIMERS = Executors.newScheduledThreadPool(2, r -> {
        Thread t = new Thread(r);
        t.setDaemon(true);
        return t;
    });

    /** Runs a case under a watchdog: when stuck, the main connection is
     * aborted (its socket closed, so the blocked call returns), the case is
     * reported as stuck and the connection replaced. */
    static boolean runCase(String name, Body body, long timeoutMs, String stuck) {
        System.out.println("{\"client\":\"" + CLIENT + "\",\"case\":" + json(name) + ",\"start\":true}");
        AtomicBoolean fired = new AtomicBoolean(false);
        final Connection watched = conn;
        ScheduledFuture<?> watchdog = TIMERS.schedule(() -> {
            fired.set(true);
            try {
                if (watched != null) {
                    watched.abort(Runnable::run);
                }
            } catch (SQLException e) {
                emit(name, false, stuck + " (driver ended)");
                System.exit(0);
            }
        }, timeoutMs, TimeUnit.MILLISECONDS);
        boolean ok;
        String detail;
        try {
            String d = body.run();
            ok = true;
            detail = d == null ? "" : d;
        } catch (CaseFailed e) {
            ok = false;
            detail = e.getMessage();
        } catch (Exception e) {
            ok = false;
            detail = describe(e);
        }
        watchdog.cancel(false);
        if (fired.get()) {
            ok = false;
            detail = stuck;
            try {
                conn = connect();
            } catch (SQLException e) {
                emit(name, false, detail);
                System.exit(0);
            }
        }
        emit(name, ok, detail);
        return ok;
    }

    static boolean runCase(String name, Body body) {
        return runCase(name, body, CASE_TIMEOUT_MS, "no answer within " + CASE_TIMEOUT_MS / 1000 + "s: the session hung");
    }

    static long count(Connection c, int id) throws SQLException {
        try (Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT count(*) FROM " + TABLE + " WHERE id = " + id)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    static String expectState(Body body, String want, String what) throws CaseFailed {
        try {
            body.run();
        } catch (SQLException e) {
            if (want.equals(e.getSQLState())) {
                return want + ": " + String.valueOf(e.getMessage()).replaceAll("\\s+", " ");
            }
            throw new CaseFailed(what + ": expected SQLSTATE " + want + ", got " + describe(e));
        } catch (Exception e) {
            throw new CaseFailed(what + ": expected SQLSTATE " + want + ", got " + describe(e));
        }
        throw new CaseFailed(what + ": expected SQLSTATE " + want + ", but it succeeded");
    }

    static String refused(String user, String password, String what) throws CaseFailed, SQLException {
        Connection c;
        try {
            c = connect(user, password);
        } catch (SQLException e) {
            if ("28P01".equals(e.getSQLState())) {
                return "28P01: " + e.getMessage();
            }
            throw new CaseFailed(what + ": expected 28P01, got " + describe(e));
        }
        c.close();
        throw new CaseFailed("auth not enforced: " + what + " was accepted");
    }

    /** Column i of the fixture row: the type pgJDBC was told (from the
     * RowDescription), the class getObject gives, and the value. */
    static String checkColumn(ResultSet rs, int at, int i) throws Exception {
        String col = COLS[i];
        String pgType = rs.getMetaData().getColumnTypeName(at);
        expect(PG_TYPES[i].equals(pgType), col + ": RowDescription type " + pgType + ", expected " + PG_TYPES[i]);
        Object v = rs.getObject(at);
        String got = v == null ? "null" : v.getClass().getSimpleName() + " " + v;
        switch (KINDS[i]) {
            case "int":
                expect(v instanceof Integer && (Integer) v == 2147483647, col + ": expected Integer 2147483647, got " + got);
                break;
            case "bigint":
                expect(v instanceof Long && (Long) v == 9007199254740993L, col + ": expected Long 9007199254740993, got " + got);
                break;
            case "text":
                expect(TEXT.equals(v), col + ": expected String '" + TEXT + "', got " + got);
                break;
            case "varchar":
                expect(VARCHAR.equals(v), col + ": expected String '" + VARCHAR + "', got " + got);
                break;
            case "boolean":
                expect(Boolean.TRUE.equals(v), col + ": expected Boolean true, got " + got);
                break;
            case "double":
                expect(v instanceof Double && (Double) v == 3.141592653589793, col + ": expected Double 3.141592653589793, got " + got);
                break;
            case "numeric":
                // equals is scale-sensitive: numeric(10,2) gives 12345678.90.
                expect(NUMERIC.equals(v), col + ": expected BigDecimal 12345678.90, got " + got);
                break;
            case "date": {
                expect(v instanceof java.sql.Date, col + ": expected java.sql.Date, got " + got);
                LocalDate d = rs.getObject(at, LocalDate.class);
                expect(DATE.equals(d), col + ": expected 2024-02-29, got " + d);
                break;
            }
            case "timestamp": {
                expect(v instanceof java.sql.Timestamp, col + ": expected java.sql.Timestamp, got " + got);
                LocalDateTime d = rs.getObject(at, LocalDateTime.class);
                expect(TIMESTAMP.equals(d), col + ": expected 2024-02-29T12:34:56.789012, got " + d);
                break;
            }
            case "timestamptz": {
                expect(v instanceof java.sql.Timestamp, col + ": expected java.sql.Timestamp, got " + got);
                OffsetDateTime d = rs.getObject(at, OffsetDateTime.class);
                expect(d != null && TIMESTAMPTZ.toInstant().equals(d.toInstant()),
                    col + ": expected the instant 2024-02-29T12:34:56.789012Z, got " + d);
                break;
            }
            case "bytea":
                expect(v instanceof byte[] && Arrays.equals(BYTEA, (byte[]) v),
                    col + ": expected byte[] 0001deadbeefff5c27, got " + (v instanceof byte[] ? "byte[] " + hex((byte[]) v) : got));
                got = "byte[] " + hex((byte[]) v);
                break;
            default:
                expect(UUID_VALUE.equals(v), col + ": expected UUID " + UUID_VALUE + ", got " + got);
        }
        return pgType + ": " + got;
    }

    static String hex(byte[] b) {
        StringBuilder s = new StringBuilder();
        for (byte x : b) {
            s.append(String.format("%02x", x));
        }
        return s.toString();
    }

    static String selectSql(String where) {
        return "SELECT " + String.join(", ", COLS) + " FROM " + TABLE + " WHERE " + where;
    }

    public static void main(String[] args) throws Exception {
        System.out.println("{\"client\":\"" + CLIENT + "\",\"meta\":{\"version\":"
            + json(org.postgresql.Driver.getVersion()) + ",\"java\":" + json(System.getProperty("java.version")) + "}}");
        List<String> rest = new ArrayList<>(Arrays.asList("server_version", "ddl", "insert_params"));
        for (String k : KINDS) {
            rest.add("type." + k);
        }
        rest.addAll(Arrays.asList("nulls", "tx_commit", "tx_rollback", "error_42P01", "error_23505", "bad_password",
            "unknown_user"));
        if (SCRAM && TLS) {
            rest.add("scram_plus");
        }
        rest.addAll(Arrays.asList("server_prepared", "cancel"));

        if (!runCase("connect", () -> {
            conn = connect();
            return TLS ? "tls (sslmode=" + SSLMODE + ")" : "plaintext";
        })) {
            for (String r : rest) {
                emit(r, false, "not run: connect failed");
            }
            return;
        }
        final String t = TABLE;

        runCase("server_version", () -> {
            int major = conn.getMetaData().getDatabaseMajorVersion();
            String v = conn.getMetaData().getDatabaseProductVersion();
            expect(major >= 14, "server version " + v + ": expected 14 or later");
            return v;
        });
        runCase("ddl", () -> {
            try (Statement s = conn.createStatement()) {
                s.execute("DROP TABLE IF EXISTS " + t);
                s.execute(DDL);
            }
            return "created";
        });
        String note = null;
        boolean inserted = runCase("insert_params", () -> {
            String sql = "INSERT INTO " + t + " (id, " + String.join(", ", COLS) + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
            try (PreparedStatement ps = conn.prepareStatement(sql)) {
                ps.setInt(1, 1);
                ps.setInt(2, 2147483647);
                ps.setLong(3, 9007199254740993L);
                ps.setString(4, TEXT);
                ps.setString(5, VARCHAR);
                ps.setBoolean(6, true);
                ps.setDouble(7, 3.141592653589793);
                ps.setBigDecimal(8, NUMERIC);
                ps.setObject(9, DATE);
                ps.setObject(10, TIMESTAMP);
                ps.setObject(11, TIMESTAMPTZ);
                ps.setBytes(12, BYTEA);
                ps.setObject(13, UUID_VALUE);
                expect(ps.executeUpdate() == 1, "update count for row 1");
                ps.setInt(1, 2);
                int[] types = {java.sql.Types.INTEGER, java.sql.Types.BIGINT, java.sql.Types.VARCHAR, java.sql.Types.VARCHAR,
                    java.sql.Types.BOOLEAN, java.sql.Types.DOUBLE, java.sql.Types.NUMERIC, java.sql.Types.DATE,
                    java.sql.Types.TIMESTAMP, java.sql.Types.TIMESTAMP_WITH_TIMEZONE, java.sql.Types.BINARY, java.sql.Types.OTHER};
                for (int i = 0; i < types.length; i++) {
                    ps.setNull(i + 2, types[i]);
                }
                expect(ps.executeUpdate() == 1, "update count for row 2");
            }
            return "2 rows, PreparedStatement with typed parameters";
        });
        if (!inserted) {
            try (Statement s = conn.createStatement()) {
                s.execute(FIXTURE_INSERT);
            } catch (SQLException e) {
                note = "insert_params failed and so did the literal fixture INSERT: " + describe(e);
            }
        }
        // The row with a plain Statement (text results); when the SELECT
        // fails, each column on its own.
        for (int i = 0; i < COLS.length; i++) {
            final int idx = i;
            final String n = note;
            runCase("type." + KINDS[i], () -> {
                if (n != null) {
                    throw new CaseFailed("no row: " + n);
                }
                try (Statement s = conn.createStatement(); ResultSet rs = s.executeQuery(selectSql("id = 1"))) {
                    if (!rs.next()) {
                        throw new CaseFailed("no row: SELECT returned no row");
                    }
                    return checkColumn(rs, idx + 1, idx);
                } catch (SQLException whole) {
                    try (Statement s = conn.createStatement();
                         ResultSet rs = s.executeQuery("SELECT " + COLS[idx] + " FROM " + t + " WHERE id = 1")) {
                        expect(rs.next(), COLS[idx] + " alone: SELECT returned no row");
                        return checkColumn(rs, 1, idx);
                    } catch (SQLException e) {
                        throw new CaseFailed(COLS[idx] + " alone: SELECT failed: " + describe(e));
                    }
                }
            });
        }
        runCase("nulls", () -> {
            try (Statement s = conn.createStatement(); ResultSet rs = s.executeQuery(selectSql("id = 2"))) {
                expect(rs.next(), "SELECT returned no row");
                List<String> bad = new ArrayList<>();
                for (int i = 1; i <= COLS.length; i++) {
                    if (rs.getObject(i) != null) {
                        bad.add(COLS[i - 1]);
                    }
                }
                expect(bad.isEmpty(), "expected NULL in every column, got values in " + String.join(", ", bad));
            }
            return "12 NULLs";
        });
        for (boolean commit : new boolean[] {true, false}) {
            runCase(commit ? "tx_commit" : "tx_rollback", () -> {
                int id = commit ? 10 : 11;
                try (Connection other = connect()) {
                    conn.setAutoCommit(false);
                    try {
                        try (Statement s = conn.createStatement()) {
                            s.executeUpdate("INSERT INTO " + t + " (id, c_text) VALUES (" + id + ", 'tx')");
                        }
                        expect(count(conn, id) == 1, "own uncommitted row not visible");
                        expect(count(other, id) == 0, "uncommitted row visible to another session");
                        if (commit) {
                            conn.commit();
                        } else {
                            conn.rollback();
                        }
                    } catch (Exception e) {
                        conn.rollback();
                        throw e;
                    } finally {
                        conn.setAutoCommit(true);
                    }
                    long want = commit ? 1 : 0;
                    long mine = count(conn, id);
                    long theirs = count(other, id);
                    String verb = commit ? "COMMIT" : "ROLLBACK";
                    expect(mine == want && theirs == want, "after " + verb + ": the session sees " + mine
                        + " rows, another session " + theirs + ", expected " + want);
                }
                return "visibility checked from a second session";
            });
        }
        runCase("error_42P01", () -> expectState(() -> {
            try (Statement s = conn.createStatement()) {
                s.executeQuery("SELECT * FROM pgiris_matrix_no_such_table");
            }
            return null;
        }, "42P01", "missing table"));
        runCase("error_23505", () -> {
            try (Statement s = conn.createStatement()) {
                s.executeUpdate("INSERT INTO " + t + " (id) VALUES (100)");
            }
            return expectState(() -> {
                try (Statement s = conn.createStatement()) {
                    s.executeUpdate("INSERT INTO " + t + " (id) VALUES (100)");
                }
                return null;
            }, "23505", "duplicate primary key");
        });
        runCase("bad_password", () -> refused(USER, "wrong-" + PASSWORD, "a login with a wrong password"));
        runCase("unknown_user", () -> refused("pgiris_matrix_no_such_user", PASSWORD, "a login as an unknown user"));
        if (SCRAM && TLS) {
            runCase("scram_plus", () -> {
                throw new CaseFailed("client: pgJDBC " + org.postgresql.Driver.getVersion()
                    + " has no channel binding (SCRAM-SHA-256-PLUS arrived in 42.7.4, channelBinding=require)");
            });
        }
        // After prepareThreshold (5) executions pgJDBC uses a named server
        // statement and asks for binary results for the types it can decode.
        // Every execution must give what the first (text) one gave; the
        // values themselves are the type cases' business.
        runCase("server_prepared", () -> {
            List<String> first = null;
            try (PreparedStatement ps = conn.prepareStatement(selectSql("id = ?"))) {
                for (int run = 1; run <= 7; run++) {
                    ps.setInt(1, 1);
                    List<String> got = new ArrayList<>();
                    try (ResultSet rs = ps.executeQuery()) {
                        expect(rs.next(), "execution " + run + ": no row");
                        ResultSetMetaData md = rs.getMetaData();
                        for (int i = 1; i <= COLS.length; i++) {
                            Object v = rs.getObject(i);
                            String shown = v instanceof byte[] ? hex((byte[]) v) : String.valueOf(v);
                            got.add(COLS[i - 1] + " " + md.getColumnTypeName(i) + " "
                                + (v == null ? "null" : v.getClass().getSimpleName()) + " " + shown);
                        }
                    } catch (SQLException e) {
                        throw new CaseFailed("execution " + run + ": " + describe(e));
                    }
                    if (first == null) {
                        first = got;
                    } else {
                        for (int i = 0; i < got.size(); i++) {
                            expect(got.get(i).equals(first.get(i)), "execution " + run + " gave " + got.get(i)
                                + ", the first gave " + first.get(i));
                        }
                    }
                }
            }
            return "7 executions (server-prepared from the 5th) agree";
        });
        runCase("cancel", () -> {
            try (Statement s = conn.createStatement()) {
                long[] sent = {0};
                ScheduledFuture<?> canceller = TIMERS.schedule(() -> {
                    sent[0] = System.nanoTime();
                    try {
                        s.cancel();
                    } catch (SQLException e) {
                        sent[0] = -1;
                    }
                }, CANCEL_AFTER_MS, TimeUnit.MILLISECONDS);
                try {
                    s.executeQuery(LONG_QUERY);
                    canceller.cancel(false);
                    throw new CaseFailed("the query completed: the cancel had no effect");
                } catch (SQLException e) {
                    long ms = (System.nanoTime() - sent[0]) / 1_000_000;
                    canceller.get();
                    expect(sent[0] != -1, "Statement.cancel() failed");
                    expect("57014".equals(e.getSQLState()), "expected 57014, got " + describe(e));
                    expect(ms < CANCEL_DEADLINE_MS, "57014 arrived " + ms + " ms after the cancel (want < 2s)");
                    expect(count(conn, 1) <= 1, "count after the cancel");
                    return "57014 " + ms + " ms after the cancel; the session still works";
                }
            }
        }, CANCEL_AFTER_MS + CANCEL_WAIT_MS,
            "no 57014 and no result " + CANCEL_WAIT_MS / 1000 + "s after the cancel was sent: the query kept running");
        conn.close();
        System.exit(0);
    }
}
