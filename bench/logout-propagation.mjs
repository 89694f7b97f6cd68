#!/usr/bin/env node
// logout-propagation.mjs -- how long until a logout is refused by every chat-fcgi worker.
//
// Usage: node bench/logout-propagation.mjs URL [TRIALS] [WIDE]
//
// Each trial signs a guest in, has every worker check its token (rounds of
// WIDE requests at once, more than the pool's workers), logs it out, then
// sends rounds of WIDE GET /api/rooms at once until a whole round is
// refused (401), and again until three rounds in a row are. It prints one
// JSON line: the milliseconds from the logout's answer to the first fully
// refused round (median, max) and the trials. Bounded: a trial gives up
// after 10 s (counted as failed).
const url = (process.argv[2] || 'http://127.0.0.1:18380').replace(/\/$/, '');
const trials = Number(process.argv[3] || 20);
const wide = Number(process.argv[4] || 16);

async function req(method, path, token, body) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body) headers['content-type'] = 'application/json';
  const r = await fetch(url + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await r.text();
  return { status: r.status, text };
}

const round = (token) => Promise.all(Array.from({ length: wide }, () => req('GET', '/api/rooms?limit=1', token)));

const ms = [];
let failed = 0;
for (let i = 0; i < trials; i++) {
  const name = `lp${process.pid}x${i}x${Date.now() % 100000}`;
  const j = await req('POST', '/api/join', null, { username: name });
  if (j.status !== 201) throw new Error(`join: ${j.status} ${j.text}`);
  const token = JSON.parse(j.text).data.token;
  for (let k = 0; k < 8; k++) {
    const rs = await round(token);
    if (!rs.every((r) => r.status === 200)) throw new Error(`warm-up: ${rs.map((r) => r.status)}`);
  }
  const out = await req('DELETE', '/api/session', token);
  if (out.status !== 200) throw new Error(`logout: ${out.status}`);
  const t0 = performance.now();
  let first = null;
  let inRow = 0;
  while (performance.now() - t0 < 10_000 && inRow < 3) {
    const rs = await round(token);
    if (rs.every((r) => r.status === 401)) {
      if (first === null) first = performance.now() - t0;
      inRow++;
    } else {
      if (first !== null) throw new Error('a refused token came back valid');
      inRow = 0;
    }
  }
  if (first === null) failed++;
  else ms.push(first);
}
ms.sort((a, b) => a - b);
const r2 = (x) => Math.round(x * 100) / 100;
console.log(JSON.stringify({
  scenario: 'logout-propagation', url, trials, wide, failed,
  median_ms: ms.length ? r2(ms[Math.floor(ms.length / 2)]) : null,
  max_ms: ms.length ? r2(ms[ms.length - 1]) : null,
  ms: ms.map(r2),
}));
