// sym_rust_prog.rs - test program for test_symbolize.c (Rust, built with plain
// `rustc -g -C opt-level=0`, no crates). Prints its module entry from dl_iterate_phdr
// like sym_progs.h does, then the exact pc of one instruction inside leaky_function,
// whose name must come back demangled as sym_rust_prog::leaky_function, and the
// address of std::process::id, a v0-mangled name.
use std::arch::asm;
use std::ffi::c_void;

#[repr(C)]
struct Phdr {
    p_type: u32,
    p_flags: u32,
    p_offset: u64,
    p_vaddr: u64,
    p_paddr: u64,
    p_filesz: u64,
    p_memsz: u64,
    p_align: u64,
}

#[repr(C)]
struct DlPhdrInfo {
    addr: u64,
    name: *const u8,
    phdr: *const Phdr,
    phnum: u16,
}

extern "C" {
    fn dl_iterate_phdr(
        cb: extern "C" fn(*mut DlPhdrInfo, usize, *mut c_void) -> i32,
        data: *mut c_void,
    ) -> i32;
}

const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const NT_GNU_BUILD_ID: u32 = 3;

fn build_id(info: &DlPhdrInfo, ph: &Phdr) -> Option<String> {
    let base = (info.addr + ph.p_vaddr) as *const u8;
    let seg = unsafe { std::slice::from_raw_parts(base, ph.p_memsz as usize) };
    let word = |at: usize| u32::from_ne_bytes([seg[at], seg[at + 1], seg[at + 2], seg[at + 3]]);
    let mut at = 0;
    while at + 12 <= seg.len() {
        let (namesz, descsz, kind) = (word(at) as usize, word(at + 4) as usize, word(at + 8));
        let name = at + 12;
        let desc = name + ((namesz + 3) & !3);
        if kind == NT_GNU_BUILD_ID && namesz == 4 && &seg[name..name + 4] == b"GNU\0" {
            return Some(seg[desc..desc + descsz].iter().map(|b| format!("{:02x}", b)).collect());
        }
        at = desc + ((descsz + 3) & !3);
    }
    None
}

extern "C" fn print_module(info: *mut DlPhdrInfo, _size: usize, _data: *mut c_void) -> i32 {
    let info = unsafe { &*info };
    let phdrs = unsafe { std::slice::from_raw_parts(info.phdr, info.phnum as usize) };
    let (mut lo, mut hi, mut id) = (u64::MAX, 0u64, None);
    for ph in phdrs {
        if ph.p_type == PT_LOAD {
            lo = lo.min(info.addr + ph.p_vaddr);
            hi = hi.max(info.addr + ph.p_vaddr + ph.p_memsz);
        } else if ph.p_type == PT_NOTE && id.is_none() {
            id = build_id(info, ph);
        }
    }
    println!("module {:x} {:x} {:x} {}", info.addr, lo, hi, id.unwrap_or("-".to_string()));
    1 // the first entry is the program itself
}

#[inline(never)]
fn leaky_function(n: usize) -> Vec<u8> {
    let pc: usize;
    unsafe { asm!("lea {0}, [rip]", out(reg) pc) }; let line = line!();
    println!("site leaky_function {:x} {}", pc, line);
    vec![0u8; n]
}

fn main() {
    unsafe { dl_iterate_phdr(print_module, std::ptr::null_mut()) };
    // A std function: the prebuilt std uses v0 (_R) mangling, the user crate legacy.
    let std_fn = std::process::id as fn() -> u32;
    println!("site std_process_id {:x} 0", std_fn as usize);
    let v = leaky_function(64);
    std::mem::forget(v);
}
