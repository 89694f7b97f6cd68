// api.js -- the REST API (docs/api.md) from the same origin.
//
// The session lives in the HttpOnly chat_token cookie that POST /api/join,
// /api/register and /api/login set: this code never sees the token. Every failure becomes an ApiError
// carrying the server's code and message, for the page to show.

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/**
 * Sends one request; returns the envelope's data, or throws ApiError.
 * body (optional) goes as JSON.
 */
export async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network_error', 'Cannot reach the server. Check the connection and try again.');
  }
  let json = null;
  try {
    json = await res.json();
  } catch {
    json = null;
  }
  if (json && json.success === true && res.ok) return json.data;
  if (json && json.success === false && json.error && typeof json.error.message === 'string') {
    let message = json.error.message;
    const retry = res.headers.get('Retry-After');
    if ((json.error.code === 'rate_limited' || json.error.code === 'server_busy') && /^\d+$/.test(retry || '') && !/\d+\s*s/.test(message)) {
      message = `${message.replace(/,? try again later$/, '')} (try again in ${waitText(Number(retry))})`;
    }
    throw new ApiError(res.status, json.error.code, message, json.error.field);
  }
  throw new ApiError(res.status, 'bad_response', `The server answered HTTP ${res.status} without an explanation.`);
}

/** Retry-After seconds as a person reads them: "40 s", "15 min". */
function waitText(seconds) {
  return seconds < 120 ? `${Math.max(1, seconds)} s` : `${Math.ceil(seconds / 60)} min`;
}

const enc = encodeURIComponent;

export const me = () => api('GET', '/api/me');
export const join = (username) => api('POST', '/api/join', { username });
export const register = (username, password) => api('POST', '/api/register', { username, password });
export const login = (username, password) => api('POST', '/api/login', { username, password });
export const changePassword = (current, next) =>
  api('POST', '/api/me/password', { current_password: current, new_password: next });
export const logout = () => api('DELETE', '/api/session');
export const rooms = (limit, offset) => api('GET', `/api/rooms?limit=${limit}&offset=${offset}`);
export const room = (roomId) => api('GET', `/api/rooms/${enc(roomId)}`);
/** visibility: 'public' or 'private'. */
export const createRoom = (name, description, visibility = 'public') => {
  const body = { room_name: name, visibility };
  if (description) body.description = description;
  return api('POST', '/api/rooms', body);
};
/** The owner or a moderator adds a member by name: {user}. */
export const addMember = (roomId, username) => api('POST', `/api/rooms/${enc(roomId)}/members`, { username });
/** Removes a member (ban: and bans them); also a member removing themself. */
export const removeMember = (roomId, userId, ban = false) =>
  api('DELETE', `/api/rooms/${enc(roomId)}/members/${enc(userId)}${ban ? '?ban=true' : ''}`);
/** Deletes a message (its author, the room's owner or moderators): {message: the tombstone, deleted}. */
export const deleteMessage = (roomId, id) => api('DELETE', `/api/messages/${enc(roomId)}/${Number(id)}`);
/** Edits one's own message (the socket's edit_message over REST): {message}. */
export const editMessage = (roomId, id, message) => api('PATCH', `/api/messages/${enc(roomId)}/${Number(id)}`, { message });
/** The room's messages edited or deleted after change number since, in their current state: {changes, change_seq, has_more}. */
export const changes = (roomId, since, limit = 100) =>
  api('GET', `/api/messages/${enc(roomId)}/changes?since=${Number(since)}&limit=${limit}`);
/** The owner makes a member 'moderator' or 'member'. */
export const setRole = (roomId, userId, role) => api('PATCH', `/api/rooms/${enc(roomId)}/members/${enc(userId)}`, { role });
/** The direct room with that user, made on first use: {room, created}. */
export const dm = (username) => api('POST', '/api/dm', { username });
export const messagesBefore = (roomId, before, limit = 50) =>
  api('GET', `/api/messages/${enc(roomId)}?limit=${limit}&before=${before}`);
export const messagesAfter = (roomId, after, limit = 200) =>
  api('GET', `/api/messages/${enc(roomId)}?limit=${limit}&after=${after}`);
/** Read receipts, furthest first: {reads: [{user_id, username, last_read_seq}], total, has_more}. */
export const reads = (roomId) => api('GET', `/api/rooms/${enc(roomId)}/reads`);
/** Full-text search of a room's live messages, newest first: {messages}. */
export const search = (roomId, q, limit = 20) =>
  api('GET', `/api/messages/${enc(roomId)}/search?q=${enc(q)}&limit=${limit}`);
/** One page of a room's members (1000 at most a page): {users, total, has_more}. */
export const users = (roomId, limit = 1000, offset = 0) =>
  api('GET', `/api/users/${enc(roomId)}?limit=${limit}&offset=${offset}`);
