// rust_bump.rs - a Rust program with an allocator of its own: size-class free lists over
// one mmap'd region (large blocks mmap'd one by one), so that no allocation reaches
// libc's malloc. tests/api.mk builds it twice: as is, the shim sees none of its
// allocations and the report must say why; with --cfg tracked, the same allocator
// wrapped in heapspan_alloc::Tracked, every leak is exact and at its line.
//
// Known truth (tests/api-tests.sh reads the @markers): leaky_vecs leaks 25 blocks of
// 3000 bytes, leaky_boxes 40 of 96; churn allocates and frees 20,000 blocks of 1 to
// 512 bytes. It prints the same line with and without the shim.
use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

extern "C" {
    fn mmap(addr: *mut c_void, len: usize, prot: i32, flags: i32, fd: i32, off: i64) -> *mut c_void;
    fn munmap(addr: *mut c_void, len: usize) -> i32;
}

const PROT_RW: i32 = 0x1 | 0x2;
const MAP_PRIVATE_ANON_NORESERVE: i32 = 0x02 | 0x20 | 0x4000;
const REGION: usize = 1 << 30;
const CLASSES: usize = 13; // 16 B .. 64 KiB
const LARGE: usize = 16 << (CLASSES - 1);

struct FreeLists {
    lock: AtomicBool,
    base: AtomicUsize,
    next: AtomicUsize,
    heads: [AtomicUsize; CLASSES],
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: AtomicUsize = AtomicUsize::new(0);

static LISTS: FreeLists = FreeLists {
    lock: AtomicBool::new(false),
    base: AtomicUsize::new(0),
    next: AtomicUsize::new(0),
    heads: [EMPTY; CLASSES],
};

fn class_of(size: usize) -> usize {
    let mut c = 0;
    while (16usize << c) < size {
        c += 1;
    }
    c
}

struct Bump;

unsafe fn map(len: usize) -> *mut u8 {
    let p = mmap(ptr::null_mut(), len, PROT_RW, MAP_PRIVATE_ANON_NORESERVE, -1, 0);
    if p as isize == -1 {
        ptr::null_mut()
    } else {
        p as *mut u8
    }
}

unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let size = l.size().max(l.align()).max(1);
        if size > LARGE || l.align() > 4096 {
            return map((size + 4095) & !4095);
        }
        let c = class_of(size);
        while LISTS.lock.swap(true, Ordering::Acquire) {
            std::hint::spin_loop();
        }
        let head = LISTS.heads[c].load(Ordering::Relaxed);
        let p = if head != 0 {
            LISTS.heads[c].store(*(head as *const usize), Ordering::Relaxed);
            head as *mut u8
        } else {
            if LISTS.base.load(Ordering::Relaxed) == 0 {
                let r = map(REGION);
                LISTS.base.store(r as usize, Ordering::Relaxed);
                LISTS.next.store(r as usize, Ordering::Relaxed);
            }
            let block = 16usize << c; // aligned to its own size: any align up to it
            let at = (LISTS.next.load(Ordering::Relaxed) + block - 1) & !(block - 1);
            if at + block > LISTS.base.load(Ordering::Relaxed) + REGION {
                ptr::null_mut()
            } else {
                LISTS.next.store(at + block, Ordering::Relaxed);
                at as *mut u8
            }
        };
        LISTS.lock.store(false, Ordering::Release);
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        let size = l.size().max(l.align()).max(1);
        if size > LARGE || l.align() > 4096 {
            munmap(p as *mut c_void, (size + 4095) & !4095);
            return;
        }
        let c = class_of(size);
        while LISTS.lock.swap(true, Ordering::Acquire) {
            std::hint::spin_loop();
        }
        *(p as *mut usize) = LISTS.heads[c].load(Ordering::Relaxed);
        LISTS.heads[c].store(p as usize, Ordering::Relaxed);
        LISTS.lock.store(false, Ordering::Release);
    }
}

#[cfg(not(tracked))]
#[global_allocator]
static A: Bump = Bump;

#[cfg(tracked)]
#[global_allocator]
static A: heapspan_alloc::Tracked<Bump> = heapspan_alloc::Tracked::new(Bump);

#[inline(never)]
fn leaky_vecs(n: usize) -> usize {
    let mut sum = 0;
    for i in 0..n {
        let mut v: Vec<u8> = Vec::with_capacity(3000); // @rust_bump_vec
        v.push(i as u8);
        sum += v[0] as usize;
        std::mem::forget(v);
    }
    sum
}

#[inline(never)]
fn leaky_boxes(n: usize) -> usize {
    let mut sum = 0;
    for i in 0..n {
        let b = Box::new([i as u8; 96]); // @rust_bump_box
        sum += b[95] as usize;
        Box::leak(b);
    }
    sum
}

#[inline(never)]
fn churn(n: usize) -> usize {
    let mut sum = 0;
    let mut keep: Vec<Vec<u8>> = Vec::with_capacity(64);
    for i in 0..n {
        let v = vec![(i % 251) as u8; 1 + i % 512];
        sum += v[v.len() - 1] as usize;
        if keep.len() == 64 {
            keep.clear();
        }
        keep.push(v);
    }
    sum
}

fn main() {
    let a = leaky_vecs(25);
    let b = leaky_boxes(40);
    let c = churn(20_000);
    println!("rust_bump: vecs {} boxes {} churn {}", a, b, c);
}
