// node-postgres (pg) driver of the client matrix: simple protocol without
// parameters, unnamed extended protocol (Parse/Bind/Describe/Execute/Sync,
// text parameters with unspecified types) with them, text results parsed
// by pg-types. Cancel is Client#cancel(client, query), which sends a
// CancelRequest on a new plaintext connection. SCRAM-SHA-256-PLUS is
// enableChannelBinding. Prints one JSON line per case (tests/clients/README.md).
'use strict'

// Dates and timestamps are parsed in the process's time zone.
process.env.TZ = 'UTC'

const fs = require('fs')
const pg = require('pg')

const CLIENT = 'node-postgres'
const env = process.env
const E = {
  host: env.PGIRIS_MATRIX_HOST || '127.0.0.1',
  port: Number(env.PGIRIS_MATRIX_PORT || 5432),
  user: env.PGIRIS_MATRIX_USER || 'postgres',
  password: env.PGIRIS_MATRIX_PASSWORD || 'postgres',
  database: env.PGIRIS_MATRIX_DBNAME || 'postgres',
  scram: env.PGIRIS_MATRIX_AUTH === 'scram',
  tls: env.PGIRIS_MATRIX_TLS === '1',
  sslmode: env.PGIRIS_MATRIX_SSLMODE || 'disable',
  caFile: env.PGIRIS_MATRIX_CA_FILE || '',
  table: env.PGIRIS_MATRIX_TABLE || 'matrix_t',
  ddl: env.PGIRIS_MATRIX_DDL || '',
  fixtureInsert: env.PGIRIS_MATRIX_FIXTURE_INSERT || '',
  longQuery: env.PGIRIS_MATRIX_LONG_QUERY || '',
  cancelAfter: Number(env.PGIRIS_MATRIX_CANCEL_AFTER || 0.5) * 1000,
  cancelWait: Number(env.PGIRIS_MATRIX_CANCEL_WAIT || 5) * 1000
}
const CASE_TIMEOUT = 10000
const CANCEL_DEADLINE = 2000

function config (over) {
  const c = {
    host: E.host,
    port: E.port,
    user: E.user,
    password: E.password,
    database: E.database,
    connectionTimeoutMillis: 10000,
    application_name: 'pgiris-matrix',
    ssl: false
  }
  if (E.tls) {
    c.ssl = E.sslmode.startsWith('verify')
      ? { ca: fs.readFileSync(E.caFile), rejectUnauthorized: true }
      : { rejectUnauthorized: false }
    c.enableChannelBinding = E.scram
  }
  return Object.assign(c, over || {})
}

function emit (name, ok, detail) {
  console.log(JSON.stringify({ client: CLIENT, case: name, ok, detail: String(detail) }))
}

function describe (e) {
  const msg = String(e && e.message ? e.message : e).split(/\s+/).join(' ')
  return e && e.code && /^[0-9A-Z]{5}$/.test(e.code) ? `${e.constructor.name} [${e.code}]: ${msg}` : `${e && e.constructor ? e.constructor.name : 'Error'}: ${msg}`
}

class CaseFailed extends Error {}

function expect (cond, detail) {
  if (!cond) throw new CaseFailed(detail)
}

const state = { conn: null, failed: new Set() }

async function connect (over) {
  const c = new pg.Client(config(over))
  c.on('error', () => {}) // a dead socket is reported by the case using it
  await c.connect()
  return c
}

// Runs a case under a timeout; a stuck case is reported, its connection
// destroyed and replaced.
async function runCase (name, fn, opts) {
  opts = opts || {}
  const timeout = opts.timeout || CASE_TIMEOUT
  console.log(JSON.stringify({ client: CLIENT, case: name, start: true }))
  let timer
  const stuck = new Promise((resolve) => { timer = setTimeout(() => resolve({ stuck: true }), timeout) })
  let outcome
  try {
    outcome = await Promise.race([fn().then((d) => ({ ok: true, detail: d || '' })), stuck])
  } catch (e) {
    outcome = { ok: false, detail: e instanceof CaseFailed ? e.message : describe(e) }
  }
  clearTimeout(timer)
  if (outcome.stuck) {
    emit(name, false, opts.stuck || `no answer within ${timeout / 1000}s: the session hung`)
    state.failed.add(name)
    if (state.conn) {
      state.conn.connection.stream.destroy()
      state.conn = await connect()
    }
    return false
  }
  emit(name, outcome.ok, outcome.detail)
  if (!outcome.ok) state.failed.add(name)
  return outcome.ok
}

