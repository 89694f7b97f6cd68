#!/usr/bin/env node
// fsync-floor.mjs -- how long one fdatasync of an 8 KB WAL-sized write takes here.
//
// Usage: node bench/fsync-floor.mjs [DIR] [SECONDS]   (DIR default var, 15 s)
//
// A durable message is delivered after its COMMIT, and a COMMIT waits for
// PostgreSQL's WAL flush (wal_sync_method fdatasync on Linux). This
// rewrites 8 KB blocks of a 512 KB file in DIR and times each fdatasync,
// one at a time, for SECONDS; it prints one JSON line with the count and
// the p50, p90, p99, p99.9 and max in ms. Run it on the file system that
// holds the stack's PostgreSQL (var/ by default), on an otherwise idle
// machine. The file is removed at the end.
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2] || 'var';
const secs = Number(process.argv[3] || 15);
if (!(secs > 0 && secs <= 600)) {
  console.error('fsync-floor: SECONDS must be in (0, 600]');
  process.exit(2);
}
fs.mkdirSync(dir, { recursive: true });
const file = path.join(dir, `fsync-floor-${process.pid}.tmp`);
const fd = fs.openSync(file, 'w', 0o600);
const block = Buffer.alloc(8192, 0x78);
const ms = [];
try {
  const end = process.hrtime.bigint() + BigInt(Math.round(secs * 1e9));
  for (let i = 0; process.hrtime.bigint() < end && ms.length < 1e6; i++) {
    fs.writeSync(fd, block, 0, block.length, (i % 64) * block.length);
    const t = process.hrtime.bigint();
    fs.fdatasyncSync(fd);
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
} finally {
  fs.closeSync(fd);
  fs.rmSync(file, { force: true });
}
ms.sort((a, b) => a - b);
const at = (q) => Number(ms[Math.min(ms.length - 1, Math.floor(ms.length * q))].toFixed(2));
console.log(JSON.stringify({
  fdatasync_8k: { n: ms.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: at(1) },
  dir: path.resolve(dir),
}));
