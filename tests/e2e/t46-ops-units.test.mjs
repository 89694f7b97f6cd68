// t46-ops-units -- the systemd units in deploy/systemd, checked where systemd
// does not run: `systemd-analyze verify` on copies whose ExecStart points at
// the built programs (verify wants them executable), plus what the units
// promise the operator (docs/operations.md): a socket that outlives the
// service, a reload, a bridge template by port, no /usr/local.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO } from './lib.mjs';

const UNITS = path.join(REPO, 'deploy/systemd');
const build = path.resolve(REPO, process.env.CHAT_BUILD || 'build');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-units-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const unit = (name) => fs.readFileSync(path.join(UNITS, name), 'utf8');
/** The values of key= in a unit's text, in order. */
const values = (text, key) => [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]);

test('systemd-analyze verify accepts every unit', () => {
  const which = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  assert.equal(which.status, 0, 'systemd-analyze is installed (package systemd)');
  const names = fs.readdirSync(UNITS).sort();
  assert.deepEqual(names, ['chat-fcgi.service', 'chat-fcgi.socket', 'chat-ws@.service', 'chat.target']);
  for (const n of names) {
    const text = unit(n)
      .replaceAll('/usr/bin/chat-fcgi', path.join(build, 'chat-fcgi'))
      .replaceAll('/usr/bin/chat-ws', path.join(build, 'chat-ws'));
    fs.writeFileSync(path.join(tmp, n), text);
  }
  const args = ['verify', 'chat-fcgi.socket', 'chat-fcgi.service', 'chat-ws@8081.service', 'chat.target'];
  const r = spawnSync('systemd-analyze', args.map((a, i) => (i ? `./${a}` : a)), { cwd: tmp, encoding: 'utf8' });
  assert.equal(r.status, 0, `systemd-analyze verify: ${r.stdout}${r.stderr}`);
  assert.equal(r.stderr.trim(), '', 'no warning either');

  // A broken unit is caught: the check can fail.
  fs.writeFileSync(path.join(tmp, 'broken.service'), '[Service]\nExecStart=/nonexistent/chat-fcgi\n');
  const bad = spawnSync('systemd-analyze', ['verify', './broken.service'], { cwd: tmp, encoding: 'utf8' });
  assert.notEqual(bad.status, 0, 'verify refuses a missing program');
});

test('the units keep the socket, reload the pool, template the bridges and hard-code no /usr/local', () => {
  for (const n of fs.readdirSync(UNITS)) assert.doesNotMatch(unit(n), /\/usr\/local/, `${n} names /usr/local`);

  const sock = unit('chat-fcgi.socket');
  assert.deepEqual(values(sock, 'ListenStream'), ['/run/chat/fcgi.sock']);
  assert.deepEqual(values(sock, 'Accept'), ['no']);

  const fcgi = unit('chat-fcgi.service');
  assert.deepEqual(values(fcgi, 'Requires'), ['chat-fcgi.socket']);
  assert.deepEqual(values(fcgi, 'StandardInput'), ['socket'], 'the socket is the FastCGI descriptor 0');
  // With StandardInput=socket the log would go to the socket unless named.
  assert.deepEqual(values(fcgi, 'StandardError'), ['journal']);
  assert.deepEqual(values(fcgi, 'StandardOutput'), ['journal']);
  assert.deepEqual(values(fcgi, 'ExecReload'), ['/bin/kill -HUP $MAINPID']);
  assert.deepEqual(values(fcgi, 'ExecStart'), ['/usr/bin/chat-fcgi']);
  assert.deepEqual(values(fcgi, 'KillMode'), ['mixed'], 'SIGTERM to the master, which stops its workers');

  const ws = unit('chat-ws@.service');
  assert.deepEqual(values(ws, 'Environment'), ['CHAT_WS_PORT=%i', 'CHAT_WS_SID_PREFIX=p%i_']);
  assert.deepEqual(values(ws, 'ExecStart'), ['/usr/bin/chat-ws']);
  assert.deepEqual(values(ws, 'Restart'), ['always']);
  // Exit 2 (chat-fcgi and chat-ws --help: settings, schema, no socket) is
  // not retried: the unit fails and says so instead of looping as active.
  for (const u of [fcgi, ws]) assert.deepEqual(values(u, 'RestartPreventExitStatus'), ['2']);

  // The nginx site routes polling sessions by the prefix the template sets.
  const site = fs.readFileSync(path.join(REPO, 'deploy/nginx/chat.conf'), 'utf8');
  assert.match(site, /~\^p8081_\s+chat_ws_p8081;/);
  assert.match(site, /server 127\.0\.0\.1:8081 max_fails=0;/);
});
