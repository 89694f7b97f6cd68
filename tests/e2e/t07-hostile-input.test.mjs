// t07-hostile-input -- SQL metacharacters, bad UTF-8, control characters, wrong
// types, huge numbers and bodies, deep nesting, odd paths and raw HTTP.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  api, ok, fails, join, createRoom, send, history, uniqueName, show, BASE,
} from './lib.mjs';

let alice;
let room;

before(async () => {
  alice = await join('hostile');
  room = await createRoom(alice.token, 'hostile');
});

/** Asserts an answer of the JSON error envelope that is not a server error. */
function assertClientError(r, what) {
  assert.ok(r.status >= 400 && r.status < 500, `${what}: ${show(r)}`);
  assert.match(r.headers.get('content-type') || '', /^application\/json/, `${what}: ${show(r)}`);
  assert.equal(r.json?.success, false, `${what}: ${show(r)}`);
  assert.equal(typeof r.json.error?.code, 'string', `${what}: ${show(r)}`);
}

/** Bytes of a JSON text with raw (possibly invalid UTF-8) bytes spliced in. */
const bytes = (...parts) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

/**
 * Sends a raw HTTP/1.1 request (Connection: close) and returns
 * {status, headers (lower-case names), text, json}.
 */
function raw(request) {
  const { hostname, port } = new URL(BASE);
  return new Promise((resolve, reject) => {
    const chunks = [];
    // write, not end: nginx takes a half-closed connection for a client
    // that went away (499) and drops the request.
    const sock = net.connect({ host: hostname, port: Number(port) || 80 }, () => sock.write(request));
    sock.setTimeout(20_000, () => sock.destroy(new Error('raw request timed out')));
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', (e) => (chunks.length ? null : reject(e)));
    sock.on('close', () => {
      const all = Buffer.concat(chunks).toString('latin1');
      const sep = all.indexOf('\r\n\r\n');
      const head = sep < 0 ? all : all.slice(0, sep);
      let body = sep < 0 ? '' : all.slice(sep + 4);
      const lines = head.split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] || '');
      const headers = new Map();
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
      }
      if ((headers.get('transfer-encoding') || '').toLowerCase() === 'chunked') {
        let out = '';
        let rest = body;
        for (;;) {
          const j = rest.indexOf('\r\n');
          const n = parseInt(rest.slice(0, j), 16);
          if (!(n > 0)) break;
          out += rest.slice(j + 2, j + 2 + n);
          rest = rest.slice(j + 2 + n + 2);
        }
        body = out;
      }
      const text = Buffer.from(body, 'latin1').toString('utf8');
      let json;
      try { json = JSON.parse(text); } catch { json = undefined; }
      resolve({ status: m ? Number(m[1]) : 0, headers: { get: (k) => headers.get(k.toLowerCase()) ?? null }, text, json });
    });
  });
}

const host = () => new URL(BASE).host;

test('SQL metacharacters in a username are refused by the charset', async () => {
  for (const username of ["'; DROP TABLE messages; --", '" OR 1=1', '\\', "admin'--", "x' OR 'x'='x", 'a;b', '%27', '$1']) {
    fails(await api('POST', '/api/join', { body: { username } }), 400, 'validation_error', 'username');
  }
});

test('SQL metacharacters in room names and messages are stored and returned verbatim', async () => {
  const names = ["'; DROP TABLE messages; --", '" OR 1=1', '\\', "Robert'); DROP TABLE users;--", '$$ LANGUAGE sql $$', '%_\\%'];
  for (const base of names) {
    const room_name = `${base} ${uniqueName('')}`;
    const created = ok(await api('POST', '/api/rooms', { token: alice.token, body: { room_name, description: base } }), 201).room;
    assert.equal(created.name, room_name);
    assert.equal(created.description, base);
    const got = ok(await api('GET', `/api/rooms/${created.id}`, { token: alice.token })).room;
    assert.equal(got.name, room_name);
  }
  const sent = [];
  for (const message of names) sent.push(await send(alice.token, room.id, message));
  const page = await history(alice.token, room.id, `after=${sent[0].seq - 1}`);
  assert.deepEqual(page.messages.map((m) => m.content), names);
  // The tables are all still there.
  ok(await api('GET', '/api/rooms', { token: alice.token }));
  ok(await api('GET', '/api/me', { token: alice.token }));
  ok(await api('GET', '/api/users/general', { token: alice.token }));
  await join('stillthere');
});