const C = () => state.conn

// The fixture (tests/clients/fixture.sql): values sent as parameters.
const TEXT = "it's a \\ test \u2713 \u00e9"
const VARCHAR = 'varchar \u2713'
const BYTEA = Buffer.from([0x00, 0x01, 0xde, 0xad, 0xbe, 0xef, 0xff, 0x5c, 0x27])
const UUID = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'
const INSTANT = Date.UTC(2024, 1, 29, 12, 34, 56, 789) // JS Dates hold milliseconds
const COLUMNS = [
  // [column, case, parameter, check(value) -> detail or throws]
  ['c_int', 'int', 2147483647, (v) => { expect(typeof v === 'number' && v === 2147483647, `expected number 2147483647, got ${typeof v} ${v}`) }],
  // pg returns int8 as a string (a JS number cannot hold it exactly).
  ['c_bigint', 'bigint', '9007199254740993', (v) => { expect(v === '9007199254740993', `expected string '9007199254740993', got ${typeof v} ${v}`) }],
  ['c_text', 'text', TEXT, (v) => { expect(v === TEXT, `expected ${JSON.stringify(TEXT)}, got ${typeof v} ${JSON.stringify(v)}`) }],
  ['c_varchar', 'varchar', VARCHAR, (v) => { expect(v === VARCHAR, `expected ${JSON.stringify(VARCHAR)}, got ${typeof v} ${JSON.stringify(v)}`) }],
  ['c_bool', 'boolean', true, (v) => { expect(v === true, `expected boolean true, got ${typeof v} ${v}`) }],
  ['c_float8', 'double', 3.141592653589793, (v) => { expect(v === 3.141592653589793, `expected number 3.141592653589793, got ${typeof v} ${v}`) }],
  // pg returns numeric as a string, scale included.
  ['c_numeric', 'numeric', '12345678.90', (v) => { expect(v === '12345678.90', `expected string '12345678.90', got ${typeof v} ${v}`) }],
  ['c_date', 'date', '2024-02-29', (v) => {
    expect(v instanceof Date && v.getTime() === Date.UTC(2024, 1, 29), `expected Date 2024-02-29T00:00:00Z, got ${typeof v} ${v instanceof Date ? v.toISOString() : v}`)
  }],
  ['c_timestamp', 'timestamp', '2024-02-29 12:34:56.789012', (v) => {
    expect(v instanceof Date && v.getTime() === INSTANT, `expected Date 2024-02-29T12:34:56.789Z, got ${typeof v} ${v instanceof Date ? v.toISOString() : v}`)
  }],
  ['c_timestamptz', 'timestamptz', '2024-02-29 14:34:56.789012+02', (v) => {
    expect(v instanceof Date && v.getTime() === INSTANT, `expected Date 2024-02-29T12:34:56.789Z, got ${typeof v} ${v instanceof Date ? v.toISOString() : v}`)
  }],
  ['c_bytea', 'bytea', BYTEA, (v) => {
    expect(Buffer.isBuffer(v) && v.equals(BYTEA), `expected Buffer ${BYTEA.toString('hex')}, got ${Buffer.isBuffer(v) ? 'Buffer ' + v.toString('hex') : typeof v + ' ' + v}`)
  }],
  ['c_uuid', 'uuid', UUID, (v) => { expect(v === UUID, `expected string '${UUID}', got ${typeof v} ${v}`) }]
]
const NAMES = COLUMNS.map((c) => c[0])

function show (v) {
  if (v instanceof Date) return `Date ${v.toISOString()}`
  if (Buffer.isBuffer(v)) return `Buffer ${v.toString('hex')}`
  return `${typeof v} ${JSON.stringify(v)}`
}

async function count (c, id) {
  const r = await c.query(`SELECT count(*) AS n FROM ${E.table} WHERE id = ${Number(id)}`)
  return Number(r.rows[0].n)
}

