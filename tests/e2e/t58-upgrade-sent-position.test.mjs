// t58-upgrade-sent-position -- migration 0038 on a database with history:
// every member's read position (the greater of their mark and their newest
// message) is the same after the upgrade as before it, in every reader of
// it (chat_read_pos, a member's rooms, the receipts), the senders'
// positions now in user_room_sent; the index
// messages_room_user_seq is gone, and sends after the upgrade move the
// positions. deploy/migrate.sh is run as an operator runs it: first on the
// migrations up to 0037, then on all of them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { REPO } from './lib.mjs';
import { psql, conninfo } from './sio.mjs';

const DB = `chat_t58_${process.pid}`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 't58-'));

function migrate(dir) {
  const r = spawnSync(path.join(REPO, 'deploy/migrate.sh'), [dir], {
    env: { ...process.env, DATABASE_URL: conninfo(DB) },
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(r.status, 0, `migrate.sh ${dir}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** sql in the test's database; stdout trimmed. */
const q = (sql) => psql(sql, { db: DB });

/** Sends of [user, room, text] in one call of chat_send_many (one batch of a bridge); the errors. */
function sendMany(sends) {
  const arr = (i) => `ARRAY[${sends.map((s) => `'${s[i]}'`).join(', ')}]::text[]`;
  const n = sends.length;
  return q(`SELECT string_agg(coalesce(b.err, '-'), ',' ORDER BY b.o)
              FROM chat_send_many(${arr(0)}, ${arr(1)}, ${arr(2)}, array_fill(NULL::text, ARRAY[${n}]),
                                  array_fill(0, ARRAY[${n}]), array_fill(0, ARRAY[${n}]))
                   WITH ORDINALITY AS b(err, msg, field, retry, data, o)`);
}

// Every reader of the positions, as text to compare whole.
const positions = () => q(`SELECT user_id || ' ' || room_id || ' ' || chat_read_pos(room_id, user_id, last_read_seq)
                             FROM user_rooms WHERE user_id LIKE 't58%' ORDER BY user_id, room_id`);
const views = () => q(`SELECT chat_member_rooms_json('t58a')::text || E'\\n' || chat_member_rooms_json('t58b')::text
                          || E'\\n' || (chat_room_reads('t58a', 't58r1', 50, 0)).data::text
                          || E'\\n' || (chat_room_reads('t58a', 't58r2', 50, 0)).data::text`);

before(() => {
  psql(`CREATE DATABASE ${DB}`);
  for (const f of fs.readdirSync(path.join(REPO, 'migrations'))) {
    if (/^\d{4}_.*\.sql$/.test(f) && f < '0038') fs.symlinkSync(path.join(REPO, 'migrations', f), path.join(tmp, f));
  }
});

after(() => {
  psql(`DROP DATABASE IF EXISTS ${DB}`);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('0038 keeps every read position, moves the senders\' ones into user_room_sent, drops the index', () => {
  assert.match(migrate(tmp), /applied 0037_send_batch_cost\.sql/);
  q(`INSERT INTO users (id, username) VALUES ('t58a', 't58 alice'), ('t58b', 't58 bob'), ('t58c', 't58 carol');
     INSERT INTO rooms (id, name) VALUES ('t58r1', 'one'), ('t58r2', 'two');
     INSERT INTO user_rooms (user_id, room_id) VALUES ('t58a', 't58r1'), ('t58b', 't58r1'), ('t58c', 't58r1'),
                                                       ('t58a', 't58r2'), ('t58b', 't58r2')`);
  assert.equal(sendMany([['t58a', 't58r1', 'a1'], ['t58b', 't58r1', 'b1'], ['t58a', 't58r1', 'a2'],
    ['t58b', 't58r2', 'b2'], ['t58a', 't58r1', 'a3']]), '-,-,-,-,-');
  assert.equal(sendMany([['t58b', 't58r1', 'b3'], ['t58c', 't58r2', 'not a member']]), '-,forbidden');
  // A mark beyond one's own newest message, and one below it (which moves nothing).
  q(`SELECT chat_mark_read('t58c', 't58r1', 2); SELECT chat_mark_read('t58a', 't58r1', 1)`);
  const was = positions();
  const wasViews = views();
  assert.equal(was, ['t58a t58r1 4', 't58a t58r2 0', 't58b t58r1 5', 't58b t58r2 1', 't58c t58r1 2'].join('\n'));
  assert.equal(q(`SELECT count(*) FROM pg_indexes WHERE indexname = 'messages_room_user_seq'`), '1');

  assert.match(migrate(path.join(REPO, 'migrations')), /applied 0038_sent_position\.sql/);
  assert.equal(positions(), was, 'the same positions');
  assert.equal(views(), wasViews, 'the same room objects and receipts, byte for byte');
  assert.equal(q(`SELECT string_agg(ur.user_id || ' ' || ur.room_id || ' ' || ur.last_read_seq || ' ' || coalesce(s.seq, 0), ','
                                    ORDER BY ur.user_id, ur.room_id)
                    FROM user_rooms ur LEFT JOIN user_room_sent s ON s.user_id = ur.user_id AND s.room_id = ur.room_id
                   WHERE ur.user_id LIKE 't58%'`),
  't58a t58r1 0 4,t58a t58r2 0 0,t58b t58r1 0 5,t58b t58r2 0 1,t58c t58r1 2 0', 'the marks unchanged, the sends backfilled');
  assert.equal(q(`SELECT count(*) FROM pg_indexes WHERE indexname = 'messages_room_user_seq'`), '0');

  // After the upgrade the trigger keeps them.
  assert.equal(sendMany([['t58c', 't58r1', 'c1'], ['t58a', 't58r2', 'a4']]), '-,-');
  assert.equal(positions(), ['t58a t58r1 4', 't58a t58r2 2', 't58b t58r1 5', 't58b t58r2 1', 't58c t58r1 6'].join('\n'));
  assert.match(migrate(path.join(REPO, 'migrations')), /done: 0 applied/);
});
