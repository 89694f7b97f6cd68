// One's own messages are pending until the send_message ack (sent after
// the COMMIT: the delivery confirmation), then marked sent; when the send
// fails (an error in the ack, or no ack in time) the message says so and
// offers Retry, which sends the SAME client_id again, so the server stores
// it once however many tries went out.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as L from './lib.mjs';

let browser;
let paused = 0;
before(async () => {
  browser = await L.launch();
});
after(async () => {
  // Never leave the suite's bridge stopped.
  if (paused) process.kill(paused, 'SIGCONT');
  await browser?.close();
});

/** The pid of the stack's bridge (deploy/local keeps it in run/ws.pid). */
function bridgePid() {
  const dir = process.env.CHAT_STATE_DIR;
  assert.ok(dir, 'run.sh (harness) sets CHAT_STATE_DIR');
  return Number(readFileSync(path.join(dir, 'run', 'ws.pid'), 'utf8').trim());
}

/** Freezes the bridge (SIGSTOP): connections stay open, nothing is answered. */
function pauseBridge() {
  paused = bridgePid();
  process.kill(paused, 'SIGSTOP');
}

function resumeBridge() {
  process.kill(paused, 'SIGCONT');
  paused = 0;
}

const confirmed = (page, text) => page.locator('#msg-list li.msg').filter({ has: page.locator('.msg-text', { hasText: text }) });

async function waitPendingEmpty(page) {
  await page.waitForFunction(() => document.querySelectorAll('#pending-list li').length === 0, null, { timeout: 20_000 });
}

test('pending until the ack, then sent; no ack in time: Retry sends the same client_id and it is stored once', async () => {
  const me = await L.registerRest('pend');
  const room = await L.createRoomRest(me.token, L.uniqueName('pending'));
  const s = await L.openAs(browser, me.token, { record: 'send_message' });
  const sends = s.recorded;
  try {
    await L.openRoom(s.page, room.id);
    await L.sendUi(s.page, 'first, plainly');
    await L.waitMessage(s.page, 'first, plainly');
    const first = confirmed(s.page, 'first, plainly');
    assert.equal(await first.locator('.msg-state').textContent(), '✓ Sent');
    assert.equal(await first.locator('.msg-state').getAttribute('data-state'), 'sent');

    // The bridge freezes: the message stays pending (no ack)...
    pauseBridge();
    await L.sendUi(s.page, 'while the bridge sleeps');
    const pending = s.page.locator('#pending-list li[data-status="pending"]');
    await pending.waitFor();
    assert.equal(await pending.locator('.msg-text').textContent(), 'while the bridge sleeps');
    assert.equal(await pending.locator('.status-text').textContent(), 'Sending…');
    assert.equal(await pending.locator('.msg-state').count(), 0, 'no sent mark yet');
    assert.equal(await confirmed(s.page, 'while the bridge sleeps').count(), 0);
    // ...until the ack times out: not sent, with Retry.
    const failed = s.page.locator('#pending-list li[data-status="failed"]');
    await failed.waitFor({ timeout: 30_000 });
    assert.equal(await failed.locator('.status-text').textContent(), 'Not sent: no answer from the server');
    const cid = await failed.getAttribute('data-client-id');
    assert.ok(cid);
    await L.screenshot(s.page, 'pending-failed');
    // Retry (by keyboard) while the bridge still sleeps: pending again.
    await failed.getByRole('button', { name: 'Retry' }).focus();
    await s.page.keyboard.press('Enter');
    await s.page.locator('#pending-list li[data-status="pending"]').waitFor();

    // The bridge wakes up and handles both tries: one message, sent.
    resumeBridge();
    await L.waitMessage(s.page, 'while the bridge sleeps', 20_000);
    await waitPendingEmpty(s.page);
    const mine = confirmed(s.page, 'while the bridge sleeps');
    assert.equal(await mine.count(), 1);
    assert.equal(await mine.getAttribute('data-client-id'), cid);
    assert.equal(await mine.locator('.msg-state').textContent(), '✓ Sent');
    const tries = sends.filter((p) => p.message === 'while the bridge sleeps');
    assert.equal(tries.length, 2, JSON.stringify(tries));
    assert.ok(tries.every((p) => p.client_id === cid), 'every try carries the first client_id');
    const stored = (await L.historyRest(me.token, room.id)).messages.filter((m) => m.content === 'while the bridge sleeps');
    assert.equal(stored.length, 1, 'stored once');
    assert.equal(stored[0].client_id, cid);
    L.assertClean(s);
  } finally {
    if (paused) resumeBridge();
    await s.context.close();
  }
});

