// Two people in one room, each in their own browser context: live
// messages, acks, typing, presence, join/leave notices, hostile text.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as L from './lib.mjs';

let browser;
let room; // created over REST by its owner
let owner;
before(async () => {
  browser = await L.launch();
  owner = await L.joinRest('owner');
  room = await L.createRoomRest(owner.token, L.uniqueName('live'), 'two browsers, one room');
});
after(async () => {
  await browser?.close();
});

/** Two signed-in users with the room open (desktop and phone). */
async function pair(prefixA = 'ann', prefixB = 'ben') {
  const a = await L.signIn(browser, { prefix: prefixA });
  const b = await L.signIn(browser, { prefix: prefixB, viewport: L.PHONE, isMobile: true });
  await L.openRoom(a.page, room.id);
  await L.openRoom(b.page, room.id);
  // Each sees the other online.
  await a.page.locator(`#people-list .person[data-username="${b.name}"][data-online="true"]`).waitFor();
  await b.page.locator(`#people-list .person[data-username="${a.name}"][data-online="true"]`).waitFor();
  return [a, b];
}

test('a message sent in one browser shows live in the other, once, in seq order', async () => {
  const [a, b] = await pair();
  try {
    const text = `hello from A ${Date.now()}`;
    await L.sendUi(a.page, text);
    // The sender: pending until the ack, then confirmed with a seq.
    await L.waitMessage(a.page, text);
    await a.page.waitForFunction(() => document.querySelectorAll('#pending-list li').length === 0);
    // The other: live, without reloading.
    await L.waitMessage(b.page, text);
    for (const p of [a.page, b.page]) {
      const texts = await L.shownTexts(p);
      assert.equal(texts.filter((t) => t === text).length, 1, 'shown exactly once (ack and new_message de-duplicated)');
      const seqs = await L.shownSeqs(p);
      assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), 'in seq order');
    }
    // It is the stored message: same seq as the server's history.
    const hist = await L.historyRest(owner.token, room.id);
    const stored = hist.messages.find((m) => m.content === text);
    assert.ok(stored, 'stored');
    assert.equal(stored.username, a.name);
    assert.match(stored.client_id ?? '', /\S/, 'sent with a client_id');
    const seqB = await b.page.locator('#msg-list .msg').filter({ hasText: text }).getAttribute('data-seq');
    assert.equal(Number(seqB), stored.seq);

    // And the other way round, from the phone.
    const reply = `reply from B ${Date.now()}`;
    await L.sendUi(b.page, reply);
    await L.waitMessage(a.page, reply);
    L.assertClean(a, 'A');
    L.assertClean(b, 'B');
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test('a message the server refuses is marked "not sent" with its reason, and can be discarded', async () => {
  const s = await L.signIn(browser, { prefix: 'refused' });
  try {
    await L.openRoom(s.page, room.id);
    const long = 'x'.repeat(4001);
    const r = await L.api('POST', `/api/messages/${room.id}`, { token: owner.token, body: { message: long } });
    assert.equal(r.status, 400, r.text);
    const reason = r.json.error.message;
    await s.page.locator('#msg-input').fill(long);
    await s.page.locator('#send').click();
    const failed = s.page.locator('#pending-list li[data-status="failed"]');
    await failed.waitFor();
    assert.equal(await failed.locator('.status-text').textContent(), `Not sent: ${reason}`);
    const t = s.page.locator('#toasts .toast.error').filter({ hasText: reason });
    await t.waitFor();
    assert.equal(await t.isVisible(), true);
    assert.equal(await s.page.locator('#msg-list .msg').filter({ hasText: 'xxxxxxxxxx' }).count(), 0);
    await failed.getByRole('button', { name: 'Discard' }).click();
    assert.equal(await s.page.locator('#pending-list li').count(), 0);
    L.assertClean(s);
  } finally {
    await s.context.close();
  }
});

test('"X is typing…" appears and disappears', async () => {
  const [a, b] = await pair('typa', 'typb');
  try {
    const typing = b.page.locator('#typing');
    assert.equal(await typing.textContent(), '');
    await a.page.locator('#msg-input').pressSequentially('I am writi', { delay: 40 });
    await b.page.waitForFunction((n) => document.getElementById('typing').textContent === `${n} is typing…`, a.name, { timeout: 5000 });
    // The typist does not see themself typing.
    assert.equal(await a.page.locator('#typing').textContent(), '');

    // Clearing the box stops it at once (is_typing:false), well before the
    // server's 5 s expiry.
    await a.page.locator('#msg-input').fill('');
    await a.page.locator('#msg-input').dispatchEvent('input');
    const t0 = Date.now();
    await b.page.waitForFunction(() => document.getElementById('typing').textContent === '', null, { timeout: 2500 });
    assert.ok(Date.now() - t0 < 2500);

    // Typing again, then pausing: it goes away by itself.
    await a.page.locator('#msg-input').pressSequentially('still here', { delay: 40 });
    await b.page.waitForFunction((n) => document.getElementById('typing').textContent.includes(n), a.name, { timeout: 5000 });
    await b.page.waitForFunction(() => document.getElementById('typing').textContent === '', null, { timeout: 9000 });
    L.assertClean(a, 'A');
    L.assertClean(b, 'B');
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test('presence: closing one browser shows its user offline in the other', async () => {
  const [a, b] = await pair('presa', 'presb');
  try {
    const bInA = a.page.locator(`#people-list .person[data-username="${b.name}"]`);
    assert.equal(await bInA.getAttribute('data-online'), 'true');
    await b.context.close();
    // 3 s grace (CHAT_WS_GRACE), then user_status offline.
    await a.page.locator(`#people-list .person[data-username="${b.name}"][data-online="false"]`).waitFor({ timeout: 12_000 });
    assert.equal(await a.page.locator(`#people-list .person[data-username="${a.name}"]`).getAttribute('data-online'), 'true');
    L.assertClean(a, 'A');
  } finally {
    await a.context.close();
    await b.context.close().catch(() => {});
  }
});

test('join and leave notices, and the member list follows them', async () => {
  const a = await L.signIn(browser, { prefix: 'notea' });
  await L.openRoom(a.page, room.id);
  const b = await L.signIn(browser, { prefix: 'noteb', viewport: L.PHONE, isMobile: true });
  try {
    // B joins the room for the first time: A is told.
    await L.openRoom(b.page, room.id);
    await a.page.locator('#msg-list .notice').filter({ hasText: `${b.name} joined the room` }).waitFor();
    await a.page.locator(`#people-list .person[data-username="${b.name}"]`).waitFor();
    // B leaves (the button is in the people panel on a phone).
    await b.page.locator('#people-toggle').click();
    await b.page.locator('#room-leave').click();
    await b.page.locator('#view-home').waitFor();
    await a.page.locator('#msg-list .notice').filter({ hasText: `${b.name} left the room` }).waitFor();
    await a.page.waitForFunction((n) => !document.querySelector(`#people-list .person[data-username="${n}"]`), b.name);
    L.assertClean(a, 'A');
    L.assertClean(b, 'B');
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test('a hostile message is shown as text: no element, no script', async () => {
  const [a, b] = await pair('xssa', 'xssb');
  try {
    const evil = '<img src=x onerror=alert(1)>';
    await L.sendUi(a.page, evil);
    await L.waitMessage(b.page, evil);
    for (const s of [a, b]) {
      const last = s.page.locator('#msg-list .msg .msg-text').last();
      assert.equal(await last.textContent(), evil);
      assert.equal(await last.evaluate((el) => el.children.length), 0, 'no child element in the message');
      assert.equal(await s.page.locator('img').count(), 0, 'no img element anywhere');
      L.assertClean(s);
    }
    // Give a late onerror a moment to fire, if one had been created.
    await b.page.waitForTimeout(300);
    assert.deepEqual(b.dialogs, []);

    // Screenshots of a populated room (desktop and phone).
    await L.sendUi(b.page, 'Looks like plain text to me. Nothing ran.');
    await L.waitMessage(a.page, 'Looks like plain text to me. Nothing ran.');
    const twoLines = 'Good. Angle brackets, "quotes" & ampersands are just characters.\nA second line, too.';
    await a.page.locator('#msg-input').fill(twoLines);
    await a.page.locator('#send').click();
    await L.waitMessage(b.page, twoLines);
    await b.page.locator('#msg-input').pressSequentially('Agreed', { delay: 30 });
    await a.page.waitForFunction(() => document.getElementById('typing').textContent !== '');
    await L.screenshot(a.page, 'room-desktop');
    await L.screenshot(b.page, 'room-phone');
    await b.page.locator('#people-toggle').click();
    await b.page.waitForFunction(() => document.getElementById('people').getBoundingClientRect().right <= window.innerWidth + 1);
    await b.page.waitForTimeout(250);
    await L.screenshot(b.page, 'room-phone-people');
  } finally {
    await a.context.close();
    await b.context.close();
  }
});
