// app.js -- the chat's browser client: views, routing, the Socket.IO connection.
//
// Views: join (pick a name), home (#/: rooms, create one), room
// (#/room/<id>: history, live messages, people, typing, send box).
// REST (api.js) for the session, rooms, history paging and the member list;
// the Socket.IO bridge for everything live (docs/protocol.md), with the
// session cookie that POST /api/join set. On a reconnect the room is joined
// again with since_seq = the last seq shown, so nothing missed is lost, and
// unacknowledged messages are sent again with the same client_id.
//
// Data from the server is only ever put into the page as text (dom.js).

import * as api from './api.js';
import { $, h, clear, avatar, hue, timeEl, ago, plural, newId, toast } from './dom.js';

const PAGE = 50;
const TYPING_REFRESH_MS = 2000; // resend is_typing:true while typing (server expires it after 5 s)
const TYPING_IDLE_MS = 3000; // is_typing:false after this long without a keystroke
const TYPING_SHOW_MS = 6500; // forget someone's typing if nothing refreshes it
const ACK_TIMEOUT_MS = 10000;
const SEND_TRIES = 10; // runs of one message while the database is away
const GROUP_MS = 5 * 60 * 1000;

const state = {
  me: null, // User
  memberOf: new Set(), // room ids the user is a member of
  socket: null,
  conn: 'idle', // idle | connecting | online | reconnecting | offline
  everOnline: false,
  view: 'loading',
  rooms: new Map(), // home list: id -> Room, in creation order
  roomsTotal: 0,
  freshRooms: new Set(),
  room: null, // the open room (see newRoom)
  outbox: new Map(), // client_id -> pending message
  typing: { active: false, lastSent: 0, idleTimer: 0, roomId: null },
};

// ---------------------------------------------------------------- views and routing

const VIEWS = ['join', 'home', 'room', 'loading'];

function show(view) {
  if (state.view === 'room' && view !== 'room') closeRoom();
  state.view = view;
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== view;
  document.body.dataset.view = view;
  if (view !== 'room') document.title = 'Chat';
}

function parseHash() {
  const m = /^#\/room\/(.+)$/.exec(location.hash);
  if (!m) return { home: true };
  try {
    return { room: decodeURIComponent(m[1]) };
  } catch {
    return { home: true };
  }
}

function route() {
  if (!state.me) {
    show('join');
    return;
  }
  const r = parseHash();
  if (r.room) openRoom(r.room);
  else openHome();
}

// ---------------------------------------------------------------- session

async function boot() {
  bindUi();
  window.addEventListener('hashchange', route);
  let data;
  try {
    data = await api.me();
  } catch (e) {
    if (e.status !== 401) toast(e.message);
    show('join');
    $('join-name').focus();
    return;
  }
  signedIn(data.user, data.rooms);
}

/** rooms: the user's memberships, or null to ask GET /api/me for them. */
function signedIn(user, rooms) {
  state.me = user;
  state.memberOf = new Set((rooms || []).map((r) => r.id));
  if (rooms === null) {
    api.me().then(
      (d) => {
        for (const r of d.rooms) state.memberOf.add(r.id);
        if (state.view === 'home') renderRooms();
      },
      (e) => apiFailed(e, 'Could not load your rooms'),
    );
  }
  $('me').hidden = false;
  $('me-name').textContent = user.username;
  $('me-avatar').replaceWith(Object.assign(avatar(user.username, 'small'), { id: 'me-avatar' }));
  connect();
  route();
}

/** The session is gone (revoked, expired): back to the join view. */
function sessionEnded(message = 'Your session has ended. Join again to continue.', kind = 'error') {
  if (!state.me) return;
  state.me = null;
  const s = state.socket;
  state.socket = null;
  if (s) {
    s.removeAllListeners();
    s.disconnect();
  }
  state.outbox.clear();
  state.everOnline = false;
  setConn('idle');
  $('me').hidden = true;
  toast(message, kind);
  show('join');
}

/** Shows an API error; a 401 ends the session. */
function apiFailed(e, what) {
  if (e && e.status === 401) {
    sessionEnded();
    return;
  }
  toast(what ? `${what}: ${e.message}` : e.message);
}

