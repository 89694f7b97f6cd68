// t41-cli -- the services' command line (issue 15 item 5): --help,
// --version, --check on chat-fcgi and chat-ws; bad flags and bad
// configuration; both refuse to start against a database whose schema is
// behind (or was never migrated); chat-fcgi without a FastCGI socket on
// fd 0 exits non-zero with a clear message instead of 0.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { REPO } from './lib.mjs';
import { psql, conninfo } from './sio.mjs';

const BUILD = path.resolve(REPO, process.env.CHAT_BUILD || 'build/asan');
const PROGS = ['chat-fcgi', 'chat-ws'];
const VERSION = fs.readFileSync(path.join(REPO, 'VERSION'), 'utf8').trim();
const SCHEMA = fs.readdirSync(path.join(REPO, 'migrations'))
  .filter((f) => /^\d{4}_.*\.sql$/.test(f)).sort().pop().slice(0, 4);
const DB = conninfo('chat', { user: 'chat_svc' });
const BEHIND = `chat_t41_behind_${process.pid}`;
const NONE = `chat_t41_none_${process.pid}`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 't41-'));

/** Runs a program of the build with env on top of ours; stdin: 'ignore' = /dev/null, or 'pipe'. */
function run(prog, args, { env = {}, stdin = 'ignore' } = {}) {
  const r = spawnSync(path.join(BUILD, prog), args, {
    env: { ...process.env, DATABASE_URL: DB, CHAT_WS_PORT: '1', ...env },
    stdio: [stdin, 'pipe', 'pipe'],
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return r;
}

/** chat-fcgi under spawn-fcgi -n, on a socket of its own (as deployed). */
function runFcgi(env) {
  const r = spawnSync('spawn-fcgi', ['-n', '-s', path.join(tmp, `f${Date.now()}.sock`), '--',
    path.join(BUILD, 'chat-fcgi')], {
    env: { ...process.env, DATABASE_URL: DB, CHAT_FCGI_WORKERS: '1', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return r;
}

before(() => {
  // A database migrated up to the migration before the newest, and one
  // never migrated at all.
  psql(`CREATE DATABASE ${BEHIND}`);
  psql(`CREATE DATABASE ${NONE}`);
  const behind = conninfo(BEHIND);
  const r = spawnSync('psql', [behind, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c',
    `CREATE TABLE schema_migrations (version text PRIMARY KEY, name text);
     INSERT INTO schema_migrations SELECT lpad(v::text, 4, '0'), 'x' FROM generate_series(1, ${Number(SCHEMA) - 1}) v`],
  { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

after(() => {
  psql(`DROP DATABASE IF EXISTS ${BEHIND}`);
  psql(`DROP DATABASE IF EXISTS ${NONE}`);
  fs.rmSync(tmp, { recursive: true, force: true });
});

for (const prog of PROGS) {
  test(`${prog} --version names the release (VERSION) and the newest migration`, () => {
    for (const flag of ['--version', '-V']) {
      const r = run(prog, [flag]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `${prog} ${VERSION} (schema ${SCHEMA})\n`);
    }
  });

  test(`${prog} --help prints the usage and exits 0`, () => {
    for (const flag of ['--help', '-h']) {
      const r = run(prog, [flag]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^Usage: ${prog} \\[--check \\| --version \\| --help\\]`));
      assert.match(r.stdout, /deploy\/migrate\.sh/);
    }
  });

  test(`${prog} refuses unknown options, arguments and two options with status 2`, () => {
    for (const args of [['--bogus'], ['-x'], ['run'], ['--help', '--check'], ['--check', '--version'], ['--'], ['']]) {
      const r = run(prog, args);
      assert.equal(r.status, 2, `${args}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^${prog}: .*\nTry '${prog} --help'\\.\n$`));
      assert.equal(r.stdout, '');
    }
  });

  test(`${prog} --check passes against the stack's database`, () => {
    const r = run(prog, ['--check']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^configuration: ok\n/);
    assert.match(r.stdout, /\ndatabase: ok \(PostgreSQL \d+, database 'chat' as 'chat_svc'\)\n/);
    assert.match(r.stdout, new RegExp(`\nschema: ok \\(needs ${SCHEMA}, newest applied \\d{4}\\)\n`));
    assert.match(r.stdout, /\nlisten: ok/);
    assert.match(r.stdout, new RegExp(`\n${prog}: all checks passed\n$`));
  });

  test(`${prog} --check fails (1) on a bad setting, naming it`, () => {
    for (const [k, v] of [['CHAT_DB_TIMEOUT', 'soon'], ['CHAT_LOG_LEVEL', 'loud'], ['CHAT_JWT_SECRET', 'short']]) {
      const r = run(prog, ['--check'], { env: { [k]: v } });
      assert.equal(r.status, 1, r.stdout);
      assert.match(r.stdout, new RegExp(`^configuration: FAILED: .*${k}`));
      assert.match(r.stdout, /1 check failed\n$/);
    }
  });

  test(`${prog} --check fails (1) when the database cannot be reached`, () => {
    const r = run(prog, ['--check'], { env: { DATABASE_URL: `host=${tmp} port=1 dbname=chat`, CHAT_DB_TIMEOUT: '2' } });
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stdout, /\ndatabase: FAILED: cannot connect: .*\nschema: skipped\nlisten: skipped\n/);
  });

  test(`${prog} --check fails (1) on a schema behind the build, saying what to run`, () => {
    const r = run(prog, ['--check'], { env: { DATABASE_URL: conninfo(BEHIND) } });
    assert.equal(r.status, 1, r.stdout);
    const want = `newest applied migration ${String(Number(SCHEMA) - 1).padStart(4, '0')}, ${prog} ${VERSION} needs ${SCHEMA}`;
    assert.ok(r.stdout.includes(`schema: FAILED: the database schema is behind (${want})`), r.stdout);
    assert.match(r.stdout, /run deploy\/migrate\.sh/);
    assert.match(r.stdout, /\nlisten: ok/);
    const none = run(prog, ['--check'], { env: { DATABASE_URL: conninfo(NONE) } });
    assert.equal(none.status, 1, none.stdout);
    assert.match(none.stdout, /schema: FAILED: the database has no schema_migrations table; .*run deploy\/migrate\.sh/);
  });
}

test('chat-ws refuses to start (2) against a schema behind or never migrated', () => {
  for (const db of [BEHIND, NONE]) {
    const r = run('chat-ws', [], { env: { DATABASE_URL: conninfo(db) } });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /level=error comp=ws msg="refusing to start: .*deploy\/migrate\.sh"/);
  }
});

test('chat-fcgi refuses to start (2) against a schema behind or never migrated', () => {
  for (const db of [BEHIND, NONE]) {
    const r = runFcgi({ DATABASE_URL: conninfo(db) });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /level=error comp=fcgi msg="refusing to start: .*deploy\/migrate\.sh"/);
  }
});

test('chat-fcgi without a FastCGI socket on fd 0 exits 2 and says how to start it', () => {
  for (const [stdin, what] of [['ignore', 'a character device'], ['pipe', 'a socket that is not listening']]) {
    const r = run('chat-fcgi', [], { stdin });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`no FastCGI socket on standard input \\(fd 0 is ${what.replace(/[()]/g, '\\$&')}.*spawn-fcgi`));
  }
});