test('invalid UTF-8 bytes in the raw JSON body are 400 invalid_json', async () => {
  const bad = [
    [0xc3, 0x28], // bad continuation
    [0xc0, 0xaf], // overlong '/'
    [0xe0, 0x80, 0xaf], // overlong
    [0xed, 0xa0, 0x80], // U+D800 encoded
    [0xf4, 0x90, 0x80, 0x80], // > U+10FFFF
    [0xff],
    [0x80],
    [0xe2, 0x82], // truncated
  ];
  for (const b of bad) {
    fails(await api('POST', '/api/join', { rawBody: bytes('{"username":"u', b, '"}') }), 400, 'invalid_json');
    fails(await api('POST', `/api/messages/${room.id}`, { token: alice.token, rawBody: bytes('{"message":"hi ', b, '"}') }), 400, 'invalid_json');
    fails(await api('POST', '/api/rooms', { token: alice.token, rawBody: bytes('{"room_name":"r', b, '"}') }), 400, 'invalid_json');
    fails(await api('POST', `/api/messages/${room.id}`, { token: alice.token, rawBody: bytes('{"message":"hi","x', b, '":1}') }), 400, 'invalid_json');
  }
  assert.equal((await history(alice.token, room.id, 'limit=200')).messages.some((m) => m.content.startsWith('hi ')), false);
});

test('control characters escaped in JSON are a validation error on message', async () => {
  for (const esc of ['\\u0001', '\\u0007', '\\u001b', '\\u007f', '\\u0080', '\\u009f', '\\r', '\\b', '\\f']) {
    const r = await api('POST', `/api/messages/${room.id}`, { token: alice.token, rawBody: `{"message":"a${esc}b"}` });
    assert.equal(r.status, 400, `${esc}: ${show(r)}`);
    fails(r, 400, 'validation_error', 'message');
  }
  // Newline and tab escapes are fine.
  const r = await api('POST', `/api/messages/${room.id}`, { token: alice.token, rawBody: '{"message":"a\\nb\\tc"}' });
  assert.equal(ok(r, 201).message.content, 'a\nb\tc');
});

test('"\\u0000" and lone surrogates are refused with 400', async () => {
  for (const esc of ['\\u0000', 'a\\u0000b', '\\ud800', 'a\\ud800b', '\\udc00', '\\udfff\\ud800', '\\ud83d']) {
    for (const [p, field, token] of [
      [`/api/messages/${room.id}`, 'message', alice.token],
      ['/api/join', 'username', undefined],
      ['/api/rooms', 'room_name', alice.token],
    ]) {
      const r = await api('POST', p, { token, rawBody: `{"${field}":"${esc}"}` });
      assert.equal(r.status, 400, `${p} ${esc}: ${show(r)}`);
      assert.equal(r.json?.success, false, show(r));
      assert.ok(['invalid_json', 'validation_error'].includes(r.json.error.code), show(r));
      if (r.json.error.code === 'validation_error') assert.equal(r.json.error.field, field, show(r));
    }
  }
  // A proper surrogate pair is a character like any other.
  const r = await api('POST', `/api/messages/${room.id}`, { token: alice.token, rawBody: '{"message":"\\ud83d\\ude00"}' });
  assert.equal(ok(r, 201).message.content, '\u{1F600}');
});

test('wrong JSON types are validation errors naming the field', async () => {
  for (const username of [123, -1, 1.5, [], ['a'], {}, { a: 1 }, true, false]) {
    fails(await api('POST', '/api/join', { body: { username } }), 400, 'validation_error', 'username');
  }
  for (const message of [5, 0, [], {}, true, false]) {
    fails(await api('POST', `/api/messages/${room.id}`, { token: alice.token, body: { message } }), 400, 'validation_error', 'message');
  }
  fails(await api('GET', `/api/messages/${room.id}?limit=abc`, { token: alice.token }), 400, 'validation_error', 'limit');
});

test('huge numbers in the query and the body', async () => {
  fails(await api('GET', `/api/messages/${room.id}?limit=1e309`, { token: alice.token }), 400, 'validation_error', 'limit');
  fails(await api('GET', `/api/messages/${room.id}?before=99999999999999999999`, { token: alice.token }), 400, 'validation_error', 'before');
  fails(await api('GET', `/api/messages/${room.id}?after=${'9'.repeat(1000)}`, { token: alice.token }), 400, 'validation_error', 'after');
  fails(await api('GET', `/api/rooms?offset=${'9'.repeat(5000)}`, { token: alice.token }), 400, 'validation_error', 'offset');
  for (const num of ['1e309', '-1e309', '99999999999999999999999999', '1' + '0'.repeat(400)]) {
    const r = await api('POST', `/api/messages/${room.id}`, { token: alice.token, rawBody: `{"message":${num}}` });
    assert.equal(r.status, 400, `${num}: ${show(r)}`);
    assert.ok(['invalid_json', 'validation_error'].includes(r.json?.error?.code), show(r));
  }
});