async function onJoinSubmit(ev) {
  ev.preventDefault();
  const input = $('join-name');
  const err = $('join-error');
  const name = input.value.trim();
  err.hidden = true;
  if (!name) {
    err.textContent = 'Type a name first.';
    err.hidden = false;
    input.focus();
    return;
  }
  const btn = $('join-submit');
  btn.disabled = true;
  btn.textContent = 'Joining…';
  try {
    const data = await api.join(name);
    input.value = '';
    // join's rooms are the first rooms of all, not the memberships.
    signedIn(data.user, null);
  } catch (e) {
    err.textContent = e.message;
    err.hidden = false;
    input.focus();
    input.select();
  } finally {
    btn.disabled = false;
    btn.textContent = 'Join chat';
  }
}

async function onLogout() {
  try {
    await api.logout();
  } catch (e) {
    if (e.status !== 401) {
      toast(`Signing out failed: ${e.message}`);
      return;
    }
  }
  sessionEnded('You signed out.', 'info');
}

// ---------------------------------------------------------------- the connection

const CONN_TEXT = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  online: 'Connected',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
};

function setConn(s, text) {
  state.conn = s;
  $('conn').dataset.state = s;
  $('conn-text').textContent = text || CONN_TEXT[s];
  const banner = $('conn-banner');
  if (s === 'online' || s === 'idle') {
    banner.hidden = true;
  } else {
    banner.textContent =
      s === 'connecting'
        ? 'Connecting to the live chat…'
        : s === 'offline'
          ? 'Live updates are unavailable. Messages you write wait here until the connection is back.'
          : 'Connection lost. Reconnecting… messages you write are sent when it is back.';
    banner.hidden = false;
  }
  if (state.room) renderPending();
}

async function connect() {
  if (state.socket) {
    if (!state.socket.connected && !state.socket.active) state.socket.connect();
    return;
  }
  setConn('connecting');
  let io;
  try {
    ({ io } = await import('../vendor/socket.io.esm.min.js'));
  } catch {
    setConn('offline', 'No live updates');
    toast('The real-time client (vendor/socket.io.esm.min.js) did not load: run web/build.sh on the server. Live updates are off.');
    return;
  }
  if (state.socket || !state.me) return;
  // Same origin: the HttpOnly chat_token cookie goes with every request.
  // Default transports: long-polling first, then the upgrade to WebSocket,
  // so the client also works behind proxies that block the Upgrade header.
  const s = io({
    reconnectionDelay: 500,
    reconnectionDelayMax: 3000,
    timeout: 8000,
  });
  state.socket = s;

  s.on('connect', () => {
    const again = state.everOnline;
    state.everOnline = true;
    setConn('online');
    if (state.room) joinRoom(state.room);
    else flushOutbox();
    if (again && state.view === 'home') loadRooms();
  });
  s.on('disconnect', (reason) => {
    if (state.socket !== s) return;
    setConn('reconnecting');
    // Acks of the dead connection will not come: send again after the reconnect.
    for (const entry of state.outbox.values()) {
      entry.inflight = false;
      entry.attempt += 1;
    }
    resetOwnTyping();
    if (state.room) clearTyping(state.room);
    // The server closed the socket: socket.io does not come back by itself.
    if (reason === 'io server disconnect') {
      setTimeout(() => {
        if (state.socket === s && !s.connected) s.connect();
      }, 1000);
    }
  });
  s.on('connect_error', (err) => {
    if (state.socket !== s) return;
    const code = err && err.data && err.data.code;
    if (code === 'unauthorized' || (err && err.message === 'unauthorized')) {
      // The session may be gone: ask REST, which tells for sure.
      api.me().then(
        () => setTimeout(() => state.socket === s && !s.connected && s.connect(), 3000),
        (e) => (e.status === 401 ? sessionEnded() : setTimeout(() => state.socket === s && s.connect(), 3000)),
      );
      return;
    }
    setConn('reconnecting');
    if (!s.active) {
      // Refused by the server (not a network error): no automatic retry.
      if (err && err.message) toast(`Live connection refused: ${err.data?.message || err.message}`);
      setTimeout(() => state.socket === s && !s.connected && s.connect(), 3000);
    }
  });

  s.on('connected', ({ rooms }) => {
    if (Array.isArray(rooms)) for (const r of rooms) state.memberOf.add(r.id);
  });
  s.on('new_message', onNewMessage);
  s.on('typing', onTyping);
  s.on('user_status', onUserStatus);
  s.on('user_joined', (ev) => onMembership(ev, true));
  s.on('user_left', (ev) => onMembership(ev, false));
  s.on('room_created', onRoomCreated);
  s.on('error', (e) => {
    if (e && e.message) toast(e.message);
  });
}

// ---------------------------------------------------------------- home

