// app.js -- the chat's browser client: views, routing, the Socket.IO connection.
//
// Views: join (a guest picks a name, an account signs in or is created),
// home (/: rooms and direct messages, create a public or private room),
// room (/chat/<room>: history, live messages, people, typing, send box; the
// owner and moderators add, remove and ban members, the owner names
// moderators; "Message" on a person opens the direct room with them).
// The account dialog changes the password, or gives a guest's name one.
// REST (api.js) for the session, rooms, members, history paging and the
// member list; the Socket.IO bridge for everything live (docs/protocol.md),
// with the session cookie that join, register or login set. room_added and
// room_removed keep the room list true, and room_removed takes the view
// out of a room the user was removed from. On a reconnect the room is joined
// again with since_seq = the last seq shown, so nothing missed is lost, and
// unacknowledged messages are sent again with the same client_id.
// The address bar follows the room (history.pushState: Back and Forward
// move between rooms); /chat/<room> takes a room id or a public room's
// name, and the old #/room/<id> is rewritten to /chat/<id>. Own messages
// are pending until the send_message ack, then marked sent; a failed send
// offers Retry with the same client_id. Unread badges on the room list,
// the seen-by line of small rooms and the search box: see "read state".
// One's own messages are edited in the composer (Edit under the message,
// or Up in an empty composer; Enter saves, Escape cancels); edits and
// deletions made while this page was offline are caught up with the room's
// change counter: see "edits and catching up".
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
const SUBSCRIBE_MAX = 20; // member rooms joined at connect for live unread counts (the bridge limits events per connection)
const SEEN_BY_MAX_MEMBERS = 50; // the server sends read_receipt only in rooms this small
const SEEN_BY_NAMES = 5;
const MARK_READ_MS = 300;
const CHANGE_PAGES = 50; // pages of 100 changes read when catching up after a reconnect

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
  reads: new Map(), // room id -> {last_seq, unread}: what events told since the list was loaded
  typing: { active: false, lastSent: 0, idleTimer: 0, roomId: null },
  edit: null, // the message being edited in the composer (see startEdit)
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

/** The address of a room (the seeds' /chat/<room>). */
function roomPath(id) {
  return `/chat/${encodeURIComponent(id)}`;
}

function decode(part) {
  try {
    return decodeURIComponent(part);
  } catch {
    return '';
  }
}

/**
 * Where the address points: {room} for /chat/<room> (a room id, or the
 * name of a public room), {home} otherwise. The old addresses #/room/<id>
 * and #/ still work: they are rewritten to /chat/<id> and / in place.
 */
function parseLocation() {
  const old = /^#\/room\/(.+)$/.exec(location.hash);
  if (old && decode(old[1])) {
    history.replaceState(null, '', roomPath(decode(old[1])));
  } else if (location.hash === '#/' || location.hash === '#') {
    history.replaceState(null, '', location.pathname);
  }
  const m = /^\/chat\/([^/]+)\/?$/.exec(location.pathname);
  const room = m ? decode(m[1]) : '';
  return room ? { room } : { home: true };
}

/**
 * Moves the address bar to path (a new history entry, or replacing the
 * current one: for ways out of a room the user cannot go back into) and
 * shows what it points to.
 */
function go(path, replace = false) {
  if (path !== location.pathname || location.hash) {
    if (replace) history.replaceState(null, '', path);
    else history.pushState(null, '', path);
  }
  route();
}

/** Plain clicks on links to / and /chat/… change the view without a page load. */
function onLinkClick(ev) {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const a = ev.target instanceof Element ? ev.target.closest('a[href]') : null;
  if (!a || a.target) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !(url.pathname === '/' || url.pathname.startsWith('/chat/'))) return;
  ev.preventDefault();
  go(url.pathname);
}

function route() {
  if (!state.me) {
    show('join');
    return;
  }
  const r = parseLocation();
  if (r.room) openRoom(r.room);
  else openHome();
}

// ---------------------------------------------------------------- session

async function boot() {
  bindUi();
  window.addEventListener('popstate', route);
  window.addEventListener('hashchange', route);
  document.addEventListener('click', onLinkClick);
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
  renderMe();
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
  connect();
  route();
}

