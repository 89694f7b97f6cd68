// t50-ws-unix-socket -- nginx reaching chat-ws over a unix socket
// (CHAT_WS_LISTEN, docs/deploy.md): an extra bridge on a socket in the
// stack's run dir and an nginx of the test's own in front of it
// (proxy_pass http://unix:<path>:, as deploy/nginx/chat.conf shows), on the
// stack's database. WebSocket and polling clients through it get every
// message in order.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { join, createRoom } from './lib.mjs';
import {
  Bridge, EXTRA_PORT_1, EXTRA_PORT_2, STATE_DIR, closeAll, collect, connect, joinRoom, sendWs,
  assertSeqs, sleep, sockOpen,
} from './sio.mjs';

const state = fs.realpathSync(STATE_DIR);
const dir = path.join(state, `wsunix-${process.pid}`);
const sock = path.join(state, 'run', `wsu-${process.pid}.sock`);
const url = `http://127.0.0.1:${EXTRA_PORT_2}`;
let bridge = null;
let nginx = null;

/** An nginx with only the Socket.IO location, proxying to the bridge's socket. */
function nginxConf() {
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path ${dir}/tmp;
    proxy_temp_path ${dir}/tmp;
    fastcgi_temp_path ${dir}/tmp;
    uwsgi_temp_path ${dir}/tmp;
    scgi_temp_path ${dir}/tmp;
    map $http_upgrade $connection_upgrade { default upgrade; '' close; }
    server {
        listen 127.0.0.1:${EXTRA_PORT_2};
        location /socket.io/ {
            proxy_pass http://unix:${sock}:;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_buffering off;
            proxy_buffer_size 4k;
            proxy_read_timeout 75s;
        }
    }
}
`;
}

before(async () => {
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'nginx.conf'), nginxConf());
  if (process.getuid() === 0) fs.chownSync(dir, ...ids('chat'));
  if (process.getuid() === 0) fs.chownSync(path.join(dir, 'tmp'), ...ids('chat'));
  // A socket file left behind by a bridge that was killed: nobody accepts
  // on it, and the bridge must take its place (lws removes it first).
  fs.rmSync(sock, { force: true });
  const py = spawnSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', sock]);
  assert.equal(py.status, 0, String(py.stderr));
  assert.ok(fs.statSync(sock).isSocket(), 'a stale socket file is there');
  bridge = await Bridge.start({ port: EXTRA_PORT_1, env: { CHAT_WS_LISTEN: sock } });
  assert.ok(fs.statSync(sock).isSocket(), 'the bridge listens on its unix socket');
  const argv = ['nginx', '-p', `${dir}/`, '-c', `${dir}/nginx.conf`, '-e', `${dir}/nginx-error.log`, '-g', 'daemon off;'];
  const cmd = process.getuid() === 0
    ? ['setpriv', ['--reuid=chat', '--regid=chat', '--init-groups', '--', ...argv]]
    : [argv[0], argv.slice(1)];
  nginx = spawn(cmd[0], cmd[1], { cwd: '/', stdio: 'ignore', detached: true });
  nginx.unref();
  const end = Date.now() + 10_000;
  for (;;) {
    try {
      const r = await fetch(`${url}/socket.io/?EIO=4&transport=polling`);
      await r.text();
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    assert.ok(Date.now() < end, `nginx did not answer on ${url}; see ${dir}/nginx-error.log`);
    await sleep(100);
  }
});

/** uid and gid of a user, from /etc/passwd. */
function ids(user) {
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${user}:`));
  const f = line.split(':');
  return [Number(f[2]), Number(f[3])];
}

afterEach(closeAll);

after(async () => {
  await closeAll();
  if (nginx) {
    try {
      process.kill(-nginx.pid, 'SIGTERM');
    } catch {
      // gone
    }
  }
  if (bridge) {
    const r = await bridge.stop();
    assert.deepEqual(r, { code: 0, signal: null }, `the bridge exits cleanly; log:\n${bridge.logTail()}`);
  }
  assert.equal(await sockOpen(sock), false, 'nobody accepts on the socket after the bridge stopped');
  fs.rmSync(sock, { force: true });
  fs.rmSync(dir, { recursive: true, force: true });
});

test('through nginx and a unix socket: WebSocket and polling readers get every message in order', async () => {
  const a = await join('ux');
  const b = await join('ux');
  const c = await join('ux');
  const room = await createRoom(a.token, 'ux');
  const { socket: sa } = await connect(a.token, { url });
  const { socket: sb } = await connect(b.token, { url });
  const { socket: sc } = await connect(c.token, { url, ioOpts: { transports: ['polling'] } });
  for (const s of [sa, sb, sc]) await joinRoom(s, room.id);
  const cb = collect(sb, 'new_message');
  const cc = collect(sc, 'new_message');
  // Two senders (20 each, the default per-user rate), without waiting for
  // each ack: frames pile up per reader and go out together.
  const n = 40;
  const acks = [];
  for (let i = 0; i < n / 2; i++) {
    acks.push(sendWs(sa, room.id, `unix a ${i}`));
    acks.push(sendWs(sb, room.id, `unix b ${i}`));
  }
  const sent = await Promise.all(acks);
  const first = Math.min(...sent.map((m) => m.seq)) - 1;
  for (const col of [cb, cc]) {
    const items = await col.waitCount(n, 20_000);
    const seqs = items.filter((m) => m.room_id === room.id).map((m) => m.seq);
    assertSeqs(seqs, first, n, 'through the unix socket');
  }
});

test('the bridge replaced a stale socket file and made its socket 0660 (nginx in the group connects)', async () => {
  assert.equal(fs.statSync(sock).mode & 0o777, 0o660);
});

test('a polling handshake through nginx reaches the bridge on the socket (its session prefix)', async () => {
  const r = await fetch(`${url}/socket.io/?EIO=4&transport=polling`);
  const body = await r.text();
  assert.equal(r.status, 200);
  assert.match(body, /^0\{"sid":"x\d+_/);
});