test('an error in the ack (too long): not sent, the server\'s reason, Retry sends the same client_id, Discard drops it', async () => {
  const me = await L.registerRest('plong');
  const room = await L.createRoomRest(me.token, L.uniqueName('toolong'));
  const s = await L.openAs(browser, me.token, { record: 'send_message' });
  const sends = s.recorded;
  try {
    await L.openRoom(s.page, room.id);
    const long = 'x'.repeat(4001); // CHAT_MESSAGE_MAX is 4000; the textarea takes 8000
    await L.sendUi(s.page, long);
    const failed = s.page.locator('#pending-list li[data-status="failed"]');
    await failed.waitFor();
    const reason = await failed.locator('.status-text').textContent();
    assert.match(reason, /^Not sent: .+/);
    assert.notEqual(reason, 'Not sent: no answer from the server');
    await L.waitToast(s.page, `Message not sent: ${reason.replace(/^Not sent: /, '')}`);
    const cid = await failed.getAttribute('data-client-id');
    await failed.getByRole('button', { name: 'Retry' }).click();
    await s.page.locator('#pending-list li[data-status="failed"]').waitFor();
    await s.page.waitForFunction(
      (n) => document.querySelectorAll('#pending-list li').length === n,
      1,
    );
    await L.screenshot(s.page, 'pending-too-long');
    assert.ok(sends.length >= 2, JSON.stringify(sends.length));
    assert.ok(sends.every((p) => p.client_id === cid), 'Retry kept the client_id');
    await s.page.locator('#pending-list li[data-status="failed"]').getByRole('button', { name: 'Discard' }).click();
    await waitPendingEmpty(s.page);
    assert.equal((await L.historyRest(me.token, room.id)).messages.length, 0, 'nothing stored');
    L.assertClean(s);
  } finally {
    await s.context.close();
  }
});

test('rate limited: not sent, then Retry goes through once the limit allows, stored once', async () => {
  const me = await L.registerRest('prate');
  const room = await L.createRoomRest(me.token, L.uniqueName('ratelim'));
  const s = await L.openAs(browser, me.token, { record: 'send_message' });
  const sends = s.recorded;
  try {
    await L.openRoom(s.page, room.id);
    // Keep the user's send budget (CHAT_MSG_RATE, shared by REST and the
    // socket) empty over REST while the page sends; a send that still won
    // a token is just tried again with a new text (bounded).
    let text = null;
    for (let attempt = 1; attempt <= 5 && text === null; attempt++) {
      const drain = L.drainSendBudget(me.token, room.id, attempt);
      await drain.limited;
      const t = `limited try ${attempt}`;
      await L.sendUi(s.page, t);
      await s.page.waitForFunction(
        (x) =>
          [...document.querySelectorAll('#pending-list li[data-status="failed"] .msg-text')].some((e) => e.textContent === x) ||
          [...document.querySelectorAll('#msg-list .msg-text')].some((e) => e.textContent === x),
        t,
      );
      await drain.stop();
      if (await s.page.locator('#pending-list li[data-status="failed"]').count()) text = t;
    }
    assert.ok(text, 'one send was rate limited');
    const failed = s.page.locator('#pending-list li[data-status="failed"]');
    assert.match(await failed.locator('.status-text').textContent(), /^Not sent: /);
    const cid = await failed.getAttribute('data-client-id');
    // Retry until the budget has a token again (each Retry is the same client_id).
    for (let i = 0; i < 30; i++) {
      const f = s.page.locator('#pending-list li[data-status="failed"]');
      if ((await f.count()) === 0) break;
      await new Promise((res) => setTimeout(res, 1000));
      await f.getByRole('button', { name: 'Retry' }).click();
      await s.page.waitForFunction(
        (x) =>
          document.querySelector('#pending-list li[data-status="failed"]') ||
          [...document.querySelectorAll('#msg-list .msg-text')].some((e) => e.textContent === x),
        text,
      );
    }
    await L.waitMessage(s.page, text);
    await waitPendingEmpty(s.page);
    assert.equal(await confirmed(s.page, text).locator('.msg-state').textContent(), '✓ Sent');
    const tries = sends.filter((p) => p.message === text);
    assert.ok(tries.length >= 2, `the first try and at least one Retry: ${tries.length}`);
    assert.ok(tries.every((p) => p.client_id === cid));
    const stored = (await L.historyRest(me.token, room.id)).messages.filter((m) => m.content === text);
    assert.equal(stored.length, 1);
    assert.equal(stored[0].client_id, cid);
    L.assertClean(s, 'page');
  } finally {
    await s.context.close();
  }
});