function openHome() {
  show('home');
  loadRooms();
}

async function loadRooms() {
  try {
    const d = await api.rooms(100, 0);
    state.rooms = new Map(d.rooms.map((r) => [r.id, r]));
    state.roomsTotal = d.total;
    renderRooms();
  } catch (e) {
    apiFailed(e, 'Could not load the rooms');
  }
}

async function loadMoreRooms() {
  const btn = $('rooms-more');
  btn.disabled = true;
  try {
    const d = await api.rooms(100, state.rooms.size);
    for (const r of d.rooms) state.rooms.set(r.id, r);
    state.roomsTotal = d.total;
    renderRooms();
  } catch (e) {
    apiFailed(e, 'Could not load more rooms');
  } finally {
    btn.disabled = false;
  }
}

function renderRooms() {
  const list = $('room-list');
  clear(list);
  for (const room of state.rooms.values()) list.appendChild(roomItem(room));
  $('rooms-empty').hidden = state.rooms.size > 0;
  $('rooms-total').textContent = plural(state.roomsTotal, 'room');
  $('rooms-more').hidden = state.rooms.size >= state.roomsTotal;
}

function roomItem(room) {
  const member = state.memberOf.has(room.id);
  const first = Array.from(room.name)[0] || '#';
  const li = h(
    'li',
    { dataset: { roomId: room.id } },
    h(
      'a',
      {
        className: `room-item${state.freshRooms.has(room.id) ? ' fresh' : ''}`,
        href: `#/room/${encodeURIComponent(room.id)}`,
      },
      h('span', { className: 'room-icon', 'aria-hidden': 'true', style: { '--hue': hue(room.name) } }, first),
      h(
        'span',
        { className: 'room-text' },
        h('span', { className: 'room-item-name' }, h('span', { className: 'room-name-text' }, room.name), member ? h('span', { className: 'pill member-badge' }, 'joined') : null),
        h('span', { className: 'room-item-desc' }, room.description || 'No description'),
      ),
      h(
        'span',
        { className: 'room-counts' },
        h('span', { className: 'members' }, plural(room.member_count, 'member')),
        h('span', { className: 'online' }, `${room.online_count} online`),
      ),
    ),
  );
  return li;
}

function onRoomCreated({ room } = {}) {
  if (!room || !room.id) return;
  if (!state.rooms.has(room.id)) {
    state.rooms.set(room.id, room);
    state.roomsTotal += 1;
    state.freshRooms.add(room.id);
    setTimeout(() => state.freshRooms.delete(room.id), 2000);
  }
  if (state.view === 'home') renderRooms();
}

async function onCreateSubmit(ev) {
  ev.preventDefault();
  const name = $('create-name').value.trim();
  const desc = $('create-desc').value.trim();
  const err = $('create-error');
  err.hidden = true;
  if (!name) {
    err.textContent = 'Give the room a name.';
    err.hidden = false;
    $('create-name').focus();
    return;
  }
  const btn = $('create-submit');
  btn.disabled = true;
  try {
    const { room } = await api.createRoom(name, desc);
    $('create-name').value = '';
    $('create-desc').value = '';
    state.memberOf.add(room.id);
    if (!state.rooms.has(room.id)) {
      state.rooms.set(room.id, room);
      state.roomsTotal += 1;
    }
    location.hash = `#/room/${encodeURIComponent(room.id)}`;
  } catch (e) {
    if (e.status === 401) {
      apiFailed(e);
      return;
    }
    err.textContent = e.message;
    err.hidden = false;
    $('create-name').focus();
  } finally {
    btn.disabled = false;
  }
}

// ---------------------------------------------------------------- the room

function newRoom(id) {
  return {
    id,
    info: null, // Room
    loaded: false, // history shown: reconnects pass since_seq
    joined: false,
    msgs: new Map(), // seq -> Message
    firstSeq: 0,
    lastSeq: 0,
    hasOlder: false,
    members: new Map(), // user id -> User
    typing: new Map(), // user id -> {username, timer}
    joinToken: null,
    filling: false,
  };
}

function openRoom(id) {
  if (state.room && state.room.id === id && state.view === 'room') return;
  closeRoom();
  show('room');
  const r = newRoom(id);
  state.room = r;
  clear($('msg-list'));
  clear($('people-list'));
  $('typing').textContent = '';
  $('room-name').textContent = state.rooms.get(id)?.name || id;
  $('room-sub').textContent = '';
  $('people-count').textContent = '0';
  $('load-older').hidden = true;
  $('history-start').hidden = true;
  $('jump').hidden = true;
  setPeopleOpen(false);
  renderPending();
  document.title = `${$('room-name').textContent} · Chat`;
  if (state.socket && state.socket.connected) {
    joinRoom(r);
  } else {
    // Not live yet: show what REST has; the join after connecting passes since_seq.
    loadRoomOverRest(r);
  }
  $('msg-input').focus({ preventScroll: true });
}

