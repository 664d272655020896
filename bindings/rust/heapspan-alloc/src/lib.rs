//! Report a Rust program's allocations to [heapspan], the heap profiler, whatever its
//! global allocator.
//!
//! heapspan's shim, preloaded into the program by `heapspan run`, records every call
//! to malloc and its kin. A `#[global_allocator]` that is not the default (jemalloc
//! from tikv-jemallocator, mimalloc, an arena of your own) never calls them, so the
//! shim sees none of its allocations. Wrap it in [`Tracked`] and every allocation,
//! free and resize is reported through the shim's recording API (the one
//! `include/heapspan.h` offers C and C++), with the caller's stack:
//!
//! ```
//! use std::alloc::System; // or tikv_jemallocator::Jemalloc, mimalloc::MiMalloc, ...
//!
//! #[global_allocator]
//! static A: heapspan_alloc::Tracked<System> = heapspan_alloc::Tracked::new(System);
//!
//! fn main() {
//!     let v = vec![1u8; 1000]; // reported, at this line, when run under heapspan
//!     assert_eq!(v.len(), 1000);
//! }
//! ```
//!
//! Without the shim, each call costs one load and one predictable branch on top of
//! the wrapped allocator's: the shim's entry points are looked up once, with `dlsym`,
//! on the first allocation. Under the shim, the wrapped allocator's own calls to
//! malloc (if it makes any, as `System` does) are not recorded a second time: only the
//! blocks this wrapper reports count, at the code that asked for them.
//!
//! No dependencies; `no_std` (it needs `core` and the C library's `dlsym`). Linux.
//! [`api`] reports blocks of allocators that are not the global one, and pools. The
//! contract is heapspan's docs/api.md.
//!
//! [heapspan]: ../../../../README.md
#![no_std]

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::{c_char, c_int, c_void};
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

/// The shim's table, as `include/heapspan.h` declares `struct heapspan_api`. Members
/// are only ever added at the end; `size` says how many bytes of it the shim has.
#[repr(C)]
struct Table {
    size: u32,
    version: u32,
    alloc: unsafe extern "C" fn(ptr: usize, size: usize, pool: usize),
    free: unsafe extern "C" fn(ptr: usize),
    resize: unsafe extern "C" fn(old: usize, new: usize, size: usize, pool: usize),
    pool_name: unsafe extern "C" fn(pool: usize, name: *const c_char),
    pool_reset: unsafe extern "C" fn(pool: usize),
    ignore_begin: unsafe extern "C" fn(),
    ignore_end: unsafe extern "C" fn(),
    active: unsafe extern "C" fn() -> c_int,
}

const API_VERSION: u32 = 1;
const API_SYMBOL: &[u8] = b"heapspan_api_v1\0";

// glibc 2.34 and later have dlsym in libc itself (libdl is an empty stub there);
// before, it is libdl's. RTLD_DEFAULT is the null handle.
#[cfg_attr(target_os = "linux", link(name = "dl"))]
extern "C" {
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

// The entry points start as these, which look the table up and then do what the shim's
// would: the first call of any kind resolves, and every later one goes straight to
// the shim, or nowhere. dlsym calls malloc only when it fails, and that is the C
// library's malloc, never this allocator: no recursion. Two threads may both look it
// up; they store the same answer.
unsafe extern "C" fn boot_alloc(ptr: usize, size: usize, pool: usize) {
    if let Some(t) = resolve() {
        (t.alloc)(ptr, size, pool)
    }
}
unsafe extern "C" fn boot_free(ptr: usize) {
    if let Some(t) = resolve() {
        (t.free)(ptr)
    }
}
unsafe extern "C" fn boot_resize(old: usize, new: usize, size: usize, pool: usize) {
    if let Some(t) = resolve() {
        (t.resize)(old, new, size, pool)
    }
}
unsafe extern "C" fn boot_pool_name(pool: usize, name: *const c_char) {
    if let Some(t) = resolve() {
        (t.pool_name)(pool, name)
    }
}
unsafe extern "C" fn boot_pool_reset(pool: usize) {
    if let Some(t) = resolve() {
        (t.pool_reset)(pool)
    }
}
unsafe extern "C" fn boot_ignore_begin() {
    if let Some(t) = resolve() {
        (t.ignore_begin)()
    }
}
unsafe extern "C" fn boot_ignore_end() {
    if let Some(t) = resolve() {
        (t.ignore_end)()
    }
}
unsafe extern "C" fn boot_active() -> c_int {
    match resolve() {
        Some(t) => (t.active)(),
        None => 0,
    }
}

static BOOT: Table = Table {
    size: core::mem::size_of::<Table>() as u32,
    version: API_VERSION,
    alloc: boot_alloc,
    free: boot_free,
    resize: boot_resize,
    pool_name: boot_pool_name,
    pool_reset: boot_pool_reset,
    ignore_begin: boot_ignore_begin,
    ignore_end: boot_ignore_end,
    active: boot_active,
};

/// The shim's table once looked up, null when there is no shim, `BOOT` before.
static TABLE: AtomicPtr<Table> = AtomicPtr::new(&BOOT as *const Table as *mut Table);

#[cold]
#[inline(never)]
fn resolve() -> Option<&'static Table> {
    // SAFETY: dlsym with a NUL-terminated name; the shim's table, if found, is a
    // static of the shim's that lives as long as the process (it is never unloaded).
    let t = unsafe { dlsym(ptr::null_mut(), API_SYMBOL.as_ptr().cast()) } as *mut Table;
    let t = match unsafe { t.as_ref() } {
        Some(r) if r.version == API_VERSION && r.size as usize >= core::mem::size_of::<Table>() => t,
        _ => ptr::null_mut(),
    };
    TABLE.store(t, Ordering::Release);
    // SAFETY: as above.
    unsafe { t.as_ref() }
}

