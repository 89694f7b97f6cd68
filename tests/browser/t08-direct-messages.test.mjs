// Direct messages in the page: "Message" on a person in a room's member
// list opens the direct room (POST /api/dm); the other user sees it appear
// under "Direct messages" with the first user's name (room_added), opens
// the same room from their side, and messages flow both ways.
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



test('Message on a member opens one direct room for both users, and messages flow', async () => {
  const ann = await L.registerRest('dmann');
  const ben = await L.registerRest('dmben');
  const cat = await L.registerRest('dmcat');
  const room = await L.createRoomRest(ann.token, L.uniqueName('meet'), 'where they meet');
  await L.joinRoomRest([ben, cat], room.id);
  const a = await L.openAs(browser, ann.token, { hash: `#/room/${room.id}` });
  const b = await L.openAs(browser, ben.token, { viewport: L.PHONE, isMobile: true });
  const c = await L.openAs(browser, cat.token);
  try {
    await b.page.locator('#room-list li').first().waitFor();
    assert.equal(await b.page.locator('#dm-section').isVisible(), false, 'no direct messages yet');

    // ann: "Message" on ben.
    await L.person(a.page, ben.user.username).locator('.act-dm').click();
    await a.page.waitForFunction((n) => document.getElementById('room-name').textContent === n, ben.user.username);
    const dmId = await L.openRoomId(a.page);
    assert.notEqual(dmId, room.id);
    await a.page.locator('#view-room[data-visibility="direct"]').waitFor();
    assert.equal(await a.page.locator('#room-sub').textContent(), `Direct messages with ${ben.user.username}`);
    assert.equal(await a.page.locator('#room-role').isVisible(), false, 'no roles in a direct room');
    assert.equal(await a.page.locator('#invite-form').isVisible(), false, 'nobody is added to a direct room');
    await L.person(a.page, ben.user.username).waitFor();
    assert.equal(await a.page.locator('#people-list .person button').count(), 0, 'no Message/Remove/Ban in a direct room');

    // ben: it appears among his direct messages, live, under ann's name.
    const item = b.page.locator(`#dm-list li[data-room-id="${dmId}"]`);
    await item.waitFor({ timeout: 10_000 });
    assert.equal(await b.page.locator('#dm-section').isVisible(), true);
    assert.equal(await item.locator('.room-name-text').textContent(), ann.user.username);
    assert.equal(await item.getAttribute('data-visibility'), 'direct');
    assert.equal(await b.page.locator(`#room-list li[data-room-id="${dmId}"]`).count(), 0, 'listed apart from the rooms');
    await L.screenshot(b.page, 'dm-listed-phone');

    // ben opens the shared room, then "Message" on ann there: the same direct room.
    await L.openRoom(b.page, room.id);
    await b.page.locator('#people-toggle').click();
    await L.person(b.page, ann.user.username).locator('.act-dm').click();
    await b.page.waitForFunction((n) => document.getElementById('room-name').textContent === n, ann.user.username);
    assert.equal(await L.openRoomId(b.page), dmId, 'the same room from either side');

    // Messages flow both ways.
    await L.sendUi(a.page, 'psst, ben');
    await L.waitMessage(b.page, 'psst, ben');
    await L.sendUi(b.page, 'hi ann');
    await L.waitMessage(a.page, 'hi ann');
    await L.screenshot(a.page, 'dm-desktop');

    // cat never sees it, and it answers "not found" to her.
    await c.page.reload();
    await c.page.locator('#room-list li').first().waitFor();
    assert.equal((await L.listedRooms(c.page)).includes(dmId), false);
    const r = await L.api('GET', `/api/messages/${dmId}`, { token: cat.token });
    assert.equal(r.status, 404, r.text);
    L.assertClean(a, 'ann');
    L.assertClean(b, 'ben');
    L.assertClean(c, 'cat');
  } finally {
    await a.context.close();
    await b.context.close();
    await c.context.close();
  }
});
