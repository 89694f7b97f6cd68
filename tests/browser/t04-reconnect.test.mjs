// The bridge goes away and comes back: the pages say so, reconnect by
// themselves, recover what they missed with join_room since_seq, and a
// message written meanwhile stays pending, then is delivered once.
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

test('after the bridge restarts, both pages reconnect and recover the missed messages', async () => {
  const writer = await L.joinRest('writer');
  const room = await L.createRoomRest(writer.token, L.uniqueName('recover'));
  const a = await L.signIn(browser, { prefix: 'reca' });
  const b = await L.signIn(browser, { prefix: 'recb', viewport: L.PHONE, isMobile: true });
  const joinsB = L.recordEvents(b.page, 'join_room');
  try {
    await L.openRoom(a.page, room.id);
    await L.openRoom(b.page, room.id);
    await L.sendUi(a.page, 'before the restart');
    await L.waitMessage(b.page, 'before the restart');
    const lastSeq = Math.max(...(await L.shownSeqs(b.page)));
    assert.equal(lastSeq, 1);

    // The bridge stops (SIGTERM); both pages notice.
    wsStopped = true;
    L.stack('ws-stop');
    await L.waitConn(a.page, 'reconnecting', 10_000);
    await L.waitConn(b.page, 'reconnecting', 10_000);
    assert.equal(await b.page.locator('#conn-banner').isVisible(), true, 'the room shows the connection is lost');

    // Meanwhile: three messages over REST, and A writes one in the page.
    const missed = [];
    for (let i = 1; i <= 3; i++) missed.push(await L.sendRest(writer.token, room.id, `missed while down ${i}`));
    await L.sendUi(a.page, 'written while down');
    const pending = a.page.locator('#pending-list li[data-status="pending"]');
    await pending.waitFor();
    assert.equal(await pending.locator('.msg-text').textContent(), 'written while down');
    assert.equal(await a.page.locator('#msg-list .msg-text').filter({ hasText: 'written while down' }).count(), 0, 'not confirmed yet');
    await L.screenshot(a.page, 'room-desktop-reconnecting');

    // The bridge comes back: the pages reconnect by themselves.
    L.stack('ws-start');
    wsStopped = false;
    await L.waitConn(a.page, 'online', 20_000);
    await L.waitConn(b.page, 'online', 20_000);

    // B recovered exactly what it missed, in order, once.
    for (const m of missed) await L.waitMessage(b.page, m.content, 15_000);
    await L.waitMessage(b.page, 'written while down', 15_000);
    const seqsB = await L.shownSeqs(b.page);
    assert.deepEqual(seqsB, [1, 2, 3, 4, 5], 'every message once, in seq order');
    // ...because it asked for it: join_room with since_seq = the last seq it had.
    const rejoin = joinsB.find((j) => j.room_id === room.id && j.since_seq !== undefined);
    assert.ok(rejoin, `a join_room with since_seq after the reconnect: ${JSON.stringify(joinsB)}`);
    assert.equal(rejoin.since_seq, lastSeq);

    // A's pending message was sent after the reconnect and confirmed once.
    await a.page.waitForFunction(() => document.querySelectorAll('#pending-list li').length === 0, null, { timeout: 15_000 });
    await L.waitMessage(a.page, 'written while down');
    for (const m of missed) await L.waitMessage(a.page, m.content);
    assert.deepEqual(await L.shownSeqs(a.page), [1, 2, 3, 4, 5]);
    const hist = await L.historyRest(writer.token, room.id);
    assert.deepEqual(
      hist.messages.map((m) => m.content),
      ['before the restart', 'missed while down 1', 'missed while down 2', 'missed while down 3', 'written while down'],
      'stored once each',
    );

    // Live delivery goes on over the new connection.
    await L.sendUi(b.page, 'after the restart');
    await L.waitMessage(a.page, 'after the restart');
    L.assertClean(a, 'A');
    L.assertClean(b, 'B');
  } finally {
    await a.context.close();
    await b.context.close();
  }
});
