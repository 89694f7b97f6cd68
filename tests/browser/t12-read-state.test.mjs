// Read state in the page (DESIGN §8): unread badges on the room list from
// Room.unread, counting up live (new_message of member rooms not open) and
// cleared by opening the room (mark_read) — in this tab and, through the
// `read` event, in the user's other tabs; the "seen by" line under the
// newest message of a small room (GET /api/rooms/{id}/reads, live by
// read_receipt); the search box of the open room.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as L from './lib.mjs';

let browser;
before(async () => {
  browser = await L.launch();
});
after(async () => {
  await browser?.close();
});

/** The room's entry on the home list (pages through "Show more rooms" when needed). */
async function listed(page, roomId) {
  const li = page.locator(`#room-list li[data-room-id="${roomId}"], #dm-list li[data-room-id="${roomId}"]`);
  for (let i = 0; i < 20 && (await li.count()) === 0; i++) {
    await page.locator('#room-list li').first().waitFor();
    if ((await li.count()) > 0) break;
    const more = page.locator('#rooms-more');
    if (!(await more.isVisible())) {
      await li.waitFor();
      break;
    }
    await more.click();
    await page.waitForFunction(() => !document.getElementById('rooms-more').disabled);
  }
  return li;
}

/** Waits until the room's badge shows text ('' = no badge). */
async function waitBadge(page, roomId, text, timeout = 10_000) {
  await page.waitForFunction(
    ([id, t]) => {
      const li = document.querySelector(`#room-list li[data-room-id="${id}"], #dm-list li[data-room-id="${id}"]`);
      if (!li) return false;
      const b = li.querySelector('.unread-badge');
      return t === '' ? !b : Boolean(b) && b.textContent === t;
    },
    [roomId, text],
    { timeout },
  );
}

