// run_v8.js FILE.wasm - runs a binaryen -ttf module in node's V8 and prints the trace
// that diff_runner (our engine) prints for the same module; diff_test.py compares them.
//
// Trace: "instantiate ok" or "instantiate trap CAT" / "instantiate invalid"; then for
// each exported function in export order (hangLimitInitializer is called before each
// and not listed): "call NAME", one "log-T VALUE" line per fuzzing-support.log-* call,
// then "result V..." or "trap CAT".
// Values: a JS Number (i32, f32, f64 all arrive as doubles) prints as the 16 hex digits
// of its IEEE double, or "nan"; an i64 (BigInt) prints as decimal with an "n" suffix.
// Trap categories fold V8's and the spec's wording into the classes both can tell
// apart (see category()).
'use strict';
const fs = require('fs');

function fmt(v) {
  if (typeof v === 'bigint') return BigInt.asIntN(64, v).toString() + 'n';
  if (Number.isNaN(v)) return 'nan';
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, v);
  return dv.getBigUint64(0).toString(16).padStart(16, '0');
}

function category(e) {
  if (e instanceof RangeError) return 'stack';
  const m = String(e.message);
  if (/unreachable/.test(m)) return 'unreachable';
  if (/divide by zero|remainder by zero/.test(m)) return 'divzero';
  // V8 says "float unrepresentable" for both NaN and out-of-range truncations, where
  // the spec says "invalid conversion" and "integer overflow", and "integer overflow"
  // also names INT_MIN / -1: one class for all three.
  if (/divide result unrepresentable|float unrepresentable/.test(m)) return 'intrange';
  if (/memory access out of bounds|data segment/.test(m)) return 'memory';
  if (/table|function signature mismatch|null function/.test(m)) return 'table';
  return 'other:' + m;
}

// Parameter types of every function, from the binary (JS cannot ask V8 for them):
// i64 parameters need BigInt arguments, the others Numbers.
function paramTypes(bytes) {
  let p = 0;
  const u32 = () => {
    let r = 0, shift = 0, b;
    do { b = bytes[p++]; r += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80);
    return r;
  };
  const skipLimits = () => { const flags = u32(); u32(); if (flags & 1) u32(); };
  const types = [], funcs = [];
  p = 8;
  while (p < bytes.length) {
    const id = bytes[p++];
    const size = u32();
    const end = p + size;
    if (id === 1) {
      for (let n = u32(); n > 0; n--) {
        p++; // 0x60
        const params = [];
        for (let k = u32(); k > 0; k--) params.push(bytes[p++]);
        for (let k = u32(); k > 0; k--) p++;
        types.push(params);
      }
    } else if (id === 2) {
      for (let n = u32(); n > 0; n--) {
        for (let k = 0; k < 2; k++) { const len = u32(); p += len; } // module, field
        const kind = bytes[p++];
        if (kind === 0) funcs.push(types[u32()]);
        else if (kind === 1) { p++; skipLimits(); }
        else if (kind === 2) skipLimits();
        else if (kind === 3) p += 2;
        else u32();
      }
    } else if (id === 3) {
      for (let n = u32(); n > 0; n--) funcs.push(types[u32()]);
    } else if (id === 7) {
      const exportsByName = {};
      for (let n = u32(); n > 0; n--) {
        const len = u32();
        const name = Buffer.from(bytes.subarray(p, p + len)).toString('utf8');
        p += len;
        const kind = bytes[p++];
        const idx = u32();
        if (kind === 0) exportsByName[name] = funcs[idx];
      }
      return exportsByName;
    }
    p = end;
  }
  return {};
}

const out = [];
const imports = {
  'fuzzing-support': {
    'log-i32': (x) => { out.push('log-i32 ' + fmt(x)); },
    'log-i64': (x) => { out.push('log-i64 ' + fmt(x)); },
    'log-f32': (x) => { out.push('log-f32 ' + fmt(x)); },
    'log-f64': (x) => { out.push('log-f64 ' + fmt(x)); },
  },
};

let instance;
let params = {};
try {
  const bytes = fs.readFileSync(process.argv[2]);
  const module = new WebAssembly.Module(bytes);
  params = paramTypes(bytes);
  try {
    instance = new WebAssembly.Instance(module, imports);
    out.push('instantiate ok');
  } catch (e) {
    if (e instanceof WebAssembly.LinkError) out.push('instantiate link-error');
    else out.push('instantiate trap ' + category(e));
  }
} catch (e) {
  out.push('instantiate invalid');
}

if (instance) {
  const ex = instance.exports;
  const hang = ex.hangLimitInitializer;
  for (const name of Object.keys(ex)) {
    if (typeof ex[name] !== 'function' || name === 'hangLimitInitializer') continue;
    out.push('call ' + name);
    try {
      if (hang) hang();
      const args = (params[name] || []).map((t) => (t === 0x7e ? 0n : t === 0x6f || t === 0x70 ? null : 0));
      const r = ex[name](...args);
      if (r === undefined) out.push('result');
      else if (Array.isArray(r)) out.push('result ' + r.map(fmt).join(' '));
      else out.push('result ' + fmt(r));
    } catch (e) {
      out.push('trap ' + category(e));
    }
  }
}
process.stdout.write(out.join('\n') + '\n');
