// The pgJDBC half of the IRIS end-to-end scenario (run by
// tests/iris_e2e_jdbc.rs through pgiris with backend.kind = "iris"):
// parameters (past prepareThreshold, so server-prepared statements too),
// transactions (rollback and commit seen from a second connection), errors
// with their SQLSTATEs, and Statement.cancel() after which the connection
// goes on. Prints "JDBC OK" and exits 0, or throws.
//
// Usage: java -cp .:postgresql.jar IrisJdbcE2E JDBC_URL USER TABLE

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;

public class IrisJdbcE2E {
    static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
    }

    static long count(Connection c, String table) throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT COUNT(*) FROM " + table)) {
            check(rs.next(), "count row");
            return rs.getLong(1);
        }
    }

    static String expectError(Connection c, String sql) {
        try (Statement st = c.createStatement()) {
            st.execute(sql);
        } catch (SQLException e) {
            return e.getSQLState();
        }
        throw new AssertionError("no error from: " + sql);
    }

    public static void main(String[] args) throws Exception {
        String url = args[0];
        String user = args[1];
        String table = args[2];
        try (Connection c = DriverManager.getConnection(url, user, "");
             Connection other = DriverManager.getConnection(url, user, "")) {
            try (Statement st = c.createStatement()) {
                st.execute("CREATE TABLE " + table
                        + " (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL, qty INTEGER)");
            }
            PreparedStatement ins = c.prepareStatement(
                    "INSERT INTO " + table + " (id, name, qty) VALUES (?, ?, ?)");
            ins.setInt(1, 1);
            ins.setString(2, "one");
            ins.setInt(3, 10);
            check(ins.executeUpdate() == 1, "insert count");
            ins.setInt(1, 2);
            ins.setString(2, "");
            ins.setNull(3, Types.INTEGER);
            check(ins.executeUpdate() == 1, "insert count");

            // Seven executions: pgJDBC switches to a named server-side
            // statement after prepareThreshold (5).
            PreparedStatement sel = c.prepareStatement(
                    "SELECT name, qty FROM " + table + " WHERE id = ?");
            for (int i = 0; i < 7; i++) {
                sel.setInt(1, 1 + (i % 2));
                try (ResultSet rs = sel.executeQuery()) {
                    check(rs.next(), "a row");
                    if (i % 2 == 0) {
                        check("one".equals(rs.getString(1)), "name one");
                        check(rs.getInt(2) == 10, "qty 10");
                    } else {
                        check("".equals(rs.getString(1)), "empty string is not NULL");
                        rs.getInt(2);
                        check(rs.wasNull(), "NULL qty");
                    }
                    check(!rs.next(), "one row");
                }
            }

            // Transactions.
            c.setAutoCommit(false);
            ins.setInt(1, 10);
            ins.setString(2, "rolled back");
            ins.setNull(3, Types.INTEGER);
            ins.executeUpdate();
            c.rollback();
            check(count(other, table) == 2, "after rollback");
            ins.setInt(1, 11);
            ins.setString(2, "committed");
            ins.executeUpdate();
            c.commit();
            c.setAutoCommit(true);
            check(count(other, table) == 3, "after commit");

            // Errors.
            String state = expectError(c, "SELECT * FROM pgiris_e2e_no_such_table");
            check("42P01".equals(state), "missing table: " + state);
            try {
                ins.setInt(1, 1);
                ins.setString(2, "duplicate");
                ins.executeUpdate();
                throw new AssertionError("duplicate key accepted");
            } catch (SQLException e) {
                check("23505".equals(e.getSQLState()), "duplicate key: " + e.getSQLState());
            }

            // Cancel.
            for (int id = 100; id < 157; id++) {
                ins.setInt(1, id);
                ins.setString(2, "x");
                ins.setNull(3, Types.INTEGER);
                ins.executeUpdate();
            }
            final Statement slow = c.createStatement();
            Thread canceller = new Thread(() -> {
                try {
                    Thread.sleep(300);
                    slow.cancel();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            canceller.start();
            long start = System.nanoTime();
            try {
                slow.executeQuery("SELECT COUNT(*) FROM " + table + " a, " + table + " b, "
                        + table + " c, " + table + " d, " + table + " e");
                throw new AssertionError("the slow query finished before the cancel");
            } catch (SQLException e) {
                check("57014".equals(e.getSQLState()), "cancel: " + e.getSQLState());
            }
            canceller.join();
            check(System.nanoTime() - start < 20_000_000_000L, "cancel took too long");
            sel.setInt(1, 1);
            try (ResultSet rs = sel.executeQuery()) {
                check(rs.next() && "one".equals(rs.getString(1)), "the connection after a cancel");
            }
            check(count(other, table) == 60, "rows after the cancel");
            try (Statement st = c.createStatement()) {
                st.execute("DROP TABLE " + table);
            }
        }
        System.out.println("JDBC OK");
    }
}
