// Editing messages in the page (DESIGN §8): the author edits their own
// message in the composer (Edit under it, or Up in an empty composer; Enter
// saves, Escape cancels and puts the draft back), every other page shows the
// new text at once (message_updated) with an "edited" mark that history
// keeps; nobody gets Edit on someone else's message; errors are said under
// the composer. A page that was offline catches up the edits and deletions
// of messages older than its since_seq (Room.change_seq, GET …/changes)
// without a reload.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as L from './lib.mjs';

let browser;
let wsStopped = false;
before(async () => {
  browser = await L.launch();
});
after(async () => {
  // Never leave the suite's stack without its bridge.
  if (wsStopped) L.stack('ws-start');
  await browser?.close();
});

const item = (page, id) => page.locator(`#msg-list li.msg[data-id="${id}"]`);
const textOf = (page, id) => item(page, id).locator('.msg-text').textContent();

/** Waits until message id shows exactly text, marked edited. */
async function waitEdited(page, id, text, timeout = 10_000) {
  await page.waitForFunction(
    ([i, t]) => {
      const li = document.querySelector(`#msg-list li.msg[data-id="${i}"]`);
      return li && li.querySelector('.msg-text').textContent === t && li.querySelector('.edited-mark')?.textContent === 'edited';
    },
    [id, text],
    { timeout },
  );
}

async function editing(page) {
  return !(await page.locator('#edit-bar').isHidden());
}

/**
 * Waits until the page has left its edit. A save ends the edit on its ack,
 * which may come a moment after the message_edited broadcast has already
 * shown the new text (both follow the same COMMIT, on two connections).
 */
async function editEnds(page, what) {
  try {
    await page.locator('#edit-bar').waitFor({ state: 'hidden', timeout: 10_000 });
  } catch {
    assert.fail(what);
  }
}

const HOSTILE = '<img src=x onerror="window.__pwned=1">fixed <b>bold</b> &amp; {{x}} \u202e';

test('two browsers: the author edits and deletes, the others see both at once; no Edit on someone else\'s message; edited after a reload; hostile text stays text', async () => {
  const alice = await L.registerRest('ealice');
  const bob = await L.registerRest('ebob');
  const room = await L.createRoomRest(alice.token, L.uniqueName('edit'));
  await L.joinRoomRest([bob], room.id);
  const bobs = await L.sendRest(bob.token, room.id, 'bob says hi');
  const a = await L.openAs(browser, alice.token, { record: 'edit_message' });
  const a2 = await L.openAs(browser, alice.token); // alice's second tab
  const b = await L.openAs(browser, bob.token, { viewport: L.PHONE, isMobile: true });
  try {
    for (const s of [a, a2, b]) await L.openRoom(s.page, room.id);
    await L.sendUi(a.page, 'a typo mesage');
    await L.sendUi(a.page, 'to be taken back');
    for (const s of [a, a2, b]) await L.waitMessage(s.page, 'to be taken back');
    const hist = (await L.historyRest(alice.token, room.id)).messages;
    const typo = hist.find((m) => m.content === 'a typo mesage');
    const gone = hist.find((m) => m.content === 'to be taken back');
    assert.equal(typo.edited_at, null);

    // Edit only on one's own messages: bob none on alice's, alice (the
    // owner, who may delete bob's message) none on bob's.
    assert.equal(await item(a.page, typo.id).locator('.msg-edit').isVisible(), true);
    assert.equal(await item(a2.page, typo.id).locator('.msg-edit').isVisible(), true);
    assert.equal(await item(b.page, typo.id).locator('.msg-edit').count(), 0, 'no Edit on someone else\'s message');
    assert.equal(await item(b.page, bobs.id).locator('.msg-edit').isVisible(), true);
    assert.equal(await item(a.page, bobs.id).locator('.msg-edit').count(), 0, 'the owner cannot edit bob\'s message');
    assert.equal(await item(a.page, bobs.id).locator('.msg-delete').isVisible(), true, 'the owner may delete it');

    // Edit: the composer holds the text, the message is marked as being edited.
    await item(a.page, typo.id).locator('.msg-edit').click();
    assert.equal(await editing(a.page), true);
    assert.equal(await a.page.locator('#msg-input').inputValue(), 'a typo mesage');
    assert.equal(await item(a.page, typo.id).evaluate((li) => li.classList.contains('editing')), true);
    await a.page.locator('#msg-input').fill(HOSTILE);
    await L.screenshot(a.page, 'edit-composer');
    await a.page.locator('#msg-input').press('Enter');
    for (const s of [a, a2, b]) await waitEdited(s.page, typo.id, HOSTILE);
    await editEnds(a.page, 'saving leaves the edit');
    assert.equal(await a.page.locator('#msg-input').inputValue(), '');
    assert.deepEqual(a.recorded.map((p) => [p.room_id, p.id, p.message]), [[room.id, typo.id, HOSTILE]], 'one edit_message');
    for (const s of [a, a2, b]) {
      assert.equal(await s.page.locator('#msg-list img').count(), 0, 'no markup from the text');
      assert.equal(await s.page.evaluate(() => window.__pwned), undefined);
      assert.equal(await textOf(s.page, typo.id), HOSTILE);
    }
    assert.equal(await item(b.page, typo.id).locator('.msg-text b').count(), 0);
    const edited = (await L.historyRest(bob.token, room.id)).messages.find((m) => m.id === typo.id);
    assert.equal(edited.content, HOSTILE);
    assert.equal(typeof edited.edited_at, 'string');
    await L.screenshot(b.page, 'edit-seen-phone');

    // Delete the other one: a tombstone on every page at once.
    await item(a.page, gone.id).locator('.msg-delete').click();
    await item(a.page, gone.id).locator('.msg-delete-yes').click();
    for (const s of [a, a2, b]) await L.waitTomb(s.page, gone.id);
    assert.equal(await item(b.page, gone.id).locator('.msg-edit, .edited-mark').count(), 0);

    // A reload: the edited mark and the text come from history.
    await b.page.reload();
    await L.waitConn(b.page, 'online');
    await L.openRoom(b.page, room.id);
    await waitEdited(b.page, typo.id, HOSTILE);
    await L.waitTomb(b.page, gone.id);
    assert.match(await item(b.page, typo.id).locator('.edited-mark').getAttribute('title'), /^Edited /);
    assert.equal(await item(b.page, bobs.id).locator('.edited-mark').count(), 0, 'an unedited message has no mark');
    for (const s of [a, a2, b]) L.assertClean(s);
  } finally {
    for (const s of [a, a2, b]) await s.context.close();
  }
});