function closeRoom() {
  const r = state.room;
  if (!r) return;
  resetOwnTyping();
  clearTyping(r);
  state.room = null;
}

async function loadRoomOverRest(r) {
  try {
    const [{ room }, page] = await Promise.all([
      api.api('GET', `/api/rooms/${encodeURIComponent(r.id)}`),
      api.api('GET', `/api/messages/${encodeURIComponent(r.id)}?limit=${PAGE}`),
    ]);
    if (state.room !== r || r.loaded) return;
    setRoomInfo(r, room);
    addMessages(r, page.messages);
    r.loaded = true;
    r.hasOlder = page.has_more;
    updateOlder(r);
    scrollToBottom();
    loadPeople(r);
  } catch (e) {
    if (state.room !== r) return;
    if (e.code === 'not_found') roomMissing(r);
    else apiFailed(e, 'Could not load the room');
  }
}

async function joinRoom(r) {
  const s = state.socket;
  if (!s || !s.connected) return;
  const payload = { room_id: r.id };
  if (r.loaded) payload.since_seq = r.lastSeq;
  const token = {};
  r.joinToken = token;
  let ack;
  try {
    ack = await s.timeout(ACK_TIMEOUT_MS).emitWithAck('join_room', payload);
  } catch {
    if (state.room === r && r.joinToken === token && s.connected) {
      toast('The server did not answer joining the room; trying again.');
      setTimeout(() => state.room === r && r.joinToken === token && joinRoom(r), 1500);
    }
    return;
  }
  if (state.room !== r || r.joinToken !== token) return;
  r.joinToken = null;
  if (!ack || !ack.ok) {
    const e = ack && ack.error;
    if (e && e.code === 'not_found') roomMissing(r);
    else if (e && e.code === 'unauthorized') sessionEnded();
    else toast(`Could not join the room: ${(e && e.message) || 'no answer'}`);
    return;
  }
  r.joined = true;
  state.memberOf.add(r.id);
  setRoomInfo(r, ack.room);
  const recovering = payload.since_seq !== undefined;
  if (recovering && ack.recovered === false) {
    // Too much was missed to replay: start over from the newest page.
    resetMessages(r);
    toast('You missed many messages while offline; showing the newest. Load older ones to read the rest.', 'info');
  }
  const stick = !r.loaded || nearBottom();
  addMessages(r, ack.messages || []);
  if (!r.loaded || (recovering && ack.recovered === false)) r.hasOlder = r.firstSeq > 1;
  r.loaded = true;
  updateOlder(r);
  if (stick) scrollToBottom();
  loadPeople(r);
  flushOutbox();
}

function roomMissing(r) {
  toast('That room does not exist (any more).');
  if (state.room === r) location.hash = '#/';
}

function setRoomInfo(r, room) {
  if (!room) return;
  r.info = { ...room };
  if (state.rooms.has(room.id)) state.rooms.set(room.id, { ...state.rooms.get(room.id), ...room });
  $('room-name').textContent = room.name;
  document.title = `${room.name} · Chat`;
  renderRoomSub(r);
}

function renderRoomSub(r) {
  if (!r.info) return;
  const online = r.members.size ? [...r.members.values()].filter((u) => u.online).length : r.info.online_count;
  const parts = [plural(r.info.member_count, 'member'), `${online} online`];
  if (r.info.description) parts.unshift(r.info.description);
  $('room-sub').textContent = parts.join(' · ');
}

function resetMessages(r) {
  r.msgs.clear();
  r.firstSeq = 0;
  r.lastSeq = 0;
  clear($('msg-list'));
}

