// node_acks_test.js - a Node `ws` producer sends 10,000 multi-point frames (10
// points each, binary and text frames alternating) with an {"ack":N} request after
// every 100 frames, and must receive every ack, in order, with no error frame; then
// /health counts all 100,000 points and the server stops cleanly on SIGTERM.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');
let WebSocket;
try {
  WebSocket = require('ws');
} catch (e) {
  console.log('SKIP: the ws package is missing: run `npm ci` in tests/node (scripts/test.sh does)');
  process.exit(77);
}

const FRAMES = 10000;
const POINTS_PER_FRAME = 10;
const ACK_EVERY = 100;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

function get(port, p) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: p }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

function point(ts, value, series, tags) {
  const s = Buffer.from(series);
  const parts = [Buffer.alloc(20)];
  parts[0].writeBigInt64LE(BigInt(ts), 0);
  parts[0].writeDoubleLE(value, 8);
  parts[0].writeUInt16LE(s.length, 16);
  parts[0].writeUInt16LE(tags.length, 18);
  parts.push(s);
  for (const t of tags) {
    const tb = Buffer.from(t);
    const l = Buffer.alloc(2);
    l.writeUInt16LE(tb.length, 0);
    parts.push(l, tb);
  }
  return Buffer.concat(parts);
}

async function main() {
  const bin = process.env.SLUNG_BIN;
  if (!bin || !fs.existsSync(bin)) { console.log('SKIP: SLUNG_BIN missing'); process.exit(77); }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slung-node-'));
  const port = await freePort();
  const srv = spawn(bin, ['serve', '--listen', '127.0.0.1', '--port', String(port),
                          '--data-dir', path.join(dir, 'data')], { stdio: ['ignore', 'inherit', 'inherit'] });
  let exited = null;
  srv.on('exit', (code) => { exited = code; });
  const fail = (msg) => { console.error('FAIL: ' + msg); srv.kill('SIGKILL'); fs.rmSync(dir, { recursive: true, force: true }); process.exit(1); };
  const timer = setTimeout(() => fail('timed out'), 240000);

  for (let i = 0; ; i++) {
    try { if ((await get(port, '/health')).status === 200) break; } catch (e) { /* not yet */ }
    if (i > 600 || exited !== null) fail('server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }

  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
  const acks = [];
  let errors = 0;
  const allAcked = new Promise((resolve) => {
    ws.on('message', (data, isBinary) => {
      const m = JSON.parse(data.toString());
      if (m.error) { errors++; console.error('error frame: ' + data); return; }
      acks.push(m.ack);
      if (acks.length === FRAMES / ACK_EVERY) resolve();
    });
  });
  const ts0 = 1709481600000000000n;
  for (let f = 0; f < FRAMES; f++) {
    const pts = [];
    for (let k = 0; k < POINTS_PER_FRAME; k++) {
      const ts = ts0 + BigInt(f * POINTS_PER_FRAME + k) * 1000n;
      pts.push(point(ts, f + k / 10, 'node_load', [`host=h${k}`, 'dc=test']));
    }
    // Text frames carry the same bytes (spec/ingest.md); ws sends a Buffer as text
    // with binary: false.
    ws.send(Buffer.concat(pts), { binary: f % 2 === 0 });
    if ((f + 1) % ACK_EVERY === 0) ws.send(JSON.stringify({ ack: (f + 1) / ACK_EVERY }));
  }
  await allAcked;
  for (let i = 0; i < acks.length; i++) if (acks[i] !== i + 1) fail(`ack ${i} is ${acks[i]}`);
  if (errors) fail(`${errors} error frames`);
  ws.close();
  const h = JSON.parse((await get(port, '/health')).body);
  if (h.points_written !== FRAMES * POINTS_PER_FRAME) fail('points_written ' + JSON.stringify(h));
  srv.kill('SIGTERM');
  for (let i = 0; exited === null && i < 600; i++) await new Promise((r) => setTimeout(r, 100));
  clearTimeout(timer);
  fs.rmSync(dir, { recursive: true, force: true });
  if (exited !== 0) { console.error('FAIL: exit status ' + exited); process.exit(1); }
  console.log(`ok ${FRAMES} multi-point frames, ${acks.length} acks in order, ${h.points_written} points`);
}

main().catch((e) => { console.error(e); process.exit(1); });
