// known_rust.rs - leaks known by construction in Rust, built with plain `rustc` (no
// crates), for tests/report-tests.sh (which holds the same numbers; each call's "@name"
// comment gives it the line). Its frames must come out demangled, as
// known_rust::leaky_function, without the legacy mangling's ::h<hash> suffix.
//
//   @rust_alloc  leaky_function: std::alloc::alloc, 12 x 3000 bytes, leaked
//   @rust_box    boxed_function: Box::new of a 640-byte array, 5 x, leaked
//   @rust_vec    vec_function: Vec::with_capacity(100) of u64, 7 x 800 bytes, leaked
//
// std::alloc::alloc and Box::new are allocator entry points: the site is the function
// that calls them. Vec::with_capacity is a container's method: the site may be it, but
// never a frame of the allocator below it.
use std::alloc::{alloc, Layout};

#[inline(never)]
fn leaky_function(n: usize) -> usize {
    let layout = Layout::from_size_align(3000, 8).unwrap();
    let mut sum = 0;
    for _ in 0..n {
        let p = unsafe { alloc(layout) }; // @rust_alloc
        sum += p as usize & 1;
    }
    sum
}

#[inline(never)]
fn boxed_function(n: usize) -> usize {
    let mut sum = 0;
    for i in 0..n {
        let b = Box::new([i as u64; 80]); // @rust_box
        sum += b[0] as usize;
        std::mem::forget(b);
    }
    sum
}

#[inline(never)]
fn vec_function(n: usize) -> usize {
    let mut sum = 0;
    for _ in 0..n {
        let v: Vec<u64> = Vec::with_capacity(100); // @rust_vec
        sum += v.capacity();
        std::mem::forget(v);
    }
    sum
}

fn main() {
    let n = leaky_function(12) + boxed_function(5) + vec_function(7);
    std::process::exit(if n > 100000 { 1 } else { 0 });
}