/** Adds messages of the open room in seq order, each once. */
function addMessages(r, list) {
  if (state.room !== r || !Array.isArray(list) || list.length === 0) return;
  const ul = $('msg-list');
  const fresh = list.filter((m) => m && m.room_id === r.id && Number.isInteger(m.seq) && !r.msgs.has(m.seq));
  fresh.sort((a, b) => a.seq - b.seq);
  for (const m of fresh) settleOwn(m);
  if (fresh.length === 0) return;
  if (r.firstSeq && fresh[fresh.length - 1].seq < r.firstSeq) {
    // An older page: in front of everything.
    const frag = document.createDocumentFragment();
    for (const m of fresh) {
      r.msgs.set(m.seq, m);
      frag.appendChild(messageItem(m));
    }
    ul.insertBefore(frag, ul.firstChild);
  } else {
    for (const m of fresh) {
      r.msgs.set(m.seq, m);
      const li = messageItem(m);
      if (m.seq > r.lastSeq) {
        ul.appendChild(li);
      } else {
        let before = null;
        for (const el of ul.children) {
          if (el.dataset.seq && Number(el.dataset.seq) > m.seq) {
            before = el;
            break;
          }
        }
        ul.insertBefore(li, before);
      }
      if (r.firstSeq === 0 || m.seq < r.firstSeq) r.firstSeq = m.seq;
      if (m.seq > r.lastSeq) r.lastSeq = m.seq;
    }
  }
  r.firstSeq = Math.min(r.firstSeq || Infinity, fresh[0].seq);
  r.lastSeq = Math.max(r.lastSeq, fresh[fresh.length - 1].seq);
  regroup(ul);
}

function isMine(m) {
  return Boolean(state.me) && m.user_id === state.me.id;
}

function messageItem(m) {
  const mine = isMine(m);
  return h(
    'li',
    {
      className: `msg${mine ? ' mine' : ''}`,
      dataset: { seq: m.seq, id: m.id, user: m.user_id, clientId: m.client_id ?? undefined, ts: m.timestamp },
    },
    avatar(m.username),
    h(
      'div',
      { className: 'body' },
      h('div', { className: 'meta' }, h('span', { className: 'author', style: { '--hue': hue(m.username) } }, m.username), timeEl(m.timestamp)),
      h('div', { className: 'bubble' }, h('p', { className: 'msg-text' }, m.content)),
    ),
  );
}

/** Consecutive messages of one author within five minutes share one header. */
function regroup(ul) {
  let prev = null;
  for (const el of ul.children) {
    const isMsg = el.classList.contains('msg');
    if (isMsg) {
      const cont =
        prev !== null &&
        prev.dataset.user === el.dataset.user &&
        Math.abs(Date.parse(el.dataset.ts) - Date.parse(prev.dataset.ts)) < GROUP_MS;
      el.classList.toggle('cont', cont);
    }
    prev = isMsg ? el : null;
  }
}

function notice(r, text) {
  if (state.room !== r) return;
  const stick = nearBottom();
  $('msg-list').appendChild(h('li', { className: 'notice' }, h('span', {}, text)));
  if (stick) scrollToBottom();
}

function updateOlder(r) {
  const btn = $('load-older');
  btn.hidden = !r.hasOlder;
  btn.disabled = false;
  btn.textContent = 'Load older messages';
  $('history-start').hidden = r.hasOlder || !r.loaded;
}

async function loadOlder() {
  const r = state.room;
  if (!r || !r.hasOlder || !r.firstSeq) return;
  const btn = $('load-older');
  btn.disabled = true;
  btn.textContent = 'Loading…';
  try {
    const page = await api.messagesBefore(r.id, r.firstSeq, PAGE);
    if (state.room !== r) return;
    const sc = $('scroller');
    const prevHeight = sc.scrollHeight;
    const prevTop = sc.scrollTop;
    addMessages(r, page.messages);
    sc.scrollTop = prevTop + (sc.scrollHeight - prevHeight);
    r.hasOlder = page.has_more;
  } catch (e) {
    apiFailed(e, 'Could not load older messages');
  } finally {
    if (state.room === r) updateOlder(r);
  }
}

/** Missed sequence numbers (never expected from the bridge) are read over REST. */
async function fillGap(r) {
  if (r.filling) return;
  r.filling = true;
  try {
    for (let i = 0; i < 20; i++) {
      const page = await api.messagesAfter(r.id, r.lastSeq);
      if (state.room !== r) return;
      const stick = nearBottom();
      addMessages(r, page.messages);
      if (stick) scrollToBottom();
      if (!page.has_more) break;
    }
  } catch (e) {
    apiFailed(e, 'Could not load missed messages');
  } finally {
    r.filling = false;
  }
}