async function expectCode (p, want, what) {
  try {
    await p
  } catch (e) {
    if (e.code === want) return `${want}: ${e.message}`
    throw new CaseFailed(`${what}: expected SQLSTATE ${want}, got ${describe(e)}`)
  }
  throw new CaseFailed(`${what}: expected SQLSTATE ${want}, but it succeeded`)
}

async function refused (over, what) {
  let c
  try {
    c = await connect(over)
  } catch (e) {
    if (e.code === '28P01') return `28P01: ${e.message}`
    throw new CaseFailed(`${what}: expected 28P01, got ${describe(e)}`)
  }
  await c.end()
  throw new CaseFailed(`auth not enforced: ${what} was accepted`)
}

async function main () {
  console.log(JSON.stringify({ client: CLIENT, meta: { version: require('pg/package.json').version, node: process.version } }))
  const t = E.table
  const rest = ['server_version', 'ddl', 'insert_params', ...COLUMNS.map((c) => 'type.' + c[1]), 'nulls', 'tx_commit',
    'tx_rollback', 'error_42P01', 'error_23505', 'bad_password', 'unknown_user', ...(E.scram && E.tls ? ['scram_plus'] : []), 'cancel']

  const connected = await runCase('connect', async () => {
    state.conn = await connect()
    const encrypted = Boolean(state.conn.connection.stream.encrypted)
    expect(encrypted === E.tls, `TLS in use: ${encrypted}, expected ${E.tls}`)
    return encrypted ? `tls=${state.conn.connection.stream.getProtocol()}` : 'plaintext'
  })
  if (!connected) {
    for (const name of rest) emit(name, false, 'not run: connect failed')
    return
  }

  await runCase('server_version', async () => {
    const v = (await C().query('SHOW server_version')).rows[0].server_version
    const major = Number(String(v).split(/[. ]/)[0])
    expect(major >= 14, `server_version ${v}: expected 14 or later`)
    return v
  })
  await runCase('ddl', async () => {
    await C().query(`DROP TABLE IF EXISTS ${t}`)
    await C().query(E.ddl)
    return 'created'
  })
  let note = null
  const inserted = await runCase('insert_params', async () => {
    const marks = COLUMNS.map((_, i) => `$${i + 2}`).join(', ')
    const sql = `INSERT INTO ${t} (id, ${NAMES.join(', ')}) VALUES ($1, ${marks})`
    const r1 = await C().query(sql, [1, ...COLUMNS.map((c) => c[2])])
    expect(r1.rowCount === 1, `rowCount ${r1.rowCount} for row 1`)
    const r2 = await C().query(sql, [2, ...COLUMNS.map(() => null)])
    expect(r2.rowCount === 1, `rowCount ${r2.rowCount} for row 2`)
    return '2 rows, text parameters of unspecified type'
  })
  if (!inserted) {
    try {
      await C().query(E.fixtureInsert)
    } catch (e) {
      note = `insert_params failed and so did the literal fixture INSERT: ${describe(e)}`
    }
  }
  let row = null
  let why = note
  if (!note) {
    try {
      // rowMode array: values in column order, parsed by their type OIDs.
      const r = await C().query({ text: `SELECT ${NAMES.join(', ')} FROM ${t} WHERE id = 1`, rowMode: 'array' })
      row = r.rows[0] || null
      if (!row) why = 'SELECT returned no row'
    } catch (e) {
      why = `SELECT failed: ${describe(e)}`
    }
  }
  for (let i = 0; i < COLUMNS.length; i++) {
    const [col, kind, , check] = COLUMNS[i]
    await runCase(`type.${kind}`, async () => {
      let v
      if (row) {
        v = row[i]
      } else if (!note && why.startsWith('SELECT failed')) {
        try {
          v = (await C().query({ text: `SELECT ${col} FROM ${t} WHERE id = 1`, rowMode: 'array' })).rows[0][0]
        } catch (e) {
          throw new CaseFailed(`${col} alone: SELECT failed: ${describe(e)}`)
        }
      } else {
        throw new CaseFailed(`no row: ${why}`)
      }
      try {
        check(v)
      } catch (e) {
        throw new CaseFailed(`${col}: ${e.message}`)
      }
      return show(v)
    })
  }
  await runCase('nulls', async () => {
    const r = await C().query({ text: `SELECT ${NAMES.join(', ')} FROM ${t} WHERE id = 2`, rowMode: 'array' })
    expect(r.rows.length === 1, 'SELECT returned no row')
    const bad = NAMES.filter((_, i) => r.rows[0][i] !== null)
    expect(bad.length === 0, `expected NULL in every column, got values in ${bad.join(', ')}`)
    return '12 NULLs'
  })

  for (const commit of [true, false]) {
    await runCase(commit ? 'tx_commit' : 'tx_rollback', async () => {
      const id = commit ? 10 : 11
      const other = await connect()
      try {
        await C().query('BEGIN')
        try {
          await C().query(`INSERT INTO ${t} (id, c_text) VALUES (${id}, 'tx')`)
          expect(await count(C(), id) === 1, 'own uncommitted row not visible')
          expect(await count(other, id) === 0, 'uncommitted row visible to another session')
        } catch (e) {
          await C().query('ROLLBACK').catch(() => {})
          throw e
        }
        const verb = commit ? 'COMMIT' : 'ROLLBACK'
        await C().query(verb)
        const want = commit ? 1 : 0
        const mine = await count(C(), id)
        const theirs = await count(other, id)
        expect(mine === want && theirs === want, `after ${verb}: the session sees ${mine} rows, another session ${theirs}, expected ${want}`)
        return 'visibility checked from a second session'
      } finally {
        await other.end()
      }
    })
  }
  await runCase('error_42P01', () => expectCode(C().query('SELECT * FROM pgiris_matrix_no_such_table'), '42P01', 'missing table'))
  await runCase('error_23505', async () => {
    await C().query(`INSERT INTO ${t} (id) VALUES (100)`)
    return expectCode(C().query(`INSERT INTO ${t} (id) VALUES (100)`), '23505', 'duplicate primary key')
  })
  await runCase('bad_password', () => refused({ password: 'wrong-' + E.password }, 'a login with a wrong password'))
  await runCase('unknown_user', () => refused({ user: 'pgiris_matrix_no_such_user' }, 'a login as an unknown user'))
  if (E.scram && E.tls) {
    await runCase('scram_plus', async () => {
      // pg has no "require": check the mechanism it sent.
      const c = new pg.Client(config())
      let chosen = null
      const send = c.connection.sendSASLInitialResponseMessage
      c.connection.sendSASLInitialResponseMessage = function (mechanism, response) {
        chosen = mechanism
        return send.call(this, mechanism, response)
      }
      await c.connect()
      await c.end()
      expect(chosen === 'SCRAM-SHA-256-PLUS', `authenticated with ${chosen || 'no SASL exchange'}, expected SCRAM-SHA-256-PLUS`)
      return 'SCRAM-SHA-256-PLUS (enableChannelBinding)'
    })
  }
  await runCase('cancel', async () => {
    const q = new pg.Query(E.longQuery)
    const done = new Promise((resolve) => {
      q.on('error', (e) => resolve({ error: e, at: Date.now() }))
      q.on('end', () => resolve({ end: true, at: Date.now() }))
    })
    C().query(q)
    await new Promise((resolve) => setTimeout(resolve, E.cancelAfter))
    const sent = Date.now()
    new pg.Client(config()).cancel(C(), q)
    const r = await done
    if (r.end) throw new CaseFailed('the query completed: the cancel had no effect')
    if (r.error.code !== '57014') throw new CaseFailed(`expected 57014, got ${describe(r.error)}`)
    const ms = r.at - sent
    expect(ms < CANCEL_DEADLINE, `57014 arrived ${ms} ms after the cancel (want < 2s)`)
    const one = await C().query('SELECT 1 AS one')
    expect(Number(one.rows[0].one) === 1, `SELECT 1 after the cancel gave ${one.rows[0].one}`)
    return `57014 ${ms} ms after the cancel; the session still works`
  }, {
    timeout: E.cancelAfter + E.cancelWait,
    stuck: `no 57014 and no result ${E.cancelWait / 1000}s after the cancel was sent: the query kept running`
  })
  await C().end()
}

main().then(() => process.exit(0), (e) => {
  console.error(e)
  process.exit(1)
})