test('keyboard: Up in an empty composer edits the last own live message, Escape restores the draft, Enter saves; errors are shown', async () => {
  const me = await L.registerRest('ekeys');
  const other = await L.registerRest('eother');
  const room = await L.createRoomRest(me.token, L.uniqueName('editkeys'));
  await L.joinRoomRest([other], room.id);
  const s = await L.openAs(browser, me.token);
  const input = s.page.locator('#msg-input');
  try {
    await L.openRoom(s.page, room.id);
    await L.sendUi(s.page, 'first of mine');
    await L.sendUi(s.page, 'second of mine');
    await L.waitMessage(s.page, 'second of mine');
    const hist = (await L.historyRest(me.token, room.id)).messages;
    const first = hist.find((m) => m.content === 'first of mine');
    const second = hist.find((m) => m.content === 'second of mine');
    // The last message is someone else's, the last own one is deleted.
    await L.sendRest(other.token, room.id, 'not yours to edit');
    await L.waitMessage(s.page, 'not yours to edit');
    assert.equal((await L.api('DELETE', `/api/messages/${room.id}/${second.id}`, { token: me.token })).status, 200);
    await L.waitTomb(s.page, second.id);

    // Up with text in the composer moves the caret, edits nothing.
    await input.fill('a draft');
    await input.press('ArrowUp');
    assert.equal(await editing(s.page), false);
    // Up in the empty composer: the last own live message.
    await input.fill('');
    await input.press('ArrowUp');
    assert.equal(await editing(s.page), true);
    assert.equal(await input.inputValue(), 'first of mine');
    assert.equal(await item(s.page, first.id).evaluate((li) => li.classList.contains('editing')), true);
    // Escape: nothing changed, the composer as it was.
    await input.press('End');
    await input.type(' (changed my mind)');
    await input.press('Escape');
    assert.equal(await editing(s.page), false);
    assert.equal(await input.inputValue(), '');
    assert.equal(await textOf(s.page, first.id), 'first of mine');
    assert.equal(await item(s.page, first.id).locator('.edited-mark').count(), 0);

    // Edit from the control with a draft written: Escape brings the draft back.
    await input.fill('half a thought');
    await item(s.page, first.id).locator('.msg-edit').click();
    assert.equal(await input.inputValue(), 'first of mine');
    await input.press('Escape');
    assert.equal(await input.inputValue(), 'half a thought');
    assert.equal(await s.page.evaluate(() => document.activeElement.id), 'msg-input');

    // An empty edit is refused in the page (delete is the way to remove it).
    await input.fill('');
    await input.press('ArrowUp');
    await input.fill('   ');
    await input.press('Enter');
    await s.page.locator('#edit-error').waitFor();
    assert.match(await s.page.locator('#edit-error').textContent(), /cannot be empty/);
    assert.equal(await editing(s.page), true, 'still editing');
    // Enter saves; the composer is empty again (its draft was empty).
    await input.fill('first of mine, fixed');
    await input.press('Enter');
    await waitEdited(s.page, first.id, 'first of mine, fixed');
    await editEnds(s.page, 'saving leaves the edit');
    assert.equal(await input.inputValue(), '');
    assert.equal(await s.page.locator('#edit-error').isHidden(), true);

    // Deleted elsewhere while being edited: the edit ends and says so.
    await input.press('ArrowUp');
    assert.equal(await editing(s.page), true);
    assert.equal((await L.api('DELETE', `/api/messages/${room.id}/${first.id}`, { token: me.token })).status, 200);
    await L.waitTomb(s.page, first.id);
    await L.waitToast(s.page, 'The message you were editing was deleted.');
    assert.equal(await editing(s.page), false);
    // No own live message left: Up does nothing.
    await input.press('ArrowUp');
    assert.equal(await editing(s.page), false);

    // rate_limited: the user's message budget (shared by sends and edits)
    // is kept empty over REST while the page saves; the reason is shown,
    // the edit stays open with the text, and Escape leaves it.
    await L.sendUi(s.page, 'edit me under pressure');
    await L.waitMessage(s.page, 'edit me under pressure');
    let shown = null;
    for (let attempt = 1; attempt <= 5 && shown === null; attempt++) {
      const drain = L.drainSendBudget(me.token, room.id, attempt);
      await drain.limited;
      await input.fill('');
      await input.press('ArrowUp'); // the newest own message: a filler, or the last try
      await input.fill(`pressed ${attempt}`);
      await input.press('Enter');
      await s.page.waitForFunction(() => !document.getElementById('edit-error').hidden || document.getElementById('edit-bar').hidden);
      await drain.stop();
      if (await editing(s.page)) shown = await s.page.locator('#edit-error').textContent();
    }
    assert.ok(shown, 'one save was rate limited');
    assert.match(shown, /^Not saved: .+/);
    assert.match(await input.inputValue(), /^pressed \d$/, 'the text is kept');
    await L.screenshot(s.page, 'edit-rate-limited');
    await input.press('Escape');
    assert.equal(await editing(s.page), false);
    L.assertClean(s);
  } finally {
    await s.context.close();
  }
});