function onNewMessage(m) {
  if (!m || typeof m !== 'object') return;
  const r = state.room;
  if (!r || m.room_id !== r.id) {
    settleOwn(m);
    return;
  }
  if (r.typing.has(m.user_id)) {
    clearTimeout(r.typing.get(m.user_id).timer);
    r.typing.delete(m.user_id);
    renderTyping(r);
  }
  if (r.loaded && m.seq > r.lastSeq + 1) {
    fillGap(r);
    return;
  }
  const stick = nearBottom();
  const hadIt = r.msgs.has(m.seq);
  addMessages(r, [m]);
  if (hadIt) return;
  if (stick || isMine(m)) scrollToBottom();
  else $('jump').hidden = false;
}

// ---------------------------------------------------------------- sending

function onComposerSubmit(ev) {
  ev.preventDefault();
  const input = $('msg-input');
  const text = input.value;
  if (!text.trim() || !state.room) return;
  input.value = '';
  autosize();
  resetOwnTyping();
  const entry = {
    client_id: newId(),
    room_id: state.room.id,
    text,
    status: 'pending', // pending | failed
    error: null,
    inflight: false,
    attempt: 0,
    timestamp: new Date().toISOString(),
    el: null,
  };
  state.outbox.set(entry.client_id, entry);
  renderPending();
  scrollToBottom();
  trySend(entry);
}

async function trySend(entry) {
  const s = state.socket;
  if (!s || !s.connected || entry.inflight || entry.status !== 'pending') return;
  entry.inflight = true;
  const attempt = ++entry.attempt;
  let ack;
  try {
    ack = await s
      .timeout(ACK_TIMEOUT_MS)
      .emitWithAck('send_message', { room_id: entry.room_id, message: entry.text, client_id: entry.client_id });
  } catch {
    // No ack in time, or the connection dropped: the same client_id goes
    // again (now, or after the reconnect), and the server stores it once.
    if (entry.attempt !== attempt) return;
    entry.inflight = false;
    if (state.outbox.get(entry.client_id) === entry && s.connected) setTimeout(() => trySend(entry), 1000);
    return;
  }
  if (entry.attempt !== attempt) return;
  entry.inflight = false;
  if (state.outbox.get(entry.client_id) !== entry) return; // new_message came first
  if (ack && ack.ok && ack.message) {
    settleOwn(ack.message);
    if (state.room && state.room.id === ack.message.room_id) {
      const stick = nearBottom();
      addMessages(state.room, [ack.message]);
      if (stick) scrollToBottom();
    }
    return;
  }
  const e = (ack && ack.error) || { message: 'no answer from the server' };
  if (e.code === 'unauthorized') {
    sessionEnded();
    return;
  }
  // The database is away, or the connection to it broke after the message
  // went out (outcome_unknown: it may be stored): the same client_id goes
  // again, and the server stores it once.
  if ((e.code === 'outcome_unknown' || e.code === 'db_unavailable') && entry.attempt < SEND_TRIES) {
    setTimeout(() => trySend(entry), 2000);
    return;
  }
  entry.status = 'failed';
  entry.error = e.message;
  renderPendingEntry(entry);
  toast(`Message not sent: ${e.message}`);
}

/** A message of ours came back (ack, new_message or recovery): no longer pending. */
function settleOwn(m) {
  if (!m || !m.client_id || !isMine(m)) return;
  const entry = state.outbox.get(m.client_id);
  if (!entry) return;
  state.outbox.delete(m.client_id);
  if (entry.el) entry.el.remove();
}

function flushOutbox() {
  for (const entry of state.outbox.values()) trySend(entry);
}

function renderPending() {
  const ul = $('pending-list');
  clear(ul);
  const r = state.room;
  if (!r) return;
  for (const entry of state.outbox.values()) {
    if (entry.room_id !== r.id) continue;
    entry.el = null;
    renderPendingEntry(entry);
  }
}

function renderPendingEntry(entry) {
  const r = state.room;
  if (!r || entry.room_id !== r.id) return;
  const status =
    entry.status === 'failed'
      ? h(
          'div',
          { className: 'status' },
          h('span', { className: 'status-text' }, `Not sent: ${entry.error}`),
          h('button', { type: 'button', className: 'linkish', on: { click: () => retry(entry) } }, 'Retry'),
          h('button', { type: 'button', className: 'linkish', on: { click: () => discard(entry) } }, 'Discard'),
        )
      : h('div', { className: 'status' }, h('span', { className: 'status-text' }, state.conn === 'online' ? 'Sending…' : 'Waiting for the connection…'));
  const li = h(
    'li',
    {
      className: `msg mine pending${entry.status === 'failed' ? ' failed' : ''}`,
      dataset: { clientId: entry.client_id, status: entry.status },
    },
    h('div', { className: 'body' }, h('div', { className: 'bubble' }, h('p', { className: 'msg-text' }, entry.text)), status),
  );
  if (entry.el && entry.el.parentNode) entry.el.replaceWith(li);
  else $('pending-list').appendChild(li);
  entry.el = li;
}