function renderMe() {
  const user = state.me;
  $('me').hidden = false;
  $('me-name').textContent = user.username;
  $('me-kind').textContent = user.registered ? 'account' : 'guest';
  $('me-kind').dataset.kind = user.registered ? 'account' : 'guest';
  $('me-avatar').replaceWith(Object.assign(avatar(user.username, 'small'), { id: 'me-avatar' }));
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
  if ($('account').open) $('account').close();
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

// The three ways in: a guest's name, an account's sign-in, a new account.
const SIGN_IN = {
  guest: { form: 'join-form', tab: 'tab-guest', first: 'join-name', error: 'join-error', submit: 'join-submit', busy: 'Joining…' },
  login: { form: 'login-form', tab: 'tab-login', first: 'login-name', error: 'login-error', submit: 'login-submit', busy: 'Signing in…' },
  register: {
    form: 'register-form',
    tab: 'tab-register',
    first: 'register-name',
    error: 'register-error',
    submit: 'register-submit',
    busy: 'Creating…',
  },
};

function selectTab(kind, focus = true) {
  for (const [k, v] of Object.entries(SIGN_IN)) {
    const on = k === kind;
    $(v.form).hidden = !on;
    $(v.tab).setAttribute('aria-selected', on ? 'true' : 'false');
    $(v.tab).tabIndex = on ? 0 : -1;
  }
  if (focus) $(SIGN_IN[kind].first).focus();
}

/** Left/Right/Home/End move between the tabs (the WAI-ARIA tabs pattern). */
function onTabKey(ev) {
  const kinds = Object.keys(SIGN_IN);
  const at = kinds.findIndex((k) => SIGN_IN[k].tab === ev.target.id);
  if (at < 0) return;
  let next = null;
  if (ev.key === 'ArrowRight') next = (at + 1) % kinds.length;
  else if (ev.key === 'ArrowLeft') next = (at + kinds.length - 1) % kinds.length;
  else if (ev.key === 'Home') next = 0;
  else if (ev.key === 'End') next = kinds.length - 1;
  if (next === null) return;
  ev.preventDefault();
  selectTab(kinds[next], false);
  $(SIGN_IN[kinds[next]].tab).focus();
}

/** Shows text under a form (or hides it when text is empty). */
function fieldError(id, text) {
  const err = $(id);
  err.textContent = text || '';
  err.hidden = !text;
}

/**
 * Runs one sign-in form: checks that the fields are filled, calls the API,
 * shows its error (username_taken, invalid_credentials, rate_limited with
 * the time to wait, validation_error) under the form.
 */
async function submitSignIn(ev, kind, call) {
  ev.preventDefault();
  const f = SIGN_IN[kind];
  const errId = f.error;
  const form = $(f.form);
  fieldError(errId, '');
  const name = $(f.first).value.trim();
  const pw = form.querySelector('input[type="password"]');
  if (!name) {
    fieldError(errId, kind === 'guest' ? 'Type a name first.' : 'Type your username first.');
    $(f.first).focus();
    return;
  }
  if (pw && !pw.value) {
    fieldError(errId, 'Type the password too.');
    pw.focus();
    return;
  }
  const btn = $(f.submit);
  const label = btn.textContent;
  btn.disabled = true;
  btn.textContent = f.busy;
  try {
    const data = await call(name, pw ? pw.value : undefined);
    form.reset();
    // The rooms of join, register and login are the first rooms of all, not the memberships.
    signedIn(data.user, null);
  } catch (e) {
    fieldError(errId, e.message);
    const target = pw && (e.code === 'invalid_credentials' || e.field === 'password') ? pw : $(f.first);
    target.focus();
    target.select();
  } finally {
    btn.disabled = false;
    btn.textContent = label;
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

// ---------------------------------------------------------------- the account

function openAccount() {
  if (!state.me) return;
  const registered = Boolean(state.me.registered);
  $('password-form').hidden = !registered;
  $('claim-form').hidden = registered;
  fieldError('pw-error', '');
  fieldError('claim-error', '');
  $('account').showModal();
  (registered ? $('pw-current') : $('claim-password')).focus();
}

async function onPasswordSubmit(ev) {
  ev.preventDefault();
  const cur = $('pw-current');
  const next = $('pw-new');
  fieldError('pw-error', '');
  if (!cur.value || !next.value) {
    fieldError('pw-error', 'Type the current and the new password.');
    (cur.value ? next : cur).focus();
    return;
  }
  const btn = $('pw-submit');
  btn.disabled = true;
  try {
    const d = await api.changePassword(cur.value, next.value);
    $('password-form').reset();
    $('account').close();
    const n = Number(d.revoked_sessions) || 0;
    toast(n ? `Password changed. ${plural(n, 'other session')} signed out.` : 'Password changed.', 'info');
  } catch (e) {
    if (e.status === 401) {
      apiFailed(e);
      return;
    }
    // 403 forbidden: the current password is wrong.
    fieldError('pw-error', e.message);
    const target = e.field === 'new_password' ? next : cur;
    target.focus();
    target.select();
  } finally {
    btn.disabled = false;
  }
}

/** A guest registers its own name: same user, now with a password. */
async function onClaimSubmit(ev) {
  ev.preventDefault();
  const pw = $('claim-password');
  fieldError('claim-error', '');
  if (!pw.value) {
    fieldError('claim-error', 'Type a password first.');
    pw.focus();
    return;
  }
  const btn = $('claim-submit');
  btn.disabled = true;
  try {
    const d = await api.register(state.me.username, pw.value);
    $('claim-form').reset();
    $('account').close();
    state.me = d.user;
    renderMe();
    toast(`${d.user.username} is your account now: sign in with it and the password.`, 'info');
  } catch (e) {
    fieldError('claim-error', e.message);
    pw.focus();
  } finally {
    btn.disabled = false;
  }
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
    if (!Array.isArray(rooms)) return;
    for (const r of rooms) {
      state.memberOf.add(r.id);
      noteRoomState(r.id, r.last_seq, r.unread);
    }
    subscribeRooms(s, rooms);
    if (state.view === 'home') renderRooms();
  });
  s.on('read', onRead);
  s.on('read_receipt', onReadReceipt);
  s.on('new_message', onNewMessage);
  s.on('message_deleted', onMessageDeleted);
  s.on('message_updated', onMessageUpdated);
  s.on('typing', onTyping);
  s.on('user_status', onUserStatus);
  s.on('user_joined', (ev) => onMembership(ev, true));
  s.on('user_left', (ev) => onMembership(ev, false));
  s.on('room_created', onRoomCreated);
  s.on('room_added', onRoomAdded);
  s.on('room_removed', onRoomRemoved);
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
    state.rooms = new Map(d.rooms.map((r) => [r.id, withReadState(r)]));
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
    for (const r of d.rooms) state.rooms.set(r.id, withReadState(r));
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
  const dms = $('dm-list');
  clear(list);
  clear(dms);
  let shown = 0;
  for (const room of state.rooms.values()) {
    if (room.visibility === 'direct') {
      dms.appendChild(roomItem(room));
    } else {
      list.appendChild(roomItem(room));
      shown += 1;
    }
  }
  $('dm-section').hidden = dms.children.length === 0;
  $('rooms-empty').hidden = shown > 0;
  $('rooms-total').textContent = plural(state.roomsTotal, 'room');
  $('rooms-more').hidden = state.rooms.size >= state.roomsTotal;
}

/** The lock mark of a private room (an SVG from index.html's template). */
function lockMark() {
  return h(
    'span',
    { className: 'lock', role: 'img', 'aria-label': 'Private room', title: 'Private room' },
    $('lock-icon').content.firstElementChild.cloneNode(true),
  );
}

function roomItem(room) {
  const member = state.memberOf.has(room.id);
  const direct = room.visibility === 'direct';
  const first = direct ? '@' : Array.from(room.name)[0] || '#';
  const role = member && (room.role === 'owner' || room.role === 'moderator') ? room.role : null;
  const li = h(
    'li',
    { dataset: { roomId: room.id, visibility: room.visibility || 'public', role: room.role || undefined } },
    h(
      'a',
      {
        className: `room-item${state.freshRooms.has(room.id) ? ' fresh' : ''}${room.unread > 0 ? ' has-unread' : ''}`,
        href: roomPath(room.id),
      },
      h('span', { className: 'room-icon', 'aria-hidden': 'true', style: { '--hue': hue(room.name) } }, first),
      h(
        'span',
        { className: 'room-text' },
        h(
          'span',
          { className: 'room-item-name' },
          room.visibility === 'private' ? lockMark() : null,
          h('span', { className: 'room-name-text' }, room.name),
          member && !direct ? h('span', { className: 'pill member-badge' }, 'joined') : null,
          role ? h('span', { className: 'pill role-badge' }, role) : null,
          unreadBadge(room),
        ),
        h('span', { className: 'room-item-desc' }, direct ? `Direct messages with ${room.name}` : room.description || 'No description'),
      ),
      direct
        ? null
        : h(
            'span',
            { className: 'room-counts' },
            h('span', { className: 'members' }, plural(room.member_count, 'member')),
            h('span', { className: 'online' }, `${room.online_count} online`),
          ),
    ),
  );
  return li;
}

/** A room enters the list (new, or the user became a member of it). */
function listRoom(room) {
  if (!state.rooms.has(room.id)) {
    state.roomsTotal += 1;
    state.freshRooms.add(room.id);
    setTimeout(() => state.freshRooms.delete(room.id), 2000);
  }
  state.rooms.set(room.id, { ...state.rooms.get(room.id), ...room });
}

/** room_added: the user became a member without asking (added, a new direct room, their own private room). */
function onRoomAdded({ room } = {}) {
  if (!room || !room.id) return;
  state.memberOf.add(room.id);
  listRoom(room);
  if (state.view === 'home') renderRooms();
}

const REMOVED_TEXT = {
  kicked: (name) => `You were removed from ${name}.`,
  banned: (name) => `You were banned from ${name}.`,
  left: (name) => `You left ${name}.`,
};

/**
 * room_removed: the membership ended (left here or elsewhere, removed or
 * banned by a moderator). A private or direct room leaves the list; an
 * open room is left at once, with a notice.
 */
function onRoomRemoved({ room_id: id, reason } = {}) {
  if (typeof id !== 'string') return;
  state.memberOf.delete(id);
  const listed = state.rooms.get(id);
  const r = state.room;
  const name = (r && r.id === id && r.info && r.info.name) || (listed && listed.name) || 'the room';
  if (listed) {
    if (listed.visibility === 'private' || listed.visibility === 'direct') {
      state.rooms.delete(id);
      state.roomsTotal = Math.max(0, state.roomsTotal - 1);
    } else {
      listed.role = null;
    }
  }
  if (r && r.id === id) {
    const text = (REMOVED_TEXT[reason] || REMOVED_TEXT.kicked)(name);
    toast(text, reason === 'left' ? 'info' : 'error');
    go('/', true);
  } else if (reason === 'kicked' || reason === 'banned') {
    toast((REMOVED_TEXT[reason])(name), 'info');
  }
  if (state.view === 'home') renderRooms();
}

function onRoomCreated({ room } = {}) {
  if (!room || !room.id) return;
  if (!state.rooms.has(room.id)) listRoom(room);
  if (state.view === 'home') renderRooms();
}

async function onCreateSubmit(ev) {
  ev.preventDefault();
  const name = $('create-name').value.trim();
  const desc = $('create-desc').value.trim();
  const visibility = $('create-visibility').value === 'private' ? 'private' : 'public';
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
    const { room } = await api.createRoom(name, desc, visibility);
    $('create-form').reset();
    state.memberOf.add(room.id);
    listRoom(room);
    go(roomPath(room.id));
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

// ---------------------------------------------------------------- read state

/**
 * Unread counts: Room.unread from GET /api/rooms and `connected`; then
 * live: new_message of a member room not open counts one (the rooms are
 * joined at connect, SUBSCRIBE_MAX of them, so their messages arrive),
 * `read` (this user's position moved, in any tab) sets the count, and
 * opening a room marks it read (mark_read). What the events told is kept in
 * state.reads, so a list page cached by the server (CHAT_ROOMS_CACHE_MS)
 * does not bring an old count back.
 */
function noteRoomState(id, lastSeq, unread) {
  if (!Number.isInteger(lastSeq) || !Number.isInteger(unread)) return;
  const known = state.reads.get(id);
  if (known && known.last_seq > lastSeq) return;
  state.reads.set(id, { last_seq: lastSeq, unread });
  const room = state.rooms.get(id);
  if (room) {
    room.last_seq = lastSeq;
    room.unread = unread;
  }
}

/** A room of the list page, with what events told since (when newer). */
function withReadState(room) {
  const known = state.reads.get(room.id);
  if (known && Number.isInteger(room.last_seq) && known.last_seq >= room.last_seq) {
    return { ...room, last_seq: known.last_seq, unread: known.unread };
  }
  state.reads.delete(room.id);
  return room;
}

function unreadBadge(room) {
  const n = room.unread;
  if (!Number.isInteger(n) || n <= 0) return null;
  return h('span', { className: 'pill unread-badge', 'aria-label': `${plural(n, 'unread message')}`, title: plural(n, 'unread message') }, n > 99 ? '99+' : String(n));
}

/** Joins the member rooms (since their last_seq: no history comes) so that their new_message events arrive. */
function subscribeRooms(s, rooms) {
  const open = state.room && state.room.id;
  for (const room of rooms.slice(0, SUBSCRIBE_MAX)) {
    if (room.id === open || !Number.isInteger(room.last_seq)) continue;
    s.timeout(ACK_TIMEOUT_MS)
      .emitWithAck('join_room', { room_id: room.id, since_seq: room.last_seq })
      .then(
        (ack) => {
          if (ack && ack.ok && Array.isArray(ack.messages)) for (const m of ack.messages) countMessage(m);
        },
        () => {
          // Best effort: the count is right again at the next list load.
        },
      );
  }
}

/** A message of a room that is not open: one more unread (not one's own). */
function countMessage(m) {
  if (!m || typeof m.room_id !== 'string' || !Number.isInteger(m.seq) || !state.memberOf.has(m.room_id)) return;
  const known = state.reads.get(m.room_id) || state.rooms.get(m.room_id);
  if (!known || !Number.isInteger(known.last_seq) || !Number.isInteger(known.unread) || m.seq <= known.last_seq) return;
  noteRoomState(m.room_id, m.seq, isMine(m) ? 0 : known.unread + 1);
  if (state.view === 'home') renderRooms();
}

/** read {room_id, last_read_seq, unread}: this user read a room (here or in another tab). */
function onRead(ev) {
  if (!ev || typeof ev.room_id !== 'string' || !Number.isInteger(ev.unread)) return;
  const known = state.reads.get(ev.room_id) || state.rooms.get(ev.room_id);
  const lastSeq = known && Number.isInteger(known.last_seq) ? known.last_seq : ev.last_read_seq;
  state.reads.set(ev.room_id, { last_seq: Math.max(lastSeq, ev.last_read_seq), unread: ev.unread });
  const room = state.rooms.get(ev.room_id);
  if (room) room.unread = ev.unread;
  if (state.view === 'home') renderRooms();
}

/** The open room is read up to its newest message shown (soon after it changes, while the page is visible). */
function markRead(r) {
  if (state.room !== r || !r.joined || !r.lastSeq || document.hidden) return;
  clearTimeout(r.markTimer);
  r.markTimer = setTimeout(() => {
    const s = state.socket;
    if (state.room !== r || r.readSent >= r.lastSeq || !s || !s.connected) return;
    const seq = r.lastSeq;
    r.readSent = seq;
    noteRoomState(r.id, seq, 0);
    s.timeout(ACK_TIMEOUT_MS).emitWithAck('mark_read', { room_id: r.id, seq }).then(
      () => {},
      () => {
        if (r.readSent === seq) r.readSent = 0;
      },
    );
  }, MARK_READ_MS);
}

// ---------------------------------------------------------------- seen by

/** The "seen by" line of a small room: who read up to its newest message. */
async function loadReads(r) {
  if (!r.info || r.info.member_count > SEEN_BY_MAX_MEMBERS) {
    renderSeenBy(r);
    return;
  }
  try {
    const d = await api.reads(r.id);
    if (state.room !== r) return;
    for (const x of d.reads) r.reads.set(x.user_id, { username: x.username, last_read_seq: x.last_read_seq });
    renderSeenBy(r);
  } catch (e) {
    if (state.room === r && e.status === 401) apiFailed(e);
  }
}

function onReadReceipt(ev) {
  const r = state.room;
  if (!ev || !r || ev.room_id !== r.id || typeof ev.user_id !== 'string' || !Number.isInteger(ev.last_read_seq)) return;
  const old = r.reads.get(ev.user_id);
  if (old && old.last_read_seq >= ev.last_read_seq) return;
  r.reads.set(ev.user_id, { username: ev.username, last_read_seq: ev.last_read_seq });
  renderSeenBy(r);
}

function renderSeenBy(r) {
  if (state.room !== r) return;
  const el = $('seen-by');
  const last = r.msgs.get(r.lastSeq);
  const small = r.info && r.info.member_count <= SEEN_BY_MAX_MEMBERS;
  const names = [];
  if (small && last) {
    for (const [id, x] of r.reads) {
      if (id !== last.user_id && (!state.me || id !== state.me.id) && x.last_read_seq >= last.seq) names.push(x.username);
    }
  }
  names.sort((a, b) => a.localeCompare(b));
  if (names.length === 0) {
    el.hidden = true;
    el.textContent = '';
    return;
  }
  const shown = names.slice(0, SEEN_BY_NAMES).join(', ');
  el.textContent = names.length > SEEN_BY_NAMES ? `Seen by ${shown} and ${names.length - SEEN_BY_NAMES} more` : `Seen by ${shown}`;
  el.hidden = false;
}

// ---------------------------------------------------------------- search

async function onSearchSubmit(ev) {
  ev.preventDefault();
  const r = state.room;
  const q = $('search-input').value.trim();
  if (!r) return;
  if (!q) {
    closeSearch();
    return;
  }
  const box = $('search-results');
  const list = $('search-list');
  $('search-summary').textContent = 'Searching…';
  clear(list);
  box.hidden = false;
  let d;
  try {
    d = await api.search(r.id, q);
  } catch (e) {
    if (state.room !== r) return;
    if (e.status === 401) apiFailed(e);
    $('search-summary').textContent = `Search failed: ${e.message}`;
    return;
  }
  if (state.room !== r) return;
  $('search-summary').textContent = d.messages.length ? `${plural(d.messages.length, 'message')} found for “${q}”` : `Nothing found for “${q}”`;
  for (const m of d.messages) {
    const shown = r.msgs.has(m.seq);
    list.appendChild(
      h(
        'li',
        { className: 'search-hit', dataset: { seq: m.seq, id: m.id } },
        h(
          'button',
          { type: 'button', className: 'search-hit-btn', disabled: !shown, title: shown ? 'Show it in the room' : 'Not loaded: load older messages to see it in place', on: { click: () => showFound(r, m.seq) } },
          h('span', { className: 'meta' }, h('span', { className: 'author', style: { '--hue': hue(m.username) } }, m.username), timeEl(m.timestamp)),
          h('span', { className: 'msg-text' }, m.content),
        ),
      ),
    );
  }
}

/** Scrolls the open room to message seq and marks it for a moment. */
function showFound(r, seq) {
  const li = $('msg-list').querySelector(`li.msg[data-seq="${Number(seq)}"]`);
  if (state.room !== r || !li) return;
  li.scrollIntoView({ block: 'center' });
  li.classList.add('found');
  setTimeout(() => li.classList.remove('found'), 2000);
}

function closeSearch() {
  $('search-results').hidden = true;
  clear($('search-list'));
  $('search-summary').textContent = '';
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
    missing: false, // not found: looking the address up as a name
    reads: new Map(), // user id -> {username, last_read_seq}: the seen-by line
    readSent: 0, // the last seq marked read
    markTimer: 0,
    changeSeq: 0, // the room's change counter as far as the messages shown reflect it
    changesFrom: null, // a catch-up that did not finish: read the changes from here at the next join
    catching: false,
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
  $('room-lock').hidden = true;
  $('room-role').hidden = true;
  $('invite-form').hidden = true;
  $('invite-form').reset();
  fieldError('invite-error', '');
  $('room-leave').hidden = false;
  $('people-count').textContent = '0';
  $('load-older').hidden = true;
  $('history-start').hidden = true;
  $('jump').hidden = true;
  $('seen-by').hidden = true;
  $('search-form').reset();
  closeSearch();
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
  if (state.edit) endEdit(false);
  resetOwnTyping();
  clearTyping(r);
  clearTimeout(r.markTimer);
  state.room = null;
}

async function loadRoomOverRest(r) {
  try {
    // The room first: its change_seq is then no newer than the messages
    // read after it, so the join after connecting catches up what it missed.
    const { room } = await api.room(r.id);
    const page = await api.api('GET', `/api/messages/${encodeURIComponent(r.id)}?limit=${PAGE}`);
    if (state.room !== r || r.loaded) return;
    setRoomInfo(r, room);
    noteChange(r, room && room.change_seq);
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
  // The changes the messages shown reflect, as the join goes out (events
  // that arrive before its ack may move r.changeSeq on meanwhile).
  const since = r.loaded ? Math.min(r.changeSeq, r.changesFrom ?? Infinity) : null;
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
    else if (e && e.code === 'forbidden') {
      // Banned from this room.
      toast(`You cannot join this room: ${e.message}`);
      go('/', true);
    }
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
  const cs = ack.room && ack.room.change_seq;
  if (since !== null && ack.recovered !== false && Number.isInteger(cs) && cs > since) {
    // Older messages may have been edited or deleted while offline.
    catchUp(r, since);
  } else {
    noteChange(r, cs);
  }
  r.loaded = true;
  updateOlder(r);
  if (stick) scrollToBottom();
  loadPeople(r);
  loadReads(r);
  markRead(r);
  flushOutbox();
}

/**
 * No room has the id of the address (or it is private and not the
 * user's): /chat/<room> may name a public room instead (any case), which
 * then opens under its id; otherwise a message, and home.
 */
async function roomMissing(r) {
  if (state.room !== r || r.missing) return;
  r.missing = true;
  let found = null;
  try {
    found = await findPublicRoom(r.id);
  } catch (e) {
    if (e.status === 401) {
      apiFailed(e);
      return;
    }
  }
  if (state.room !== r) return;
  if (found && found.id !== r.id) {
    go(roomPath(found.id), true);
    return;
  }
  toast(`There is no room “${r.id}”: it does not exist, or it is private and you are not a member.`);
  go('/', true);
}

const NAME_PAGES = 25; // pages of 200 rooms searched for a name

/** The public room named name (case-insensitively), or null. */
async function findPublicRoom(name) {
  const want = name.toLowerCase();
  let offset = 0;
  for (let page = 0; page < NAME_PAGES; page++) {
    const d = await api.rooms(200, offset);
    const hit = d.rooms.find((x) => x.visibility === 'public' && typeof x.name === 'string' && x.name.toLowerCase() === want);
    if (hit) return hit;
    offset += d.rooms.length;
    if (d.rooms.length === 0 || offset >= d.total) break;
  }
  return null;
}

function setRoomInfo(r, room) {
  if (!room) return;
  r.info = { ...room };
  if (state.rooms.has(room.id)) state.rooms.set(room.id, { ...state.rooms.get(room.id), ...room });
  $('room-name').textContent = room.name;
  document.title = `${room.name} · Chat`;
  const direct = room.visibility === 'direct';
  $('room-lock').hidden = room.visibility !== 'private';
  if (!$('room-lock').firstChild) $('room-lock').appendChild($('lock-icon').content.firstElementChild.cloneNode(true));
  // The caller's role (none in a direct room: both are plain members).
  const role = direct ? null : room.role;
  $('room-role').hidden = !role;
  $('room-role').textContent = role || '';
  $('room-role').dataset.role = role || '';
  $('view-room').dataset.visibility = room.visibility || 'public';
  $('invite-form').hidden = !canModerate(r) || direct;
  $('msg-list').classList.toggle('moderating', canModerate(r) && !direct);
  // The owner cannot leave (the server refuses it).
  $('room-leave').hidden = room.role === 'owner';
  renderRoomSub(r);
  if (r.members.size) renderPeople(r);
}

/** The caller may add, remove and ban members of the room. */
function canModerate(r) {
  const role = r && r.info && r.info.role;
  return role === 'owner' || role === 'moderator';
}

function renderRoomSub(r) {
  if (!r.info) return;
  if (r.info.visibility === 'direct') {
    const peer = (r.info.peer && r.info.peer.username) || r.info.name;
    $('room-sub').textContent = `Direct messages with ${peer}`;
    return;
  }
  const online = r.members.size ? [...r.members.values()].filter((u) => u.online).length : r.info.online_count;
  const parts = [plural(r.info.member_count, 'member'), `${online} online`];
  if (r.info.description) parts.unshift(r.info.description);
  if (r.info.visibility === 'private') parts.unshift('Private');
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
  for (const m of list) {
    // A message shown before and edited or deleted since (history, recovery): its current state.
    if (m && m.room_id === r.id && r.msgs.has(m.seq)) applyUpdate(r, m);
  }
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

/** A tombstone (DESIGN §8): deleted, or with no text at all. */
function isDeleted(m) {
  return m.deleted === true || typeof m.content !== 'string';
}

function messageItem(m) {
  const mine = isMine(m);
  const deleted = isDeleted(m);
  return h(
    'li',
    {
      className: `msg${mine ? ' mine' : ''}${deleted ? ' deleted' : ''}`,
      dataset: { seq: m.seq, id: m.id, user: m.user_id, clientId: m.client_id ?? undefined, ts: m.timestamp },
    },
    avatar(m.username),
    h(
      'div',
      { className: 'body' },
      h('div', { className: 'meta' }, h('span', { className: 'author', style: { '--hue': hue(m.username) } }, m.username), timeEl(m.timestamp)),
      deleted
        ? h('div', { className: 'bubble tombstone' }, h('p', { className: 'msg-text' }, 'message deleted'))
        : h('div', { className: 'bubble' }, h('p', { className: 'msg-text' }, m.content), editedMark(m)),
      deleted ? null : messageActions(m, mine),
    ),
  );
}

/** Under a live message: one's own are marked sent (the server has them), then the controls. */
function messageActions(m, mine) {
  return h(
    'div',
    { className: 'msg-actions' },
    mine ? h('span', { className: 'msg-state', dataset: { state: 'sent' }, title: 'Sent: the server has it' }, '✓ Sent') : null,
    mine
      ? h('button', {
          type: 'button', className: 'linkish msg-edit', 'aria-label': 'Edit your message', title: 'Edit (Up arrow in an empty message box edits your last one)',
          on: { click: () => state.room && startEdit(state.room, m.seq) },
        }, 'Edit')
      : null,
    deleteControl(m),
  );
}

/** "edited" in the bubble of an edited message, with the time in its title. */
function editedMark(m) {
  if (typeof m.edited_at !== 'string' || !m.edited_at) return null;
  const d = new Date(m.edited_at);
  return h('span', { className: 'edited-mark', title: Number.isNaN(d.getTime()) ? 'Edited' : `Edited ${d.toLocaleString()}` }, 'edited');
}

/*
 * "Delete" under a message, then an inline "Delete? Yes / No" (no dialog).
 * Every live message has it; CSS shows it on one's own messages, and on
 * everyone's when the list is .moderating (the caller owns or moderates the
 * room), so a role change shows or hides it at once. The server decides.
 */
function deleteControl(m) {
  const box = h('span', { className: 'msg-delete-box' });
  const ask = h('button', {
    type: 'button', className: 'linkish msg-delete', 'aria-label': `Delete message from ${m.username}`,
    on: { click: () => confirmDelete(box, ask, m) },
  }, 'Delete');
  box.appendChild(ask);
  return box;
}

function confirmDelete(box, ask, m) {
  const r = state.room;
  const back = () => {
    clear(box);
    box.appendChild(ask);
    ask.focus();
  };
  const yes = h('button', { type: 'button', className: 'linkish msg-delete-yes', on: { click: () => deleteMessage(r, m, back) } }, 'Yes');
  const no = h('button', { type: 'button', className: 'linkish msg-delete-no', on: { click: back } }, 'No');
  clear(box);
  box.append(h('span', { className: 'msg-confirm' }, 'Delete? '), yes, ' ', no);
  no.focus();
}

async function deleteMessage(r, m, back) {
  let d;
  try {
    d = await api.deleteMessage(r.id, m.id);
  } catch (e) {
    apiFailed(e, 'Could not delete the message');
    back();
    return;
  }
  // message_deleted follows; the author need not wait for it.
  if (state.room === r) showDeleted(r, m.seq, (d && d.message && d.message.id) || m.id);
}

/** Message seq (id) of the open room r becomes a tombstone, in place. */
function showDeleted(r, seq, id) {
  const m = r.msgs.get(seq);
  if (!m || m.id !== id) return;
  const was = $('msg-list').querySelector(`li.msg[data-seq="${Number(seq)}"]`);
  r.msgs.set(seq, { ...m, content: null, deleted: true });
  const hit = $('search-list').querySelector(`li[data-id="${Number(id)}"]`);
  if (hit) hit.remove();
  const ed = state.edit;
  if (ed && ed.room === r && ed.seq === seq) {
    endEdit(true);
    toast('The message you were editing was deleted.', 'info');
  }
  if (!was || was.classList.contains('deleted')) return;
  const li = messageItem(r.msgs.get(seq));
  li.className = was.className;
  li.classList.add('deleted');
  li.classList.remove('editing');
  was.replaceWith(li);
}

/** message_deleted {room_id, id, seq, change_seq}: a tombstone at once, for everyone in the room. */
function onMessageDeleted(ev) {
  const r = state.room;
  if (!ev || typeof ev !== 'object' || !r || ev.room_id !== r.id || !Number.isInteger(ev.seq)) return;
  showDeleted(r, ev.seq, ev.id);
  noteChange(r, ev.change_seq);
}

// ---------------------------------------------------------------- edits and catching up

/*
 * A message is edited in the composer: startEdit fills it with the text
 * (the draft that was there is kept), Enter saves (edit_message with its
 * ack; over REST, PATCH, while the live connection is down), Escape or
 * Cancel puts the draft back. message_updated replaces the text in every
 * page that shows the message.
 *
 * Edits and deletions of messages older than the since_seq of a rejoin do
 * not come with it (docs/protocol.md, "Catching up after being offline"):
 * r.changeSeq is the room's change counter as far as the messages shown
 * reflect it (the Room read with them, then message_updated and
 * message_deleted); when a rejoin's Room is ahead, GET
 * /api/messages/{room}/changes?since= gives the changed messages in their
 * current state, page after page.
 */

/** The room's change counter moved to cs (an event, a Room, a page of changes). */
function noteChange(r, cs) {
  if (Number.isInteger(cs) && cs > r.changeSeq) r.changeSeq = cs;
}

/** m (edited) is newer than cur: a later edited_at (an older event arriving late changes nothing). */
function newerEdit(m, cur) {
  if (typeof m.content !== 'string' || typeof m.edited_at !== 'string') return false;
  if (typeof cur.edited_at !== 'string') return true;
  const a = Date.parse(m.edited_at);
  const b = Date.parse(cur.edited_at);
  return a > b || (a === b && m.content !== cur.content);
}

/**
 * m, a message of the open room r in its current state (message_updated,
 * an ack, history, recovery, a page of changes), replaces the one shown
 * with its seq: a tombstone, or newer text. A tombstone never comes back.
 */
function applyUpdate(r, m) {
  const cur = r.msgs.get(m.seq);
  if (!cur || cur.id !== m.id || isDeleted(cur)) return;
  if (isDeleted(m)) {
    showDeleted(r, m.seq, m.id);
    return;
  }
  if (!newerEdit(m, cur)) return;
  const next = { ...cur, content: m.content, edited_at: m.edited_at };
  r.msgs.set(m.seq, next);
  const was = $('msg-list').querySelector(`li.msg[data-seq="${Number(m.seq)}"]`);
  if (was) {
    const li = messageItem(next);
    li.className = was.className;
    was.replaceWith(li);
  }
  const hit = $('search-list').querySelector(`li[data-id="${Number(m.id)}"] .msg-text`);
  if (hit) hit.textContent = m.content;
}

/** message_updated: Message (the new text, edited_at) plus change_seq. */
function onMessageUpdated(ev) {
  const r = state.room;
  if (!ev || typeof ev !== 'object' || !r || ev.room_id !== r.id || !Number.isInteger(ev.seq)) return;
  applyUpdate(r, ev);
  noteChange(r, ev.change_seq);
}

/** Reads the changes of room r after change number since and shows them (one run at a time). */
async function catchUp(r, since) {
  r.changesFrom = r.changesFrom === null ? since : Math.min(r.changesFrom, since);
  if (r.catching) return;
  r.catching = true;
  let from = null;
  try {
    // Again when another catch-up asked for an older start meanwhile.
    while (r.changesFrom !== null && state.room === r) {
      from = r.changesFrom;
      r.changesFrom = null;
      for (let i = 0; i < CHANGE_PAGES; i++) {
        const d = await api.changes(r.id, from);
        if (state.room !== r) return;
        for (const m of d.changes) if (m && m.room_id === r.id && Number.isInteger(m.seq)) applyUpdate(r, m);
        noteChange(r, d.change_seq);
        if (!d.has_more || !(d.change_seq > from)) break;
        from = d.change_seq;
      }
      from = null;
    }
  } catch (e) {
    // The next join reads from there again.
    if (from !== null) r.changesFrom = r.changesFrom === null ? from : Math.min(r.changesFrom, from);
    if (state.room === r) apiFailed(e, 'Could not load the edits and deletions made while you were offline');
  } finally {
    r.catching = false;
  }
}

/** The seq of the last own live message shown in room r, or 0. */
function lastOwnSeq(r) {
  let best = 0;
  for (const [seq, m] of r.msgs) if (seq > best && isMine(m) && !isDeleted(m)) best = seq;
  return best;
}

/** Edits message seq of the open room r in the composer. */
function startEdit(r, seq) {
  const m = r.msgs.get(seq);
  if (state.room !== r || !m || !isMine(m) || isDeleted(m)) return;
  const input = $('msg-input');
  const draft = state.edit ? state.edit.draft : input.value;
  if (state.edit) endEdit(false);
  resetOwnTyping();
  state.edit = { room: r, seq, id: m.id, draft, busy: false };
  const li = $('msg-list').querySelector(`li.msg[data-seq="${Number(seq)}"]`);
  if (li) {
    li.classList.add('editing');
    li.scrollIntoView({ block: 'nearest' });
  }
  fieldError('edit-error', '');
  $('edit-bar').hidden = false;
  $('composer').classList.add('editing');
  $('send').setAttribute('aria-label', 'Save the edit');
  input.setAttribute('aria-describedby', 'edit-title edit-error');
  input.value = m.content;
  autosize();
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
}

/** Leaves editing; restore puts the draft that was in the composer back. */
function endEdit(restore) {
  const ed = state.edit;
  if (!ed) return;
  state.edit = null;
  for (const li of $('msg-list').querySelectorAll('li.msg.editing')) li.classList.remove('editing');
  fieldError('edit-error', '');
  $('edit-bar').hidden = true;
  $('composer').classList.remove('editing');
  $('send').setAttribute('aria-label', 'Send');
  const input = $('msg-input');
  input.removeAttribute('aria-describedby');
  if (restore) {
    input.value = ed.draft;
    autosize();
    if (state.room === ed.room) input.focus();
  }
}

const EDIT_ERRORS = {
  conflict: 'the message was deleted meanwhile.',
  forbidden: 'only its author may edit a message.',
  not_found: 'the message is not there any more.',
};

/** Saves the edit in the composer (Enter, the Save button). */
async function saveEdit() {
  const ed = state.edit;
  const r = state.room;
  if (!ed || ed.busy || !r || ed.room !== r) return;
  const text = $('msg-input').value;
  const cur = r.msgs.get(ed.seq);
  if (!cur || isDeleted(cur)) {
    endEdit(true);
    return;
  }
  if (!text.trim()) {
    fieldError('edit-error', 'A message cannot be empty: to remove it, delete it instead.');
    return;
  }
  if (text === cur.content) {
    endEdit(true); // nothing changed
    return;
  }
  ed.busy = true;
  fieldError('edit-error', '');
  let message = null;
  let error = null;
  const s = state.socket;
  try {
    if (s && s.connected) {
      const ack = await s.timeout(ACK_TIMEOUT_MS).emitWithAck('edit_message', { room_id: r.id, id: ed.id, message: text });
      if (ack && ack.ok && ack.message) message = ack.message;
      else error = (ack && ack.error) || { message: 'no answer from the server' };
    } else {
      ({ message } = await api.editMessage(r.id, ed.id, text));
    }
  } catch (e) {
    error = e instanceof api.ApiError ? e : { code: 'timeout', message: 'no answer from the server. Try again.' };
  }
  ed.busy = false;
  if (error && (error.code === 'unauthorized' || error.status === 401)) {
    sessionEnded();
    return;
  }
  if (state.edit !== ed) return; // cancelled meanwhile
  if (error) {
    if (error.code === 'conflict') showDeleted(r, ed.seq, ed.id);
    if (state.edit !== ed) return;
    fieldError('edit-error', `Not saved: ${EDIT_ERRORS[error.code] || error.message}`);
    $('msg-input').focus();
    return;
  }
  if (message && message.room_id === r.id) applyUpdate(r, message);
  endEdit(true);
}

/** The composer's keys: Enter sends (or saves an edit), Up in an empty composer edits the last own message, Escape cancels an edit. */
function onComposerKey(ev) {
  if (ev.isComposing) return;
  if (ev.key === 'Enter' && !ev.shiftKey) {
    ev.preventDefault();
    $('composer').requestSubmit();
  } else if (ev.key === 'Escape' && state.edit) {
    ev.preventDefault();
    endEdit(true);
  } else if (ev.key === 'ArrowUp' && !state.edit && !ev.shiftKey && !ev.altKey && !ev.ctrlKey && !ev.metaKey && ev.target.value === '' && state.room) {
    const seq = lastOwnSeq(state.room);
    if (!seq) return;
    ev.preventDefault();
    startEdit(state.room, seq);
  }
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
    countMessage(m);
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
  renderSeenBy(r);
  markRead(r);
  if (stick || isMine(m)) scrollToBottom();
  else $('jump').hidden = false;
}

// ---------------------------------------------------------------- sending

function onComposerSubmit(ev) {
  ev.preventDefault();
  if (state.edit) {
    saveEdit();
    return;
  }
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
    // The connection dropped (the disconnect handler bumped attempt): the
    // same client_id goes again after the reconnect. No ack in time on a
    // live connection: it failed, and Retry sends the same client_id
    // again, which the server stores once.
    if (entry.attempt !== attempt) return;
    entry.inflight = false;
    if (state.outbox.get(entry.client_id) !== entry || !s.connected) return;
    failSend(entry, 'no answer from the server');
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
      renderSeenBy(state.room);
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
  failSend(entry, e.message);
}

/** The message is shown as not sent, with Retry (the same client_id) and Discard. */
function failSend(entry, message) {
  entry.status = 'failed';
  entry.error = message;
  renderPendingEntry(entry);
  toast(`Message not sent: ${message}`);
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
  if (state.edit) return; // editing is not typing a new message
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
  for (const u of people) ul.appendChild(personItem(r, u));
  const total = Math.max(r.membersTotal ?? 0, people.length);
  if (total > people.length) {
    ul.appendChild(h('li', { className: 'person more' }, `and ${total - people.length} more`));
  }
  const online = people.filter((u) => u.online).length;
  $('people-count').textContent = String(online);
  $('people-toggle').setAttribute('aria-label', `People: ${online} online of ${total}`);
  renderRoomSub(r);
}

const SHOWN_ROLES = new Set(['owner', 'moderator']);

function personItem(r, u) {
  const you = state.me && u.id === state.me.id;
  const role = u.role || 'member';
  return h(
    'li',
    { className: 'person', dataset: { userId: u.id, username: u.username, online: u.online ? 'true' : 'false', role } },
    h(
      'div',
      { className: 'person-row' },
      avatar(u.username),
      h(
        'div',
        { className: 'person-main' },
        h('div', { className: 'person-line' }, h('span', { className: 'person-name' }, u.username), you ? h('span', { className: 'pill you' }, 'you') : null),
        h(
          'div',
          { className: 'person-sub' },
          SHOWN_ROLES.has(role) ? h('span', { className: 'pill role-badge' }, role) : null,
          h('span', { className: 'person-state' }, u.online ? 'online' : u.last_seen ? ago(u.last_seen) : 'offline'),
        ),
      ),
    ),
    you ? null : personActions(r, u, role),
  );
}

/**
 * The buttons beside a person: "Message" (a direct room with them), and for
 * the owner and moderators "Remove" and "Ban", for the owner the role. Only
 * what the server would allow is shown: nobody removes the owner, a
 * moderator does not remove another moderator, nothing moderates a direct room.
 */
function personActions(r, u, role) {
  const mine = r.info && r.info.role;
  const direct = r.info && r.info.visibility === 'direct';
  const buttons = [];
  const btn = (cls, text, label, fn) =>
    h('button', { type: 'button', className: `btn ghost tiny ${cls}`, 'aria-label': label, on: { click: fn } }, text);
  if (!direct) buttons.push(btn('act-dm', 'Message', `Message ${u.username}`, () => openDm(u.username)));
  if (!direct && canModerate(r) && role !== 'owner' && !(mine === 'moderator' && role === 'moderator')) {
    buttons.push(btn('act-remove', 'Remove', `Remove ${u.username} from the room`, () => removeMember(r, u, false)));
    buttons.push(btn('act-ban', 'Ban', `Ban ${u.username} from the room`, () => removeMember(r, u, true)));
  }
  if (!direct && mine === 'owner' && role !== 'owner') {
    const next = role === 'moderator' ? 'member' : 'moderator';
    const text = next === 'moderator' ? 'Make moderator' : 'Make member';
    buttons.push(btn('act-role', text, `${text}: ${u.username}`, () => changeRole(r, u, next)));
  }
  return buttons.length ? h('div', { className: 'person-actions' }, buttons) : null;
}

/** Opens the direct room with that user (made on first use). */
async function openDm(username) {
  try {
    const { room } = await api.dm(username);
    state.memberOf.add(room.id);
    listRoom(room);
    go(roomPath(room.id));
  } catch (e) {
    apiFailed(e, `Could not open messages with ${username}`);
  }
}

async function removeMember(r, u, ban) {
  try {
    await api.removeMember(r.id, u.id, ban);
  } catch (e) {
    apiFailed(e, `Could not ${ban ? 'ban' : 'remove'} ${u.username}`);
    return;
  }
  // user_left (with its notice) follows; the list need not wait for it.
  if (state.room !== r) return;
  r.members.delete(u.id);
  renderPeople(r);
  toast(`${u.username} was ${ban ? 'banned' : 'removed'}.`, 'info');
}

async function changeRole(r, u, role) {
  let d;
  try {
    d = await api.setRole(r.id, u.id, role);
  } catch (e) {
    apiFailed(e, `Could not change the role of ${u.username}`);
    return;
  }
  if (state.room !== r || !r.members.has(u.id)) return;
  r.members.get(u.id).role = d.role || role;
  renderPeople(r);
}

async function onInviteSubmit(ev) {
  ev.preventDefault();
  const r = state.room;
  const input = $('invite-name');
  const name = input.value.trim();
  fieldError('invite-error', '');
  if (!r) return;
  if (!name) {
    fieldError('invite-error', 'Type the username to add.');
    input.focus();
    return;
  }
  const btn = $('invite-submit');
  btn.disabled = true;
  try {
    const { user } = await api.addMember(r.id, name);
    input.value = '';
    if (state.room === r) {
      r.members.set(user.id, { role: 'member', ...r.members.get(user.id), ...user });
      renderPeople(r);
    }
    toast(`${user.username} was added.`, 'info');
  } catch (e) {
    if (e.status === 401) apiFailed(e);
    else fieldError('invite-error', e.code === 'conflict' ? `${name} is a member already.` : e.message);
    input.focus();
  } finally {
    btn.disabled = false;
  }
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

const LEFT_TEXT = {
  left: (name) => `${name} left the room`,
  kicked: (name) => `${name} was removed from the room`,
  banned: (name) => `${name} was banned from the room`,
};

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
    if (!mine) notice(r, LEFT_TEXT[ev.reason] ? LEFT_TEXT[ev.reason](ev.user.username) : `${ev.user.username} left the room`);
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
  go('/', true);
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
  $('join-form').addEventListener('submit', (ev) => submitSignIn(ev, 'guest', (name) => api.join(name)));
  $('login-form').addEventListener('submit', (ev) => submitSignIn(ev, 'login', api.login));
  $('register-form').addEventListener('submit', (ev) => submitSignIn(ev, 'register', api.register));
  for (const [kind, f] of Object.entries(SIGN_IN)) {
    $(f.tab).addEventListener('click', () => selectTab(kind));
    $(f.tab).addEventListener('keydown', onTabKey);
  }
  $('account-open').addEventListener('click', openAccount);
  $('account-close').addEventListener('click', () => $('account').close());
  $('password-form').addEventListener('submit', onPasswordSubmit);
  $('claim-form').addEventListener('submit', onClaimSubmit);
  $('invite-form').addEventListener('submit', onInviteSubmit);
  $('create-form').addEventListener('submit', onCreateSubmit);
  $('logout').addEventListener('click', onLogout);
  $('rooms-more').addEventListener('click', loadMoreRooms);
  $('composer').addEventListener('submit', onComposerSubmit);
  $('msg-input').addEventListener('input', onComposerInput);
  $('msg-input').addEventListener('keydown', onComposerKey);
  $('edit-cancel').addEventListener('click', () => endEdit(true));
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
  $('search-form').addEventListener('submit', onSearchSubmit);
  $('search-input').addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      ev.preventDefault();
      $('search-form').reset();
      closeSearch();
      $('msg-input').focus();
    }
  });
  $('search-close').addEventListener('click', () => {
    closeSearch();
    $('search-input').focus();
  });
  document.addEventListener('visibilitychange', () => state.room && markRead(state.room));
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
