// latency_e2e.js - end-to-end live-event latency through a running `slung serve`
// that runs sdk/c/examples/alert_system.c (AVG:temp:[sensor=1] > 100 -> writeback
// "ALERT: threshold exceeded" to each contributing producer).
//
// One WebSocket streams background points (series load, tag gen=1) at RATE points/s
// in frames of 500 points; another sends one probe point temp{sensor=1}=1000 at a
// time and waits for the ALERT text frame, recording the round trip: frame sent ->
// server decodes and applies it -> live query event -> the workflow's u_poll_handle
// returns -> u_writeback_ws -> frame received. That is an upper bound on "frame
// arrival to event available to the workflow" (it adds the writeback leg and both
// loopback hops). Usage: node latency_e2e.js PORT [RATE=500000] [SECONDS=5]
'use strict';
const path = require('path');
const WebSocket = require(process.env.WS_MODULE ||
    path.join(__dirname, '..', '..', 'tests', 'node', 'node_modules', 'ws'));

const port = Number(process.argv[2]);
const rate = Number(process.argv[3] || 500000);
const seconds = Number(process.argv[4] || 5);

function pointInto(buf, off, tsNs, value, series, tags) {
    buf.writeBigInt64LE(tsNs, off);
    buf.writeDoubleLE(value, off + 8);
    buf.writeUInt16LE(series.length, off + 16);
    buf.writeUInt16LE(tags.length, off + 18);
    off += 20;
    off += series.copy(buf, off);
    for (const t of tags) {
        buf.writeUInt16LE(t.length, off);
        off += 2 + t.copy(buf, off + 2);
    }
    return off;
}

const load = Buffer.from('load');
const gen = [Buffer.from('gen=1')];
const PER_FRAME = 500;
const pointBytes = 20 + load.length + 2 + gen[0].length;
const frame = Buffer.alloc(PER_FRAME * pointBytes);
const temp = Buffer.from('temp');
const sensor = [Buffer.from('sensor=1')];
const probeFrame = Buffer.alloc(20 + temp.length + 2 + sensor[0].length);

const nowNs = () => BigInt(Date.now()) * 1000000n;
const bg = new WebSocket(`ws://127.0.0.1:${port}/`);
const probe = new WebSocket(`ws://127.0.0.1:${port}/`);
let open = 0;
let sentPoints = 0;
let t0 = 0;
let bgTimer = null;
const rtts = [];
let probeSentAt = 0n;
let probeTimer = null;
let done = false;

function sendProbe() {
    if (done) return;
    pointInto(probeFrame, 0, nowNs(), 1000, temp, sensor);
    probeSentAt = process.hrtime.bigint();
    probe.send(probeFrame, { binary: true });
    probeTimer = setTimeout(sendProbe, 500); // lost or folded: send another
}

probe.on('message', (data, isBinary) => {
    if (isBinary || !String(data).includes('ALERT')) return;
    if (probeSentAt === 0n) return;
    rtts.push(Number(process.hrtime.bigint() - probeSentAt) / 1000);
    probeSentAt = 0n;
    clearTimeout(probeTimer);
    setTimeout(sendProbe, 2);
});

function tick() {
    const elapsed = (Date.now() - t0) / 1000;
    let ts = nowNs();
    while (sentPoints < elapsed * rate && bg.bufferedAmount < 4 * frame.length) {
        let off = 0;
        for (let i = 0; i < PER_FRAME; i++) off = pointInto(frame, off, ts++, i, load, gen);
        bg.send(frame, { binary: true });
        sentPoints += PER_FRAME;
    }
}

function finish() {
    done = true;
    clearInterval(bgTimer);
    clearTimeout(probeTimer);
    const elapsed = (Date.now() - t0) / 1000;
    rtts.sort((a, b) => a - b);
    const q = (p) => rtts.length ? rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))].toFixed(0) : 'n/a';
    console.log(`background ${(sentPoints / elapsed).toFixed(0)} points/s sent for ${elapsed.toFixed(1)} s; ${rtts.length} probes`);
    console.log(`probe frame -> ALERT writeback received: p50 ${q(0.5)} us, p90 ${q(0.9)} us, p99 ${q(0.99)} us, max ${q(1 - 1e-9)} us`);
    bg.close();
    probe.close();
    process.exit(rtts.length ? 0 : 1);
}

function start() {
    if (++open < 2) return;
    t0 = Date.now();
    bgTimer = setInterval(tick, 1);
    setTimeout(sendProbe, 200);
    setTimeout(finish, seconds * 1000);
}
bg.on('open', start);
probe.on('open', start);
bg.on('error', (e) => { console.error('bg:', e.message); process.exit(2); });
probe.on('error', (e) => { console.error('probe:', e.message); process.exit(2); });