function retry(entry) {
  entry.status = 'pending';
  entry.error = null;
  renderPendingEntry(entry);
  trySend(entry);
}

function discard(entry) {
  state.outbox.delete(entry.client_id);
  if (entry.el) entry.el.remove();
}

// ---------------------------------------------------------------- typing

function onTyping(ev) {
  const r = state.room;
  if (!r || !ev || ev.room_id !== r.id || (state.me && ev.user_id === state.me.id)) return;
  const old = r.typing.get(ev.user_id);
  if (old) clearTimeout(old.timer);
  if (ev.is_typing) {
    const timer = setTimeout(() => {
      r.typing.delete(ev.user_id);
      renderTyping(r);
    }, TYPING_SHOW_MS);
    r.typing.set(ev.user_id, { username: ev.username, timer });
  } else {
    r.typing.delete(ev.user_id);
  }
  renderTyping(r);
}

function renderTyping(r) {
  if (state.room !== r) return;
  const names = [...r.typing.values()].map((t) => t.username);
  let text = '';
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = `${names.length} people are typing…`;
  $('typing').textContent = text;
}

function clearTyping(r) {
  for (const t of r.typing.values()) clearTimeout(t.timer);
  r.typing.clear();
  renderTyping(r);
}

function sendTyping(isTyping) {
  const t = state.typing;
  const s = state.socket;
  const roomId = isTyping ? state.room && state.room.id : t.roomId;
  t.active = isTyping;
  t.lastSent = Date.now();
  t.roomId = isTyping ? roomId : null;
  if (s && s.connected && roomId) {
    s.timeout(ACK_TIMEOUT_MS).emit('typing', { room_id: roomId, is_typing: isTyping }, () => {
      // Typing is best effort: a lost indicator is not worth a message.
    });
  }
}

function onComposerInput() {
  autosize();
  const r = state.room;
  if (!r || !r.joined || !state.socket || !state.socket.connected) return;
  const t = state.typing;
  clearTimeout(t.idleTimer);
  if ($('msg-input').value.trim() === '') {
    if (t.active) sendTyping(false);
    return;
  }
  if (!t.active || Date.now() - t.lastSent > TYPING_REFRESH_MS) sendTyping(true);
  t.idleTimer = setTimeout(() => state.typing.active && sendTyping(false), TYPING_IDLE_MS);
}

function resetOwnTyping() {
  const t = state.typing;
  clearTimeout(t.idleTimer);
  if (t.active) sendTyping(false);
}

function autosize() {
  const el = $('msg-input');
  el.style.height = 'auto';
  el.style.height = `${Math.min(el.scrollHeight + 2, 160)}px`;
}

// ---------------------------------------------------------------- people

async function loadPeople(r) {
  try {
    const d = await api.users(r.id);
    if (state.room !== r) return;
    // The first page only (the oldest 1000 memberships); total counts all.
    r.members = new Map(d.users.map((u) => [u.id, { ...u }]));
    r.membersTotal = Number.isInteger(d.total) ? d.total : r.members.size;
    if (r.info) r.info.member_count = r.membersTotal;
    renderPeople(r);
  } catch (e) {
    if (state.room === r) apiFailed(e, 'Could not load who is in the room');
  }
}

function renderPeople(r) {
  if (state.room !== r) return;
  const ul = $('people-list');
  clear(ul);
  const people = [...r.members.values()].sort(
    (a, b) => Number(b.online) - Number(a.online) || a.username.localeCompare(b.username),
  );
  for (const u of people) {
    const you = state.me && u.id === state.me.id;
    ul.appendChild(
      h(
        'li',
        { className: 'person', dataset: { userId: u.id, username: u.username, online: u.online ? 'true' : 'false' } },
        avatar(u.username),
        h('span', { className: 'person-name' }, u.username),
        you ? h('span', { className: 'pill you' }, 'you') : null,
        h('span', { className: 'person-state' }, u.online ? 'online' : u.last_seen ? ago(u.last_seen) : 'offline'),
      ),
    );
  }
  const total = Math.max(r.membersTotal ?? 0, people.length);
  if (total > people.length) {
    ul.appendChild(h('li', { className: 'person more' }, `and ${total - people.length} more`));
  }
  const online = people.filter((u) => u.online).length;
  $('people-count').textContent = String(online);
  $('people-toggle').setAttribute('aria-label', `People: ${online} online of ${total}`);
  renderRoomSub(r);
}

