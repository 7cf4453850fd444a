//! rust_kernels.rs - Rust code built by Debian's rustc three ways (build_modules.sh):
//! wasm32-unknown-unknown, wasm32-wasi, and natively as a shared library. The test runs
//! the wasm builds through src/wasm and compares every r_* result with the native
//! build, so std's formatting, collections, allocation, i128 helpers and trait objects
//! are checked against real compiler output. Some functions mirror kernels.c so the
//! native C results can be compared as well.

use std::collections::BTreeMap;
use std::fmt::Write;

#[no_mangle]
pub extern "C" fn r_fib(n: i32) -> i32 {
    let (mut a, mut b) = (0u32, 1u32);
    for _ in 0..n {
        let t = a.wrapping_add(b);
        a = b;
        b = t;
    }
    a as i32
}

fn lcg_fill(p: &mut [u8], mut seed: u32) {
    for x in p.iter_mut() {
        seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
        *x = (seed >> 24) as u8;
    }
}

#[no_mangle]
pub extern "C" fn r_crc32(n: i32) -> u32 {
    let mut table = [0u32; 256];
    for (i, t) in table.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xedb88320 ^ (c >> 1) } else { c >> 1 };
        }
        *t = c;
    }
    let mut buf = vec![0u8; n.clamp(0, 1 << 16) as usize];
    lcg_fill(&mut buf, 7);
    let mut crc = 0xffffffffu32;
    for b in &buf {
        crc = table[((crc ^ *b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    crc ^ 0xffffffff
}

#[no_mangle]
pub extern "C" fn r_sort(n: i32, mut seed: u32) -> u32 {
    let n = n.clamp(0, 4096) as usize;
    let mut v: Vec<i32> = Vec::with_capacity(n);
    for _ in 0..n {
        seed = seed.wrapping_mul(1103515245).wrapping_add(12345);
        v.push((seed >> 1) as i32 - (1 << 30));
    }
    v.sort_unstable();
    v.iter().fold(2166136261u32, |h, x| (h ^ *x as u32).wrapping_mul(16777619))
}

#[no_mangle]
pub extern "C" fn r_mandel(size: i32, iters: i32) -> i32 {
    let mut inside = 0;
    for y in 0..size {
        for x in 0..size {
            let cr = 2.5 * x as f64 / size as f64 - 2.0;
            let ci = 2.0 * y as f64 / size as f64 - 1.0;
            let (mut zr, mut zi, mut k) = (0.0f64, 0.0f64, 0);
            while k < iters && zr * zr + zi * zi <= 4.0 {
                let t = zr * zr - zi * zi + cr;
                zi = 2.0 * zr * zi + ci;
                zr = t;
                k += 1;
            }
            if k == iters {
                inside += 1;
            }
        }
    }
    inside
}

#[no_mangle]
pub extern "C" fn r_strings(n: i32) -> u32 {
    let mut h = 5381u32;
    let mut s = String::new();
    for i in 0..n {
        s.clear();
        write!(s, "{}", (i as u32).wrapping_mul(2654435761)).unwrap();
        for b in s.bytes() {
            h = h.wrapping_mul(33).wrapping_add(b as u32);
        }
    }
    h
}

/// std's float formatting (Grisu with Dragon fallback) and parsing, hashed.
#[no_mangle]
pub extern "C" fn r_float_fmt(x: f64, n: i32) -> u64 {
    let mut h = 1469598103934665603u64;
    let mut s = String::new();
    let mut v = x;
    for i in 0..n {
        s.clear();
        write!(s, "{} {:.3} {:e} {:?}", v, v, v, v as f32).unwrap();
        let back: f64 = s.split(' ').next().unwrap().parse().unwrap();
        assert!(back == v || (back.is_nan() && v.is_nan()));
        for b in s.bytes() {
            h = (h ^ b as u64).wrapping_mul(1099511628211);
        }
        v = v * -1.37 + (i as f64).sqrt() / 3.0;
    }
    h
}

#[no_mangle]
pub extern "C" fn r_i128(a: u64, b: u64) -> u64 {
    let x = (a as u128) * (b as u128) + 0x1234_5678_9abc_def0_1122_3344_5566_7788u128;
    let q = x / ((b as u128) | 3);
    let r = (x as i128) % -(((a as i128) | 5) << 3);
    (q as u64) ^ ((q >> 64) as u64) ^ (r as u64).rotate_left(17) ^ (x.leading_zeros() as u64)
}

trait Shape {
    fn area(&self) -> f64;
    fn name(&self) -> &'static str;
}
struct Sq(f64);
struct Circ(f64);
struct Tri(f64, f64);
impl Shape for Sq {
    fn area(&self) -> f64 { self.0 * self.0 }
    fn name(&self) -> &'static str { "square" }
}
impl Shape for Circ {
    fn area(&self) -> f64 { 3.141592653589793 * self.0 * self.0 }
    fn name(&self) -> &'static str { "circle" }
}
impl Shape for Tri {
    fn area(&self) -> f64 { 0.5 * self.0 * self.1 }
    fn name(&self) -> &'static str { "triangle" }
}

/// Trait objects (call_indirect), Box, a BTreeMap.
#[no_mangle]
pub extern "C" fn r_dyn(n: i32) -> u64 {
    let mut shapes: Vec<Box<dyn Shape>> = Vec::new();
    for i in 0..n {
        let f = i as f64 * 0.37 + 1.0;
        shapes.push(match i % 3 {
            0 => Box::new(Sq(f)),
            1 => Box::new(Circ(f)),
            _ => Box::new(Tri(f, f + 2.0)),
        });
    }
    let mut by_name: BTreeMap<&str, f64> = BTreeMap::new();
    for s in &shapes {
        *by_name.entry(s.name()).or_insert(0.0) += s.area();
    }
    by_name.values().fold(0u64, |h, a| h.wrapping_mul(31) ^ a.to_bits())
}

/// Allocates n MiB (memory.grow through std's allocator) and touches every page.
#[no_mangle]
pub extern "C" fn r_alloc(mib: i32) -> u32 {
    let mut v = vec![0u8; (mib.max(0) as usize) << 20];
    for (i, x) in v.iter_mut().enumerate().step_by(4096) {
        *x = i as u8 ^ 0x5a;
    }
    v.iter().step_by(4096).fold(0u32, |h, x| h.wrapping_mul(31).wrapping_add(*x as u32))
}

/// Panics (a trap on wasm: unreachable) when asked to.
#[no_mangle]
pub extern "C" fn r_panic(x: i32) -> i32 {
    let v: Vec<i32> = (0..10).collect();
    v[x as usize]
}

/// On wasm32-wasi: println! goes through fd_write to the host.
#[no_mangle]
pub extern "C" fn r_hello(n: i32) -> i32 {
    println!("hello from rust {} {}", n, n as f64 / 8.0);
    n + 1
}
