// Deleting messages in the page (DESIGN §8): the author deletes their own
// message through an inline "Delete? Yes / No" (no dialog) and the other
// user's open view turns it into a tombstone at once (message_deleted); a
// moderator has the control on everyone's messages, a plain member only on
// their own; tombstones in history never show "null".
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

const item = (page, id) => page.locator(`#msg-list li.msg[data-id="${id}"]`);
const delVisible = (page, id) => item(page, id).locator('.msg-delete').isVisible();

test('the author deletes their own message; the other view shows the tombstone at once; no dialog', async () => {
  const alice = await L.registerRest('dalice');
  const bob = await L.registerRest('dbob');
  const room = await L.createRoomRest(alice.token, L.uniqueName('del'));
  await L.joinRoomRest([bob], room.id);
  const before = await L.sendRest(bob.token, room.id, 'bob was here first');
  const a = await L.openAs(browser, alice.token);
  const b = await L.openAs(browser, bob.token, { viewport: L.PHONE, isMobile: true });
  try {
    await L.openRoom(a.page, room.id);
    await L.openRoom(b.page, room.id);
    await L.sendUi(a.page, 'a message I regret');
    await L.waitMessage(a.page, 'a message I regret');
    await L.waitMessage(b.page, 'a message I regret');
    const mine = (await L.historyRest(alice.token, room.id)).messages.find((m) => m.content === 'a message I regret');

    // alice: a control on her message, none on bob's (she owns the room,
    // so she may: the owner moderates). bob: only on his own.
    assert.equal(await delVisible(a.page, mine.id), true, 'the author has the control');
    assert.equal(await delVisible(b.page, mine.id), false, 'a plain member has none on others\' messages');
    assert.equal(await delVisible(b.page, before.id), true, 'a plain member has one on their own');

    // Ask, say No: nothing happens.
    await item(a.page, mine.id).locator('.msg-delete').click();
    await item(a.page, mine.id).locator('.msg-confirm').waitFor();
    await item(a.page, mine.id).locator('.msg-delete-no').click();
    await item(a.page, mine.id).locator('.msg-delete').waitFor();
    assert.equal(await item(a.page, mine.id).locator('.msg-text').textContent(), 'a message I regret');

    // Ask, say Yes: a tombstone on both pages, without reloading.
    await item(a.page, mine.id).locator('.msg-delete').click();
    await item(a.page, mine.id).locator('.msg-delete-yes').click();
    await L.waitTomb(a.page, mine.id);
    await L.waitTomb(b.page, mine.id);
    assert.equal(await item(b.page, mine.id).locator('.msg-delete').count(), 0, 'a tombstone has no control');
    await L.screenshot(b.page, 'delete-tombstone-phone');
    const h = await L.historyRest(bob.token, room.id);
    const t = h.messages.find((m) => m.id === mine.id);
    assert.equal(t.deleted, true);
    assert.equal(t.content, null);

    // A fresh load (history): the tombstone, never "null".
    await b.page.reload();
    await L.waitConn(b.page, 'online');
    await L.openRoom(b.page, room.id);
    await L.waitTomb(b.page, mine.id);
    const texts = await L.shownTexts(b.page);
    assert.ok(!texts.some((x) => /null|undefined/.test(x)), JSON.stringify(texts));
    assert.ok(texts.includes('bob was here first'));
    for (const s of [a, b]) L.assertClean(s);
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test('a moderator has delete controls on everyone\'s messages and uses them; a plain member does not', async () => {
  const owner = await L.registerRest('downer');
  const mod = await L.registerRest('dmod');
  const carl = await L.registerRest('dcarl');
  const room = await L.createRoomRest(owner.token, L.uniqueName('delmod'), undefined, 'private');
  for (const u of [mod, carl]) await L.addMemberRest(owner.token, room.id, u.user.username);
  const pr = await L.api('PATCH', `/api/rooms/${room.id}/members/${mod.user.id}`, { token: owner.token, body: { role: 'moderator' } });
  assert.equal(pr.status, 200, pr.text);
  const byOwner = await L.sendRest(owner.token, room.id, 'the owner speaks');
  const byCarl = await L.sendRest(carl.token, room.id, 'carl says something rude');
  const m = await L.openAs(browser, mod.token);
  const c = await L.openAs(browser, carl.token);
  try {
    await L.openRoom(m.page, room.id);
    await L.openRoom(c.page, room.id);
    await L.waitMessage(m.page, 'carl says something rude');
    await L.waitMessage(c.page, 'the owner speaks');
    assert.equal(await delVisible(m.page, byCarl.id), true, 'the moderator: on carl\'s message');
    assert.equal(await delVisible(m.page, byOwner.id), true, 'the moderator: on the owner\'s message');
    assert.equal(await delVisible(c.page, byOwner.id), false, 'carl: none on the owner\'s message');
    assert.equal(await delVisible(c.page, byCarl.id), true, 'carl: on his own');

    await item(m.page, byCarl.id).locator('.msg-delete').click();
    await item(m.page, byCarl.id).locator('.msg-delete-yes').click();
    await L.waitTomb(m.page, byCarl.id);
    await L.waitTomb(c.page, byCarl.id);
    // A message arriving later still gets its control by role.
    const later = await L.sendRest(owner.token, room.id, 'later');
    await L.waitMessage(m.page, 'later');
    await L.waitMessage(c.page, 'later');
    assert.equal(await delVisible(m.page, later.id), true);
    assert.equal(await delVisible(c.page, later.id), false);
    await L.screenshot(m.page, 'delete-moderator');
    for (const s of [m, c]) L.assertClean(s);
  } finally {
    await m.context.close();
    await c.context.close();
  }
});