/// The table, or `None` when there is no shim: one load and one branch.
#[inline(always)]
fn table() -> Option<&'static Table> {
    // SAFETY: TABLE holds null, &BOOT, or the shim's table (all 'static).
    unsafe { TABLE.load(Ordering::Acquire).as_ref() }
}

/// A global allocator whose allocations heapspan records: `A`'s, each reported with
/// the stack of the code that asked for it. See the crate's documentation.
///
/// The report comes after `A` returns a block and before `A` gets it back, so that
/// the log never shows an address handed out again before its free. A resize is
/// reported as the free of the old block (before `A` resizes it: another thread may
/// get its address at once) and the allocation of the new one.
pub struct Tracked<A> {
    inner: A,
}

impl<A> Tracked<A> {
    /// Wraps `inner`; `const`, for a `static`.
    pub const fn new(inner: A) -> Self {
        Tracked { inner }
    }

    /// The wrapped allocator.
    pub const fn inner(&self) -> &A {
        &self.inner
    }
}

// SAFETY: every method hands the caller exactly what the wrapped allocator returns;
// the reports only read the pointers' values.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Tracked<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(t) = table() else {
            return self.inner.alloc(layout);
        };
        (t.ignore_begin)();
        let p = self.inner.alloc(layout);
        (t.ignore_end)();
        if !p.is_null() {
            (t.alloc)(p as usize, layout.size(), 0);
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let Some(t) = table() else {
            return self.inner.alloc_zeroed(layout);
        };
        (t.ignore_begin)();
        let p = self.inner.alloc_zeroed(layout);
        (t.ignore_end)();
        if !p.is_null() {
            (t.alloc)(p as usize, layout.size(), 0);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(t) = table() else {
            return self.inner.dealloc(ptr, layout);
        };
        (t.free)(ptr as usize);
        (t.ignore_begin)();
        self.inner.dealloc(ptr, layout);
        (t.ignore_end)();
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(t) = table() else {
            return self.inner.realloc(ptr, layout, new_size);
        };
        (t.free)(ptr as usize);
        (t.ignore_begin)();
        let p = self.inner.realloc(ptr, layout, new_size);
        (t.ignore_end)();
        if p.is_null() {
            // Not resized: the old block lives on, reported again from here.
            (t.alloc)(ptr as usize, layout.size(), 0);
        } else {
            (t.alloc)(p as usize, new_size, 0);
        }
        p
    }
}

/// The recording API for blocks that are not the global allocator's: an arena, a
/// pool, a cache of your own. The same calls as `include/heapspan.h`'s, with its
/// contract (docs/api.md): report an allocation after your allocator returns the
/// block, its free before your allocator can hand the memory out again. Every
/// function does nothing when the program runs without the shim.
pub mod api {
    use super::table;
    use core::ffi::CStr;

    /// A block of `size` bytes at `ptr`, just allocated.
    #[inline]
    pub fn alloc(ptr: *const u8, size: usize) {
        if let Some(t) = table() {
            // SAFETY: the shim records the pointer's value; it never dereferences it.
            unsafe { (t.alloc)(ptr as usize, size, 0) }
        }
    }

