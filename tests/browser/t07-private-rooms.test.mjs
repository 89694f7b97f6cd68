// Private rooms and moderation in the page: the owner creates a private
// room, adds a member who sees it appear live (room_added) while a third
// user never sees it; removing and banning a member takes their open view
// out of the room at once (room_removed) and they cannot come back;
// remove/ban/role controls show for the owner and moderators only.
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

const listed = (page, id) => page.locator(`#room-list li[data-room-id="${id}"], #dm-list li[data-room-id="${id}"]`);


test('a private room: created with the lock and the owner role, a member added live, invisible to a third user', async () => {
  const owner = await L.registerRest('powner');
  const bob = await L.registerRest('pbob');
  const carol = await L.registerRest('pcarol');
  const a = await L.openAs(browser, owner.token);
  const b = await L.openAs(browser, bob.token, { viewport: L.PHONE, isMobile: true });
  const c = await L.openAs(browser, carol.token);
  try {
    await b.page.locator('#room-list li').first().waitFor();
    await c.page.locator('#room-list li').first().waitFor();
    // The owner creates it through the form.
    const name = L.uniqueName('secret');
    await a.page.locator('#create-name').fill(name);
    await a.page.locator('#create-desc').fill('members only');
    await a.page.locator('#create-visibility').selectOption('private');
    await a.page.locator('#create-submit').click();
    const id = await L.openRoomId(a.page);
    await a.page.waitForFunction((n) => document.getElementById('room-name').textContent === n, name);
    assert.equal(await a.page.locator('#room-lock').isVisible(), true, 'the lock mark');
    assert.equal(await a.page.locator('#room-lock').getAttribute('aria-label'), 'Private room');
    assert.equal(await a.page.locator('#room-role').textContent(), 'owner');
    assert.equal(await a.page.locator('#room-role').isVisible(), true);
    assert.match(await a.page.locator('#room-sub').textContent(), /^Private · members only · 1 member/);
    assert.equal(await a.page.locator('#room-leave').isVisible(), false, 'the owner cannot leave');
    const r = await L.api('GET', `/api/rooms/${id}`, { token: owner.token });
    assert.equal(r.json.data.room.visibility, 'private', r.text);

    // It is not in the others' lists (no room_created for a private room).
    await a.page.locator('#room-back').click();
    const mine = listed(a.page, id);
    await mine.waitFor();
    assert.equal(await mine.locator('.lock').count(), 1, 'the lock in the list');
    assert.equal(await mine.locator('.role-badge').textContent(), 'owner');
    assert.equal(await mine.getAttribute('data-visibility'), 'private');

    // The owner adds bob in the room's people panel.
    await L.openRoom(a.page, id);
    await a.page.locator('#invite-form').waitFor();
    await a.page.locator('#invite-name').fill(bob.user.username);
    await a.page.locator('#invite-name').press('Enter');
    await L.person(a.page, bob.user.username).waitFor();
    assert.equal(await a.page.locator('#invite-name').inputValue(), '', 'the box is emptied');

    // bob's list shows it at once, without reloading: room_added.
    const atBob = listed(b.page, id);
    await atBob.waitFor({ timeout: 10_000 });
    assert.equal(await atBob.locator('.room-name-text').textContent(), name);
    assert.equal(await atBob.locator('.lock').count(), 1);
    assert.equal(await atBob.locator('.member-badge').textContent(), 'joined');
    await L.screenshot(b.page, 'private-added-phone');

    // Adding him again: the conflict is shown in the form.
    await a.page.locator('#invite-name').fill(bob.user.username);
    await a.page.locator('#invite-submit').click();
    await a.page.locator('#invite-error').waitFor({ state: 'visible' });
    assert.equal(await a.page.locator('#invite-error').textContent(), `${bob.user.username} is a member already.`);
    // An unknown name: the server's message.
    const ghost = L.uniqueName('ghost');
    const nf = await L.api('POST', `/api/rooms/${id}/members`, { token: owner.token, body: { username: ghost } });
    assert.equal(nf.status, 404, nf.text);
    await a.page.locator('#invite-name').fill(ghost);
    await a.page.locator('#invite-submit').click();
    await a.page.waitForFunction((t) => document.getElementById('invite-error').textContent === t, nf.json.error.message);

    // bob opens it and talks; carol's list never had it, and its address is "not found" for her.
    await atBob.locator('a').click();
    await b.page.locator('#view-room').waitFor();
    await b.page.locator('#people-list .person').first().waitFor();
    assert.equal(await b.page.locator('#room-role').textContent(), 'member');
    await L.sendUi(b.page, 'only for us');
    await L.waitMessage(a.page, 'only for us');
    await c.page.reload();
    await c.page.locator('#room-list li').first().waitFor();
    assert.equal((await L.listedRooms(c.page)).includes(id), false, 'not in a third user\u2019s list');
    await c.page.evaluate((rid) => {
      location.hash = `#/room/${encodeURIComponent(rid)}`;
    }, id);
    await L.waitToast(c.page, L.missingRoomText(id), 'error');
    await c.page.locator('#view-home').waitFor();
    assert.equal(await c.page.locator('#msg-list .msg').count(), 0);
    L.assertClean(a, 'owner');
    L.assertClean(b, 'bob');
    L.assertClean(c, 'carol');
  } finally {
    await a.context.close();
    await b.context.close();
    await c.context.close();
  }
});