test('unread badges: from the list, counting up live, cleared by opening the room, in the other tab too', async () => {
  const alice = await L.registerRest('ualice');
  const bob = await L.registerRest('ubob');
  const room = await L.createRoomRest(bob.token, L.uniqueName('unread'));
  await L.joinRoomRest([alice], room.id);
  await L.sendRest(bob.token, room.id, 'one');
  await L.sendRest(bob.token, room.id, 'two');
  // Two tabs of alice (one session), both on the room list.
  const a = await L.openAs(browser, alice.token);
  const b = await L.openAs(browser, alice.token, { viewport: L.PHONE, isMobile: true });
  try {
    await listed(a.page, room.id);
    await listed(b.page, room.id);
    await waitBadge(a.page, room.id, '2');
    await waitBadge(b.page, room.id, '2');
    assert.equal(await (await listed(a.page, room.id)).locator('.unread-badge').getAttribute('aria-label'), '2 unread messages');

    // A new message: both badges count it, without a reload.
    await L.sendRest(bob.token, room.id, 'three');
    await waitBadge(a.page, room.id, '3');
    await waitBadge(b.page, room.id, '3');
    // Her own message (from elsewhere) is never unread and reads the room.
    await L.sendRest(alice.token, room.id, 'mine');
    await waitBadge(a.page, room.id, '');
    await L.sendRest(bob.token, room.id, 'four');
    await waitBadge(a.page, room.id, '1');
    await waitBadge(b.page, room.id, '1');
    await L.screenshot(b.page, 'unread-badge-phone');

    // Tab B opens the room: read; tab A's badge clears at once (`read`).
    await (await listed(b.page, room.id)).locator('a').click();
    await L.waitMessage(b.page, 'four');
    await waitBadge(a.page, room.id, '');
    // Back on the list in B: no badge either, also after a reload of A.
    await b.page.locator('#room-back').click();
    await b.page.locator('#view-home').waitFor();
    await listed(b.page, room.id);
    await waitBadge(b.page, room.id, '');
    await a.page.reload();
    await L.waitConn(a.page, 'online');
    await listed(a.page, room.id);
    await waitBadge(a.page, room.id, '');
    const rooms = await L.api('GET', '/api/rooms?limit=200', { token: alice.token });
    const rr = rooms.json.data.rooms.find((x) => x.id === room.id);
    if (rr) assert.equal(rr.unread, 0);

    // A message while A has the room open is read there: B's badge stays away.
    await L.openRoom(a.page, room.id);
    await L.sendRest(bob.token, room.id, 'five');
    await L.waitMessage(a.page, 'five');
    for (let i = 0; i < 100; i++) {
      const one = await L.api('GET', `/api/rooms/${room.id}`, { token: alice.token });
      if (one.json.data.room.unread === 0) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    const now = await L.api('GET', `/api/rooms/${room.id}`, { token: alice.token });
    assert.equal(now.json.data.room.unread, 0, 'the open room marked it read');
    await waitBadge(b.page, room.id, '');
    L.assertClean(a, 'tab A');
    L.assertClean(b, 'tab B');
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test('the two tabs clear each other: A reads, B\'s badge goes; new in B, B reads, A\'s goes', async () => {
  const carol = await L.registerRest('ucarol');
  const dave = await L.registerRest('udave');
  const room = await L.createRoomRest(dave.token, L.uniqueName('tabs'));
  await L.joinRoomRest([carol], room.id);
  await L.sendRest(dave.token, room.id, 'hello carol');
  const a = await L.openAs(browser, carol.token);
  const b = await L.openAs(browser, carol.token);
  try {
    await listed(a.page, room.id);
    await listed(b.page, room.id);
    await waitBadge(b.page, room.id, '1');
    await L.openRoom(a.page, room.id);
    await waitBadge(b.page, room.id, '');
    await a.page.locator('#room-back').click();
    await a.page.locator('#view-home').waitFor();
    await L.sendRest(dave.token, room.id, 'again');
    await listed(a.page, room.id);
    await waitBadge(a.page, room.id, '1');
    await waitBadge(b.page, room.id, '1');
    await L.openRoom(b.page, room.id);
    await waitBadge(a.page, room.id, '');
    L.assertClean(a, 'tab A');
    L.assertClean(b, 'tab B');
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test('seen by: under the newest message of a small room, live as the others read it', async () => {
  const erin = await L.registerRest('serin');
  const finn = await L.registerRest('sfinn');
  const gail = await L.registerRest('sgail');
  const room = await L.createRoomRest(erin.token, L.uniqueName('seen'));
  await L.joinRoomRest([finn, gail], room.id);
  const e = await L.openAs(browser, erin.token);
  const f = await L.openAs(browser, finn.token);
  try {
    await L.openRoom(e.page, room.id);
    await L.sendUi(e.page, 'did you see this?');
    await L.waitMessage(e.page, 'did you see this?');
    assert.equal(await e.page.locator('#seen-by').isVisible(), false, 'nobody has read it yet');
    // finn opens the room: erin sees it at once.
    await L.openRoom(f.page, room.id);
    await L.waitMessage(f.page, 'did you see this?');
    await e.page.waitForFunction((n) => document.getElementById('seen-by').textContent === `Seen by ${n}`, finn.user.username);
    // gail reads over REST: she joins the line.
    const last = (await L.historyRest(gail.token, room.id)).messages.at(-1);
    const rd = await L.api('POST', `/api/rooms/${room.id}/read`, { token: gail.token, body: { seq: last.seq } });
    assert.equal(rd.status, 200, rd.text);
    const both = [finn.user.username, gail.user.username].sort((x, y) => x.localeCompare(y)).join(', ');
    await e.page.waitForFunction((t) => document.getElementById('seen-by').textContent === `Seen by ${t}`, both);
    // finn sees who else read it (not himself), after a fresh load too.
    await f.page.waitForFunction((n) => document.getElementById('seen-by').textContent === `Seen by ${n}`, gail.user.username);
    await L.screenshot(e.page, 'seen-by');
    // A new message: nobody has seen that one.
    await L.sendRest(gail.token, room.id, 'a newer one');
    await L.waitMessage(e.page, 'a newer one');
    // erin reads it (the room is open): gail wrote it; the line names only erin, for finn.
    await f.page.waitForFunction((n) => document.getElementById('seen-by').textContent === `Seen by ${n}`, erin.user.username);
    L.assertClean(e, 'erin');
    L.assertClean(f, 'finn');
  } finally {
    await e.context.close();
    await f.context.close();
  }
});

test('search box: finds messages of the open room, newest first; hostile queries are just text; Escape closes', async () => {
  const hank = await L.registerRest('qhank');
  const room = await L.createRoomRest(hank.token, L.uniqueName('search'));
  await L.sendRest(hank.token, room.id, 'the release notes are ready');
  await L.sendRest(hank.token, room.id, 'lunch at noon');
  await L.sendRest(hank.token, room.id, 'draft release notes, do not share');
  const other = await L.createRoomRest(hank.token, L.uniqueName('elsewhere'));
  await L.sendRest(hank.token, other.id, 'release notes in another room');
  const s = await L.openAs(browser, hank.token);
  try {
    await L.openRoom(s.page, room.id);
    await s.page.locator('#search-input').fill('release notes');
    await s.page.locator('#search-input').press('Enter');
    await s.page.waitForFunction(() => document.getElementById('search-summary').textContent === '2 messages found for “release notes”');
    const hits = await s.page.$$eval('#search-list .search-hit .msg-text', (els) => els.map((x) => x.textContent));
    assert.deepEqual(hits, ['draft release notes, do not share', 'the release notes are ready'], 'newest first, this room only');
    // A hit that is shown in the room: clicking it scrolls there.
    await s.page.locator('#search-list .search-hit-btn').first().click();
    await s.page.locator('#msg-list li.msg.found').waitFor();
    // Web-search syntax: a phrase and an excluded word.
    await s.page.locator('#search-input').fill('"release notes" -draft');
    await s.page.locator('#search-input').press('Enter');
    await s.page.waitForFunction(() => document.getElementById('search-summary').textContent.startsWith('1 message found'));
    // Hostile input: tsquery operators and SQL metacharacters are text.
    for (const q of ["'; DROP TABLE messages; --", 'a & | ! ( ) :* <->', '<b>bold</b>']) {
      await s.page.locator('#search-input').fill(q);
      await s.page.locator('#search-input').press('Enter');
      await s.page.waitForFunction((t) => document.getElementById('search-summary').textContent === `Nothing found for “${t}”`, q);
    }
    assert.equal(await s.page.locator('#search-results b').count(), 0);
    await L.screenshot(s.page, 'search');
    await s.page.locator('#search-input').press('Escape');
    assert.equal(await s.page.locator('#search-results').isVisible(), false);
    assert.equal(await s.page.evaluate(() => document.activeElement.id), 'msg-input');
    L.assertClean(s);
  } finally {
    await s.context.close();
  }
});
