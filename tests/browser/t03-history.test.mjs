// History: the newest page on entering a room, "load older" pages back
// through GET /api/messages?before= until the first message.
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

test('"load older" pages back to the first message, in order, without duplicates', async () => {
  // 120 messages from six writers (each stays inside the per-user send rate).
  const writers = [];
  const first = await L.joinRest('hist');
  const room = await L.createRoomRest(first.token, L.uniqueName('history'));
  writers.push(first);
  for (let i = 1; i < 6; i++) writers.push(await L.joinRest('hist', room.id));
  const total = 120;
  for (let i = 1; i <= total; i++) {
    await L.sendRest(writers[Math.floor((i - 1) / 20)].token, room.id, `history message ${i}`);
  }

  const s = await L.signIn(browser, { prefix: 'reader' });
  try {
    await L.openRoom(s.page, room.id);
    // The newest 50, the last one at the bottom.
    await L.waitMessage(s.page, `history message ${total}`);
    let seqs = await L.shownSeqs(s.page);
    assert.deepEqual(seqs, Array.from({ length: 50 }, (_, i) => total - 49 + i));
    const older = s.page.locator('#load-older');
    assert.equal(await older.isVisible(), true, 'older messages exist');
    assert.equal(await s.page.locator('#history-start').isVisible(), false);

    await older.click();
    await s.page.waitForFunction(() => document.querySelectorAll('#msg-list .msg').length === 100);
    seqs = await L.shownSeqs(s.page);
    assert.deepEqual(seqs, Array.from({ length: 100 }, (_, i) => total - 99 + i));
    assert.equal(await older.isVisible(), true);

    await older.click();
    await s.page.waitForFunction(() => document.querySelectorAll('#msg-list .msg').length === 120);
    seqs = await L.shownSeqs(s.page);
    assert.deepEqual(seqs, Array.from({ length: total }, (_, i) => i + 1));
    const texts = await L.shownTexts(s.page);
    assert.deepEqual(texts, Array.from({ length: total }, (_, i) => `history message ${i + 1}`));
    await s.page.locator('#history-start').waitFor();
    assert.equal(await older.isVisible(), false, 'nothing older than seq 1');

    // A live message still lands at the end.
    await L.sendRest(writers[0].token, room.id, 'after paging');
    await L.waitMessage(s.page, 'after paging');
    assert.equal((await L.shownTexts(s.page)).at(-1), 'after paging');
    L.assertClean(s);
  } finally {
    await s.context.close();
  }
});
