//! Letting go of the start-up code's pages once a long-lived process has started its work.
//!
//! runwasm's binaries hold the compiler, the container set-up, the CLI and the task API;
//! starting a container touches much of that, and the kernel maps file pages in large
//! chunks around each touched page. Those mappings would stay in the process's memory (its
//! Pss and RSS) for its whole life. A `wasi:http` server, once listening, and the shim,
//! once a task runs, use a small part of the code: the read-only segments are unmapped,
//! and what is used later maps back in from the page cache on first use.

use std::ffi::c_void;
use std::ptr::NonNull;

use nix::libc;
use nix::sys::mman::{madvise, MmapAdvise};

/// Drops this process's mappings of the executable's read-only segments (code and
/// constants). They are never written, so they map back unchanged; the writable segment,
/// whose relocated part is made read-only after loading, is left alone.
pub fn release() {
    for (start, len) in read_only_segments() {
        let Some(start) = NonNull::new(start as *mut c_void) else {
            continue;
        };
        // SAFETY: the range is a read-only segment of this executable, page-aligned: a
        // private file mapping with no written pages, which MADV_DONTNEED leaves mapped and
        // faults back in from the file on the next access.
        if let Err(e) = unsafe { madvise(start, len, MmapAdvise::MADV_DONTNEED) } {
            tracing::debug!("cannot release the start-up code: {e}");
        }
    }
}

/// The executable's loaded segments that are not writable, page-aligned: (start, length).
fn read_only_segments() -> Vec<(usize, usize)> {
    let mut found: Vec<(usize, usize)> = Vec::new();
    // SAFETY: the callback only reads what the loader passes it and pushes to `found`,
    // which outlives the call.
    unsafe {
        libc::dl_iterate_phdr(
            Some(first_object_segments),
            (&mut found as *mut Vec<(usize, usize)>).cast(),
        );
    }
    let Some(page) = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map(|page| page as usize)
    else {
        return Vec::new();
    };
    found
        .into_iter()
        .map(|(start, len)| {
            let aligned = start & !(page - 1);
            let end = (start + len).div_ceil(page) * page;
            (aligned, end - aligned)
        })
        .collect()
}

/// `dl_iterate_phdr` lists the executable first: its PT_LOADs without PF_W, then stop.
unsafe extern "C" fn first_object_segments(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    found: *mut c_void,
) -> libc::c_int {
    // SAFETY: the loader passes a valid `dl_phdr_info` whose program headers it owns
    let info = unsafe { &*info };
    if info.dlpi_phdr.is_null() {
        return 1;
    }
    // SAFETY: as above
    let headers = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum.into()) };
    // SAFETY: `found` is the `Vec` that `read_only_segments` passed
    let found = unsafe { &mut *found.cast::<Vec<(usize, usize)>>() };
    for header in headers {
        if header.p_type == libc::PT_LOAD && header.p_flags & libc::PF_W == 0 {
            let start = info.dlpi_addr as usize + header.p_vaddr as usize;
            found.push((start, header.p_memsz as usize));
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_segments_found_hold_this_code_and_constants_and_survive_their_release() {
        static CONSTANT: &str = "a constant of the read-only segment";
        let segments = read_only_segments();
        let holds = |address: usize| {
            segments
                .iter()
                .any(|&(start, len)| (start..start + len).contains(&address))
        };
        assert!(
            holds(read_only_segments as *const () as usize),
            "code in {segments:x?}"
        );
        assert!(
            holds(CONSTANT.as_ptr() as usize),
            "constants in {segments:x?}"
        );
        release();
        // code and constants read back the same after their pages were dropped
        assert_eq!(read_only_segments(), segments);
        assert_eq!(
            CONSTANT,
            ["a constant of the", "read-only segment"].join(" ")
        );
    }
}