test('removing and banning: the member\u2019s open view leaves the room at once, and they cannot come back', async () => {
  const owner = await L.registerRest('kowner');
  const bob = await L.registerRest('kbob');
  const room = await L.createRoomRest(owner.token, L.uniqueName('kick'), 'moderated', 'private');
  await L.addMemberRest(owner.token, room.id, bob.user.username);
  const a = await L.openAs(browser, owner.token, { hash: `#/room/${room.id}` });
  const b = await L.openAs(browser, bob.token, { hash: `#/room/${room.id}`, viewport: L.PHONE, isMobile: true });
  try {
    const bobInA = L.person(a.page, bob.user.username);
    await bobInA.waitFor();
    await b.page.locator('#people-list .person').first().waitFor();

    // Removed (kicked): bob's view goes home with a notice, the room leaves his list.
    await bobInA.locator('.act-remove').click();
    await L.waitToast(b.page, `You were removed from ${room.name}.`, 'error');
    await b.page.locator('#view-home').waitFor();
    await b.page.locator('#room-list li').first().waitFor();
    assert.equal((await L.listedRooms(b.page)).includes(room.id), false, 'gone from the removed user\u2019s list');
    // The owner's log says why.
    await L.waitNotice(a.page, `${bob.user.username} was removed from the room`);
    await a.page.waitForFunction((n) => !document.querySelector(`#people-list .person[data-username="${n}"]`), bob.user.username);

    // Added again: it comes back to his list live, he opens it.
    await a.page.locator('#invite-name').fill(bob.user.username);
    await a.page.locator('#invite-submit').click();
    await listed(b.page, room.id).waitFor({ timeout: 10_000 });
    await listed(b.page, room.id).locator('a').click();
    await b.page.locator('#view-room').waitFor();
    await b.page.locator('#people-list .person').first().waitFor();
    await bobInA.waitFor();

    // Banned: the same at once, and the notice says banned.
    await bobInA.locator('.act-ban').click();
    await L.waitToast(b.page, `You were banned from ${room.name}.`, 'error');
    await b.page.locator('#view-home').waitFor();
    await L.waitNotice(a.page, `${bob.user.username} was banned from the room`);
    assert.equal((await L.listedRooms(b.page)).includes(room.id), false);
    await L.screenshot(b.page, 'banned-phone');

    // He cannot come back: the address is "not found", and nothing of it shows.
    await b.page.evaluate((rid) => {
      location.hash = `#/room/${encodeURIComponent(rid)}`;
    }, room.id);
    await L.waitToast(b.page, L.missingRoomText(room.id), 'error');
    await b.page.locator('#view-home').waitFor();
    assert.equal(await b.page.locator('#msg-list .msg').count(), 0);
    const j = await L.api('POST', '/api/join', { token: bob.token, body: { username: bob.user.username, room_id: room.id } });
    assert.notEqual(j.status, 201, j.text);
    // And what the owner writes now never reaches him.
    await L.sendUi(a.page, 'after the ban');
    await L.waitMessage(a.page, 'after the ban');
    assert.equal(await b.page.locator('#msg-list .msg').count(), 0);
    L.assertClean(a, 'owner');
    L.assertClean(b, 'bob');
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test('banned from a public room: joining it again is refused, visibly', async () => {
  const owner = await L.registerRest('bowner');
  const bob = await L.registerRest('bbob');
  const room = await L.createRoomRest(owner.token, L.uniqueName('pubban'), 'public but moderated');
  const b = await L.openAs(browser, bob.token, { hash: `#/room/${room.id}` });
  try {
    await b.page.locator('#people-list .person').first().waitFor();
    const del = await L.api('DELETE', `/api/rooms/${room.id}/members/${bob.user.id}?ban=true`, { token: owner.token });
    assert.equal(del.status, 200, del.text);
    await L.waitToast(b.page, `You were banned from ${room.name}.`, 'error');
    await b.page.locator('#view-home').waitFor();
    // A public room stays listed, no longer joined.
    const item = listed(b.page, room.id);
    await item.waitFor();
    assert.equal(await item.locator('.member-badge').count(), 0);
    await item.locator('a').click();
    await b.page
      .locator('#toasts .toast.error')
      .filter({ hasText: /^You cannot join this room: / })
      .waitFor();
    await b.page.locator('#view-home').waitFor();
    L.assertClean(b, 'bob');
  } finally {
    await b.context.close();
  }
});

test('moderator controls: shown to the owner and a moderator, absent for a plain member', async () => {
  const owner = await L.registerRest('mowner');
  const bob = await L.registerRest('mbob');
  const carol = await L.registerRest('mcarol');
  const room = await L.createRoomRest(owner.token, L.uniqueName('mods'), 'roles');
  await L.joinRoomRest([bob, carol], room.id);
  const a = await L.openAs(browser, owner.token, { hash: `#/room/${room.id}` });
  const b = await L.openAs(browser, bob.token, { hash: `#/room/${room.id}` });
  try {
    for (const u of [bob, carol]) await L.person(a.page, u.user.username).waitFor();
    await L.person(b.page, carol.user.username).waitFor();

    // The owner: remove, ban and the role for each member; none for themself.
    for (const u of [bob, carol]) {
      const p = L.person(a.page, u.user.username);
      assert.equal(await p.locator('.act-remove').isVisible(), true);
      assert.equal(await p.locator('.act-ban').isVisible(), true);
      assert.equal(await p.locator('.act-role').textContent(), 'Make moderator');
      assert.equal(await p.locator('.act-dm').isVisible(), true);
    }
    assert.equal(await L.person(a.page, owner.user.username).locator('button').count(), 0);
    assert.equal(await L.person(a.page, owner.user.username).locator('.role-badge').textContent(), 'owner');
    assert.equal(await a.page.locator('#invite-form').isVisible(), true);

    // A plain member: only "Message"; no add form.
    assert.equal(await b.page.locator('#room-role').textContent(), 'member');
    assert.equal(await b.page.locator('#people-list .act-remove, #people-list .act-ban, #people-list .act-role').count(), 0);
    assert.equal(await L.person(b.page, carol.user.username).locator('.act-dm').isVisible(), true);
    assert.equal(await b.page.locator('#invite-form').isVisible(), false);

    // The owner makes bob a moderator.
    await L.person(a.page, bob.user.username).locator('.act-role').click();
    await a.page.waitForFunction(
      (n) => document.querySelector(`#people-list .person[data-username="${n}"]`)?.dataset.role === 'moderator',
      bob.user.username,
    );
    assert.equal(await L.person(a.page, bob.user.username).locator('.role-badge').textContent(), 'moderator');
    assert.equal(await L.person(a.page, bob.user.username).locator('.act-role').textContent(), 'Make member');

    // bob (after a reload) moderates: remove/ban for carol, nothing for the owner.
    await b.page.reload();
    await L.waitConn(b.page, 'online');
    await L.person(b.page, carol.user.username).locator('.act-ban').waitFor();
    assert.equal(await b.page.locator('#room-role').textContent(), 'moderator');
    assert.equal(await L.person(b.page, carol.user.username).locator('.act-remove').isVisible(), true);
    assert.equal(await L.person(b.page, carol.user.username).locator('.act-role').count(), 0, 'roles are the owner\u2019s');
    assert.equal(await L.person(b.page, owner.user.username).locator('.act-remove, .act-ban').count(), 0);
    assert.equal(await b.page.locator('#invite-form').isVisible(), true);
    await L.screenshot(b.page, 'moderator-people');

    // Keyboard: the moderator bans carol with Tab and Enter.
    await L.person(b.page, carol.user.username).locator('.act-ban').focus();
    await b.page.keyboard.press('Enter');
    await L.waitNotice(a.page, `${carol.user.username} was banned from the room`);
    await L.waitNotice(b.page, `${carol.user.username} was banned from the room`);

    // The owner demotes bob: back to a plain member's controls for him after a reload.
    await L.person(a.page, bob.user.username).locator('.act-role').click();
    await a.page.waitForFunction(
      (n) => document.querySelector(`#people-list .person[data-username="${n}"]`)?.dataset.role === 'member',
      bob.user.username,
    );
    await b.page.reload();
    await L.waitConn(b.page, 'online');
    await L.person(b.page, owner.user.username).waitFor();
    assert.equal(await b.page.locator('#room-role').textContent(), 'member');
    assert.equal(await b.page.locator('#people-list .act-remove, #people-list .act-ban').count(), 0);
    L.assertClean(a, 'owner');
    L.assertClean(b, 'bob');
  } finally {
    await a.context.close();
    await b.context.close();
  }
});