test('bodies above 64 KiB are 413 payload_too_large in the JSON envelope', async () => {
  const mb = JSON.stringify({ message: 'x'.repeat(1024 * 1024) });
  fails(await api('POST', `/api/messages/${room.id}`, { token: alice.token, rawBody: mb }), 413, 'payload_too_large');
  fails(await api('POST', '/api/join', { rawBody: JSON.stringify({ username: 'x', pad: 'y'.repeat(1024 * 1024) }) }), 413, 'payload_too_large');
  // 64 KiB + 1 byte is too large; exactly 64 KiB reaches the API (and the message is too long).
  const make = (size) => {
    const head = '{"message":"';
    const tail = '"}';
    return head + 'z'.repeat(size - head.length - tail.length) + tail;
  };
  fails(await api('POST', `/api/messages/${room.id}`, { token: alice.token, rawBody: make(65537) }), 413, 'payload_too_large');
  fails(await api('POST', `/api/messages/${room.id}`, { token: alice.token, rawBody: make(65536) }), 400, 'validation_error', 'message');
  // A large body of valid size with a short message is fine (unknown fields ignored).
  const padded = JSON.stringify({ message: 'padded', pad: 'p'.repeat(60000) });
  assert.equal(ok(await api('POST', `/api/messages/${room.id}`, { token: alice.token, rawBody: padded }), 201).message.content, 'padded');
});

test('deeply nested JSON is 400, not a crash', async () => {
  const deep = '['.repeat(60000);
  fails(await api('POST', '/api/join', { rawBody: deep }), 400, 'invalid_json');
  const deepObj = '{"a":'.repeat(8000) + '1' + '}'.repeat(8000);
  fails(await api('POST', `/api/messages/${room.id}`, { token: alice.token, rawBody: deepObj }), 400, 'invalid_json');
  const deepArr = `{"message":${'['.repeat(30000)}${']'.repeat(30000)}}`;
  const r = await api('POST', `/api/messages/${room.id}`, { token: alice.token, rawBody: deepArr });
  assert.equal(r.status, 400, show(r));
  assert.ok(['invalid_json', 'validation_error'].includes(r.json?.error?.code), show(r));
  // 100000 '[' is also above the body limit.
  const huge = await api('POST', '/api/join', { rawBody: '['.repeat(100000) });
  assert.ok([400, 413].includes(huge.status), show(huge));
  assertClientError(huge, 'nested 100000');
  ok(await api('GET', '/api/health'));
});

test('empty and non-object bodies are 400 invalid_json', async () => {
  for (const rawBody of ['', ' ', '\n', 'null', '[]', '[{"username":"x"}]', '"x"', '0', 'false']) {
    fails(await api('POST', '/api/join', { rawBody }), 400, 'invalid_json');
    fails(await api('POST', `/api/messages/${room.id}`, { token: alice.token, rawBody }), 400, 'invalid_json');
  }
});

