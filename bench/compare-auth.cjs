'use strict';
// compare-auth.cjs -- preload for the peers' load generator: adds this project's bearer token to its REST calls.
//
// Usage: CHAT_COMPARE_TOKEN=<token> node -r bench/compare-auth.cjs loadgen.js --url http://127.0.0.1:18480 ...
//
// The peers' REST API is open; this project's needs `Authorization: Bearer <token>` on every endpoint except
// POST /api/join and GET /api/health (docs/api.md). The load generator stays unchanged: this module wraps
// globalThis.fetch (which the load generator uses for all of its REST calls) and adds the header to every
// request that has none and is not POST /api/join, so POST /api/rooms and the like act as the user that
// bench/compare created. POST /api/join goes out as the load generator wrote it: each simulated user gets its
// own token from it, and the Socket.IO connections authenticate with those, not with this one.
//
// With CHAT_COMPARE_REST_URL (an origin, http://127.0.0.1:18480), every fetch() goes there instead of to the
// origin the load generator was given: the `chat-direct` target points --url (the Socket.IO connections) at
// chat-ws's own port, while the REST API is only served by nginx -> chat-fcgi.

const token = process.env.CHAT_COMPARE_TOKEN;
if (!token) {
  throw new Error('compare-auth.cjs: CHAT_COMPARE_TOKEN is not set');
}

const origFetch = globalThis.fetch;
if (typeof origFetch !== 'function') {
  throw new Error('compare-auth.cjs: this node has no global fetch');
}

const restBase = process.env.CHAT_COMPARE_REST_URL ? new URL(process.env.CHAT_COMPARE_REST_URL) : null;
if (restBase && (restBase.pathname !== '/' || restBase.search)) {
  throw new Error('compare-auth.cjs: CHAT_COMPARE_REST_URL must be an origin (scheme://host:port)');
}

function requestUrl(input) {
  if (typeof input === 'string') return new URL(input);
  if (input instanceof URL) return input;
  return new URL(input.url); // a Request
}

// rerouted(INPUT) -- INPUT with its origin replaced by CHAT_COMPARE_REST_URL's (a string, URL or Request).
function rerouted(input) {
  if (!restBase) return input;
  const u = new URL(requestUrl(input));
  u.protocol = restBase.protocol;
  u.host = restBase.host;
  if (typeof Request !== 'undefined' && input instanceof Request) return new Request(u, input);
  return u.href;
}

globalThis.fetch = function fetchWithBearer(input0, init) {
  const input = rerouted(input0);
  const isRequest = typeof Request !== 'undefined' && input instanceof Request;
  const method = String((init && init.method) || (isRequest ? input.method : 'GET')).toUpperCase();
  const path = requestUrl(input).pathname;
  const headers = new Headers((init && init.headers) || (isRequest ? input.headers : undefined));
  if (headers.has('authorization') || (method === 'POST' && path === '/api/join')) {
    return origFetch(input, init);
  }
  headers.set('authorization', `Bearer ${token}`);
  return origFetch(input, { ...(init || {}), headers });
};