function onUserStatus(ev) {
  const r = state.room;
  if (!r || !ev || !r.members.has(ev.user_id)) return;
  const u = r.members.get(ev.user_id);
  u.online = ev.status === 'online';
  if (ev.last_seen !== undefined) u.last_seen = ev.last_seen;
  if (!u.online && r.typing.has(ev.user_id)) {
    clearTimeout(r.typing.get(ev.user_id).timer);
    r.typing.delete(ev.user_id);
    renderTyping(r);
  }
  renderPeople(r);
}

function onMembership(ev, joined) {
  if (!ev || !ev.user) return;
  const home = state.rooms.get(ev.room_id);
  if (home && Number.isInteger(ev.member_count)) home.member_count = ev.member_count;
  const r = state.room;
  if (!r || ev.room_id !== r.id) return;
  if (r.info && Number.isInteger(ev.member_count)) r.info.member_count = ev.member_count;
  if (Number.isInteger(ev.member_count)) r.membersTotal = ev.member_count;
  const mine = state.me && ev.user.id === state.me.id;
  if (joined) {
    const had = r.members.has(ev.user.id);
    r.members.set(ev.user.id, { ...r.members.get(ev.user.id), ...ev.user });
    if (!had && !mine) notice(r, `${ev.user.username} joined the room`);
  } else {
    r.members.delete(ev.user.id);
    if (!mine) notice(r, `${ev.user.username} left the room`);
  }
  renderPeople(r);
}

async function onLeaveRoom() {
  const r = state.room;
  const s = state.socket;
  if (!r) return;
  if (!s || !s.connected) {
    toast('Not connected: try leaving again when the connection is back.');
    return;
  }
  let ack;
  try {
    ack = await s.timeout(ACK_TIMEOUT_MS).emitWithAck('leave_room', { room_id: r.id });
  } catch {
    toast('The server did not answer; the room was not left.');
    return;
  }
  if (!ack || !ack.ok) {
    toast(`Could not leave the room: ${(ack && ack.error && ack.error.message) || 'no answer'}`);
    return;
  }
  state.memberOf.delete(r.id);
  toast(`You left ${r.info ? r.info.name : 'the room'}.`, 'info');
  location.hash = '#/';
}

function setPeopleOpen(open) {
  $('people').classList.toggle('open', open);
  $('scrim').classList.toggle('open', open);
  $('people-toggle').setAttribute('aria-expanded', open ? 'true' : 'false');
}

// ---------------------------------------------------------------- scrolling

function nearBottom() {
  const s = $('scroller');
  return s.scrollHeight - s.scrollTop - s.clientHeight < 120;
}

function scrollToBottom() {
  const s = $('scroller');
  s.scrollTop = s.scrollHeight;
  $('jump').hidden = true;
}

// ---------------------------------------------------------------- wiring

function bindUi() {
  $('join-form').addEventListener('submit', onJoinSubmit);
  $('create-form').addEventListener('submit', onCreateSubmit);
  $('logout').addEventListener('click', onLogout);
  $('rooms-more').addEventListener('click', loadMoreRooms);
  $('composer').addEventListener('submit', onComposerSubmit);
  $('msg-input').addEventListener('input', onComposerInput);
  $('msg-input').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      $('composer').requestSubmit();
    }
  });
  $('msg-input').addEventListener('blur', () => state.typing.active && sendTyping(false));
  $('load-older').addEventListener('click', loadOlder);
  $('jump').addEventListener('click', scrollToBottom);
  $('scroller').addEventListener('scroll', () => {
    if (nearBottom()) $('jump').hidden = true;
  });
  $('people-toggle').addEventListener('click', () => setPeopleOpen(!$('people').classList.contains('open')));
  $('people-close').addEventListener('click', () => setPeopleOpen(false));
  $('scrim').addEventListener('click', () => setPeopleOpen(false));
  $('room-leave').addEventListener('click', onLeaveRoom);
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') setPeopleOpen(false);
  });
  // Nothing fails silently.
  window.addEventListener('unhandledrejection', (ev) => {
    const msg = ev.reason && ev.reason.message ? ev.reason.message : String(ev.reason);
    toast(`Something went wrong: ${msg}`);
  });
}

boot();