test('Content-Type other than application/json is 415', async () => {
  const body = JSON.stringify({ username: uniqueName('ct') });
  for (const ct of ['text/plain', 'text/json', 'application/jsonp', 'application/json-patch+json', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', '']) {
    const r = await api('POST', '/api/join', { rawBody: body, headers: { 'content-type': ct } });
    assert.equal(r.status, 415, `${ct}: ${show(r)}`);
    fails(r, 415, 'unsupported_media_type');
  }
  fails(await api('POST', `/api/messages/${room.id}`, { token: alice.token, rawBody: '{"message":"x"}', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
});

test('path traversal and odd room ids are 404', async () => {
  for (const p of [
    '/api/rooms/..%2f..%2fetc',
    '/api/rooms/..%2F..%2Fetc%2Fpasswd',
    '/api/rooms/%27%3B',
    '/api/rooms/%27%20OR%201%3D1',
    '/api/rooms/%ff',
    '/api/rooms/%C3%A9',
    '/api/rooms/general%20',
    '/api/rooms/general%2f',
    '/api/messages/..%2fgeneral',
    '/api/users/%2e%2e',
    '/api/rooms/.',
    '/api/rooms/%2e',
  ]) {
    const r = await api('GET', p, { token: alice.token });
    assert.equal(r.status, 404, `${p}: ${show(r)}`);
    fails(r, 404, 'not_found');
  }
  const r = await api('POST', '/api/messages/..%2f..%2fgeneral', { token: alice.token, body: { message: 'x' } });
  assert.equal(r.status, 404, show(r));
});

test('a NUL byte in the path or the query is refused without a server error', async () => {
  const r = await api('GET', '/api/rooms/gen%00eral', { token: alice.token });
  assert.ok([400, 404].includes(r.status), show(r));
  assertClientError(r, 'NUL in path');
  fails(await api('GET', `/api/messages/${room.id}?limit=1%00`, { token: alice.token }), 400, 'validation_error', 'limit');
});

test('a very long URL is answered in JSON, never with a server error', async () => {
  const long = await api('GET', `/api/rooms/${'a'.repeat(20000)}`, { token: alice.token });
  assert.ok([404, 414].includes(long.status), show(long));
  assertClientError(long, 'long URL');
  const medium = await api('GET', `/api/rooms/${'a'.repeat(3000)}`, { token: alice.token });
  fails(medium, 404, 'not_found');
  const q = await api('GET', `/api/messages/${room.id}?x=${'y'.repeat(6000)}&limit=2`, { token: alice.token });
  assert.equal(ok(q).messages.length, 2);
  const manyParams = await api('GET', `/api/messages/${room.id}?${'a=1&'.repeat(1500)}limit=3`, { token: alice.token });
  assert.equal(ok(manyParams).messages.length, 3);
});

test('huge or odd headers are answered in JSON without a server error', async () => {
  const r = await api('GET', '/api/me', { headers: { authorization: `Bearer ${'a'.repeat(20000)}` } });
  assertClientError(r, 'huge Authorization');
  const r2 = await api('GET', '/api/me', { headers: { cookie: `chat_token=${alice.token}; ${'x=y; '.repeat(500)}` } });
  assert.ok(r2.status === 200 || (r2.status >= 400 && r2.status < 500), show(r2));
  const r3 = await api('GET', '/api/me', { headers: { authorization: `Bearer ${alice.token}`, cookie: 'chat_token=garbage' } });
  assert.equal(ok(r3).user.id, alice.user.id, 'the Authorization header wins over the cookie');
});

test('raw HTTP: chunked bodies, bad Content-Length, lying lengths', async () => {
  const username = uniqueName('chunk');
  const json = JSON.stringify({ username });
  const chunked = await raw(
    `POST /api/join HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`
    + `${json.length.toString(16)}\r\n${json}\r\n0\r\n\r\n`,
  );
  assert.equal(chunked.status, 201, show(chunked));
  assert.equal(chunked.json.data.user.username, username);

  const big = 'x'.repeat(70000);
  const bigJson = JSON.stringify({ username: uniqueName('chunkbig'), pad: big });
  const chunkedBig = await raw(
    `POST /api/join HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`
    + `${bigJson.length.toString(16)}\r\n${bigJson}\r\n0\r\n\r\n`,
  );
  assert.equal(chunkedBig.status, 413, show(chunkedBig));
  assert.equal(chunkedBig.json?.error?.code, 'payload_too_large', show(chunkedBig));

  for (const cl of ['-1', 'abc', '1, 2']) {
    const r = await raw(`POST /api/join HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: application/json\r\nContent-Length: ${cl}\r\nConnection: close\r\n\r\n{}`);
    assert.ok(r.status >= 400 && r.status < 500, `Content-Length ${cl}: ${show(r)}`);
  }
  // A declared length above the limit is refused before the body is read.
  const r = await raw(`POST /api/join HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\nConnection: close\r\n\r\n{}`);
  assert.equal(r.status, 413, show(r));
  assert.equal(r.json?.error?.code, 'payload_too_large', show(r));
  // The service is still fine.
  ok(await api('GET', '/api/health'));
});

test('duplicate keys and other JSON oddities never cause a server error', async () => {
  for (const rawBody of [
    `{"username":"${uniqueName('d1')}","username":"${uniqueName('d2')}"}`,
    `\ufeff{"username":"${uniqueName('bom')}"}`,
    `{"username":"${uniqueName('ws')}"}\n\n  `,
    `  \t{"username":"${uniqueName('ws2')}"}`,
    `{"username":"${uniqueName('nul')}"}\u0000`,
    '{"username":"x"}{"username":"y"}',
    '{"username":"x"',
    '{"username":"x\\q"}',
    '{"username":"x\\u12"}',
    '{"username":\'x\'}',
    '{username:"x"}',
    'NaN',
    '{"a":NaN}',
    '{"a":Infinity}',
    '{"a":-}',
    '{"a":01}',
  ]) {
    const r = await api('POST', '/api/join', { rawBody });
    assert.ok(r.status === 201 || r.status === 400, `${JSON.stringify(rawBody)}: ${show(r)}`);
    if (r.status === 400) assert.ok(['invalid_json', 'validation_error'].includes(r.json?.error?.code), show(r));
  }
  ok(await api('GET', '/api/health'));
});