test('offline: edits and deletions of messages older than since_seq are caught up after the reconnect, without a reload', async () => {
  const alice = await L.registerRest('calice');
  const bob = await L.registerRest('cbob');
  const room = await L.createRoomRest(alice.token, L.uniqueName('catchup'));
  await L.joinRoomRest([bob], room.id);
  const m1 = await L.sendRest(alice.token, room.id, 'old one');
  const m2 = await L.sendRest(alice.token, room.id, 'old two');
  const m3 = await L.sendRest(alice.token, room.id, 'old three');
  // One change before bob looks: the counter bob starts from is not 0.
  const p0 = await L.api('PATCH', `/api/messages/${room.id}/${m3.id}`, { token: alice.token, body: { message: 'old three, v2' } });
  assert.equal(p0.status, 200, p0.text);
  const b = await L.newPage(browser);
  const changeCalls = [];
  b.page.on('request', (req) => {
    if (req.url().includes(`/api/messages/${encodeURIComponent(room.id)}/changes`)) changeCalls.push(new URL(req.url()).searchParams.get('since'));
  });
  await b.context.addCookies([{ name: 'chat_token', value: bob.token, url: L.BASE, httpOnly: true, sameSite: 'Lax' }]);
  await b.page.goto(`${L.BASE}/chat/${encodeURIComponent(room.id)}`);
  try {
    await L.waitConn(b.page, 'online');
    await b.page.locator('#history-start').waitFor();
    await waitEdited(b.page, m3.id, 'old three, v2');
    assert.deepEqual(await L.shownSeqs(b.page), [1, 2, 3]);
    const roomNow = (await L.api('GET', `/api/rooms/${room.id}`, { token: bob.token })).json.data.room;
    assert.equal(roomNow.change_seq, 1);

    // bob's page goes offline (the bridge stops); meanwhile alice edits one
    // old message, deletes another (both at or before bob's since_seq 3)
    // and writes a new one.
    wsStopped = true;
    L.stack('ws-stop');
    await L.waitConn(b.page, 'reconnecting', 10_000);
    const p1 = await L.api('PATCH', `/api/messages/${room.id}/${m1.id}`, { token: alice.token, body: { message: 'old one, <i>edited</i> offline' } });
    assert.equal(p1.status, 200, p1.text);
    const d2 = await L.api('DELETE', `/api/messages/${room.id}/${m2.id}`, { token: alice.token });
    assert.equal(d2.status, 200, d2.text);
    await L.sendRest(alice.token, room.id, 'new while away');
    assert.equal(await textOf(b.page, m1.id), 'old one', 'nothing live while offline');

    L.stack('ws-start');
    wsStopped = false;
    await L.waitConn(b.page, 'online', 20_000);
    await L.waitMessage(b.page, 'new while away', 15_000);
    await waitEdited(b.page, m1.id, 'old one, <i>edited</i> offline', 15_000);
    await L.waitTomb(b.page, m2.id, 15_000);
    assert.equal(await b.page.locator('#msg-list i').count(), 0);
    await waitEdited(b.page, m3.id, 'old three, v2');
    assert.deepEqual(await L.shownSeqs(b.page), [1, 2, 3, 4], 'no gap, no duplicate');
    assert.deepEqual(changeCalls, ['1'], 'one call for the changes after the counter bob knew');
    await L.screenshot(b.page, 'edit-caught-up');

    // Live again: a later edit arrives as an event, with no further call.
    const p3 = await L.api('PATCH', `/api/messages/${room.id}/${m3.id}`, { token: alice.token, body: { message: 'old three, v3' } });
    assert.equal(p3.status, 200, p3.text);
    await waitEdited(b.page, m3.id, 'old three, v3');
    assert.deepEqual(changeCalls, ['1']);
    L.assertClean(b, 'bob');
  } finally {
    if (wsStopped) {
      L.stack('ws-start');
      wsStopped = false;
    }
    await b.context.close();
  }
});