    /// The block at `ptr`, about to be freed.
    #[inline]
    pub fn free(ptr: *const u8) {
        if let Some(t) = table() {
            // SAFETY: as in `alloc`.
            unsafe { (t.free)(ptr as usize) }
        }
    }

    /// The block at `old` is now at `new`, `size` bytes (a resize that has happened).
    #[inline]
    pub fn resize(old: *const u8, new: *const u8, size: usize) {
        if let Some(t) = table() {
            // SAFETY: as in `alloc`.
            unsafe { (t.resize)(old as usize, new as usize, size, 0) }
        }
    }

    /// A block of `size` bytes at `ptr` that belongs to `pool` (any address unique
    /// among live pools, typically the pool's own): freed by [`pool_reset`].
    #[inline]
    pub fn pool_alloc<P: ?Sized>(pool: *const P, ptr: *const u8, size: usize) {
        if let Some(t) = table() {
            // SAFETY: as in `alloc`.
            unsafe { (t.alloc)(ptr as usize, size, pool.cast::<u8>() as usize) }
        }
    }

    /// Names `pool` from now on: the report lists pools by name. Takes a lock in the
    /// shim: not from a signal handler.
    pub fn pool_name<P: ?Sized>(pool: *const P, name: &CStr) {
        if let Some(t) = table() {
            // SAFETY: a NUL-terminated name, read during the call.
            unsafe { (t.pool_name)(pool.cast::<u8>() as usize, name.as_ptr()) }
        }
    }

    /// Every block of `pool` still live is freed, now. Not from a signal handler.
    pub fn pool_reset<P: ?Sized>(pool: *const P) {
        if let Some(t) = table() {
            // SAFETY: as in `alloc`.
            unsafe { (t.pool_reset)(pool.cast::<u8>() as usize) }
        }
    }

    /// Runs `f` with the calls to malloc and free it makes on this thread unrecorded:
    /// for the memory your allocator takes from malloc, so that its bytes count once,
    /// as your blocks. A fatal signal that arrives meanwhile waits for `f` to return.
    #[inline]
    pub fn ignored<R>(f: impl FnOnce() -> R) -> R {
        let Some(t) = table() else {
            return f();
        };
        struct End(unsafe extern "C" fn());
        impl Drop for End {
            fn drop(&mut self) {
                // SAFETY: pairs the ignore_begin below, even if f panics.
                unsafe { (self.0)() }
            }
        }
        // SAFETY: begin and end pair up on this thread (End's drop).
        unsafe { (t.ignore_begin)() };
        let _end = End(t.ignore_end);
        f()
    }

    /// Whether the shim is loaded and recording.
    pub fn active() -> bool {
        // SAFETY: a call into the shim's table, or into BOOT's.
        table().is_some_and(|t| unsafe { (t.active)() } != 0)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use core::ffi::CStr;
    use std::alloc::System;
    use std::vec::Vec;

    static T: Tracked<System> = Tracked::new(System);

    // The tests run without the shim: the wrapper must be the wrapped allocator.
    #[test]
    fn passes_calls_through_without_the_shim() {
        let l = Layout::from_size_align(100, 16).unwrap();
        unsafe {
            let p = T.alloc(l);
            assert!(!p.is_null());
            assert_eq!(p as usize % 16, 0);
            p.write_bytes(7, 100);
            let q = T.realloc(p, l, 5000);
            assert!(!q.is_null());
            assert_eq!(*q.add(99), 7);
            T.dealloc(q, Layout::from_size_align(5000, 16).unwrap());
            let z = T.alloc_zeroed(l);
            assert!((0..100).all(|i| *z.add(i) == 0));
            T.dealloc(z, l);
        }
        assert!(!api::active());
        assert!(TABLE.load(Ordering::Acquire).is_null(), "looked up once, and found absent");
    }

    #[test]
    fn api_calls_are_no_ops_without_the_shim() {
        let v: Vec<u8> = Vec::with_capacity(64);
        api::alloc(v.as_ptr(), 64);
        api::resize(v.as_ptr(), v.as_ptr(), 32);
        api::pool_name(&v, CStr::from_bytes_with_nul(b"pool\0").unwrap());
        api::pool_alloc(&v, v.as_ptr(), 8);
        api::pool_reset(&v);
        api::free(v.as_ptr());
        assert_eq!(api::ignored(|| 42), 42);
    }

    #[test]
    fn the_table_layout_is_the_headers() {
        // include/heapspan.h's struct heapspan_api on a 64-bit target: two u32, then
        // eight function pointers.
        assert_eq!(core::mem::size_of::<Table>(), 8 + 8 * core::mem::size_of::<usize>());
    }
}
