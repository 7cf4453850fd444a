//! region.rs - the memory protocol between guest and host (shared/spec/workflows.md,
//! "Region"): a Region is 12 bytes `{u32 offset, u32 capacity, u32 length}` in guest
//! memory.
//!
//! Guest to host: `Region::of` describes bytes the guest already has (a `&str`) with a
//! Region on the guest's stack, whose `addr()` is passed; the host copies what it keeps,
//! so nothing is allocated and nothing needs freeing.
//! Host to guest: the host calls the exported `allocate` for the data and for the
//! Region, and returns the Region's address; `take_region` copies the bytes out and
//! frees both with `deallocate` (the guest owns what the host returns).
//!
//! Invariants: (1) every pointer `allocate` returns is 8-aligned and preceded by an
//! 8-byte header holding the total size of the block, which is how `deallocate(ptr)`
//! (which gets no size) rebuilds the Layout; (2) `allocate` returns 0 when n does not
//! fit the header arithmetic or memory is exhausted, never a short buffer.
//! Threads: a workflow instance is single-threaded.

use std::alloc::{alloc, dealloc, Layout};

/// The 12-byte Region of the spec; the same layout in both directions.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Region {
    /// Guest address of the first byte.
    pub offset: u32,
    /// Bytes available at `offset` (>= length).
    pub capacity: u32,
    /// Bytes in use at `offset`.
    pub length: u32,
}

const HEADER: usize = 8;

/// Exported `allocate(i32) -> i32`: a buffer of at least `n` bytes, or 0.
#[no_mangle]
pub extern "C" fn allocate(n: u32) -> u32 {
    let total = match (n as usize).checked_add(HEADER) {
        Some(t) if t <= u32::MAX as usize => t,
        _ => return 0,
    };
    let layout = match Layout::from_size_align(total, HEADER) {
        Ok(l) => l,
        Err(_) => return 0,
    };
    // SAFETY: layout has a non-zero size (>= HEADER).
    let p = unsafe { alloc(layout) };
    if p.is_null() {
        return 0;
    }
    // SAFETY: p is valid for `total` bytes and 8-aligned.
    unsafe { (p as *mut usize).write(total) };
    (p as usize + HEADER) as u32
}

/// Exported `deallocate(i32)`: frees what `allocate` returned; 0 is a no-op.
#[no_mangle]
pub extern "C" fn deallocate(ptr: u32) {
    if ptr == 0 {
        return;
    }
    let base = (ptr as usize - HEADER) as *mut u8;
    // SAFETY: ptr came from allocate (invariant 1), so the header holds the size.
    unsafe {
        let total = (base as *const usize).read();
        dealloc(base, Layout::from_size_align_unchecked(total, HEADER));
    }
}

impl Region {
    /// A Region describing `bytes` (guest to host). It borrows nothing at the type
    /// level: keep `bytes` alive while the host may read it (for the call).
    pub fn of(bytes: &[u8]) -> crate::Result<Region> {
        let len = u32::try_from(bytes.len()).map_err(|_| crate::Error::TooLarge(bytes.len()))?;
        Ok(Region { offset: bytes.as_ptr() as usize as u32, capacity: len, length: len })
    }

    /// The guest address of this Region, as the host functions take it.
    pub fn addr(&self) -> u32 {
        self as *const Region as usize as u32
    }
}

/// Takes ownership of the Region at `addr` that the host returned: copies its bytes
/// and frees the data and the Region. `addr` 0 means none.
pub fn take_region(addr: u32) -> Option<Vec<u8>> {
    if addr == 0 {
        return None;
    }
    // SAFETY: the host returned a Region it built with our `allocate` (workflows.md).
    let r = unsafe { (addr as usize as *const Region).read() };
    let len = r.length.min(r.capacity) as usize;
    let bytes = if len == 0 {
        Vec::new()
    } else {
        // SAFETY: the host wrote `length` bytes at `offset` inside a buffer of `capacity`.
        unsafe { std::slice::from_raw_parts(r.offset as usize as *const u8, len).to_vec() }
    };
    deallocate(r.offset);
    deallocate(addr);
    Some(bytes)
}