test('offline: more changes than one page of /changes are read page after page', async () => {
  const alice = await L.registerRest('palice');
  const bob = await L.registerRest('pbob');
  const room = await L.createRoomRest(alice.token, L.uniqueName('changepages'));
  await L.joinRoomRest([bob], room.id);
  // 105 messages of 105 writers (one each: no one's send budget runs out).
  const ids = [];
  for (let i = 0; i < 105; i += 15) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(15, 105 - i) }, async (_, k) => {
        const w = await L.joinRest('pw', room.id);
        return L.sendRest(w.token, room.id, `message ${i + k}`);
      }),
    );
    ids.push(...batch.sort((x, y) => x.seq - y.seq).map((m) => m.id));
  }
  const b = await L.openAs(browser, bob.token);
  const changeCalls = [];
  b.page.on('request', (req) => {
    if (req.url().includes(`/api/messages/${encodeURIComponent(room.id)}/changes`)) changeCalls.push(new URL(req.url()).searchParams.get('since'));
  });
  try {
    await L.openRoom(b.page, room.id);
    const shown = await L.shownSeqs(b.page);
    assert.equal(shown.length, 50, 'the newest page');
    wsStopped = true;
    L.stack('ws-stop');
    await L.waitConn(b.page, 'reconnecting', 10_000);
    // The owner deletes every message, oldest first: changes 1..105.
    const hist = (await L.historyRest(alice.token, room.id)).messages;
    for (const m of hist) {
      const d = await L.api('DELETE', `/api/messages/${room.id}/${m.id}`, { token: alice.token });
      assert.equal(d.status, 200, d.text);
    }
    L.stack('ws-start');
    wsStopped = false;
    await L.waitConn(b.page, 'online', 20_000);
    const byId = new Map(hist.map((m) => [m.seq, m.id]));
    for (const seq of shown) await L.waitTomb(b.page, byId.get(seq), 15_000);
    assert.deepEqual(changeCalls, ['0', '100'], 'two pages: since 0, then since the last change of the first');
    assert.deepEqual(await L.shownSeqs(b.page), shown);
    L.assertClean(b, 'bob');
  } finally {
    if (wsStopped) {
      L.stack('ws-start');
      wsStopped = false;
    }
    await b.context.close();
  }
});
