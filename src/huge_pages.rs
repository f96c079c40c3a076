//! The program's allocator: the system's, with large blocks laid out to be backed by transparent huge pages.
//!
//! Every 4 KiB page a buffer touches for the first time costs a page fault (in a virtual machine, several
//! microseconds). The image sets of `corrupt` (150 KB per 224-px image), its output pieces and training's
//! activation tensors are megabytes, so thousands of faults: measured, a quarter of the CPU time of
//! `corrupt --corruptions jpeg_compression` on 64 photographs at 224 px was the kernel's (3,800 faults).
//! Where the kernel leaves huge pages to the program's choice (`/sys/kernel/mm/transparent_hugepage/enabled`
//! = `madvise`, a common default), a block of [`HUGE_FROM`] bytes or more is placed on 2 MiB boundaries,
//! its length rounded up to whole 2 MiB pages, and advised with `madvise(MADV_HUGEPAGE)`, so that one fault
//! maps 2 MiB. The advice changes only how pages are backed, never their contents; where the kernel ignores it
//! (huge pages `never`, or not compiled in), the blocks are ordinary memory.
//!
//! Smaller blocks, and every block on other systems, go to the system allocator unchanged.

use std::alloc::{GlobalAlloc, Layout, System};

/// The size and alignment of a transparent huge page on x86-64 and most 64-bit Linux targets.
const HUGE_PAGE: usize = 2 << 20;

/// Blocks of at least this many bytes are laid out for huge pages.
const HUGE_FROM: usize = HUGE_PAGE;

/// The allocator (see the module documentation).
pub struct HugePages;

#[global_allocator]
static ALLOCATOR: HugePages = HugePages;

impl HugePages {
    /// The layout a block of `layout` gets from the system: itself for small blocks; whole, aligned huge pages
    /// for large ones (on Linux).
    fn placed(layout: Layout) -> Layout {
        if cfg!(target_os = "linux") && layout.size() >= HUGE_FROM {
            let size = layout.size().checked_next_multiple_of(HUGE_PAGE);
            if let Some(l) = size.and_then(|s| Layout::from_size_align(s, layout.align().max(HUGE_PAGE)).ok())
            {
                return l;
            }
        }
        layout
    }

    /// Advises the block `p` of `placed` bytes (from [`Self::placed`]) to be backed by huge pages.
    fn advise(p: *mut u8, placed: Layout) -> *mut u8 {
        #[cfg(target_os = "linux")]
        if !p.is_null() && placed.align() >= HUGE_PAGE {
            // SAFETY: the range is the block the system allocator just handed out; the advice changes only how
            // its pages are backed, and a refusal (an old kernel, huge pages compiled out) changes nothing.
            unsafe { libc::madvise(p.cast(), placed.size(), libc::MADV_HUGEPAGE) };
        }
        p
    }
}

// SAFETY: every block is allocated and freed by `System` with the same layout `placed` gives for the caller's
// layout, which is at least as large and as aligned as the caller's; `advise` does not touch the memory.
unsafe impl GlobalAlloc for HugePages {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let placed = Self::placed(layout);
        // SAFETY: `placed` has a non-zero size (at least the caller's).
        Self::advise(unsafe { System.alloc(placed) }, placed)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let placed = Self::placed(layout);
        if placed == layout {
            // SAFETY: the caller's contract.
            return unsafe { System.alloc_zeroed(layout) };
        }
        // Cleared after the advice, so that the clearing faults the pages in as huge pages (the system's own
        // zeroed allocation of an over-aligned block clears it before the advice could apply).
        // SAFETY: `placed` has a non-zero size; the block is `placed.size()` bytes long.
        unsafe {
            let p = Self::advise(System.alloc(placed), placed);
            if !p.is_null() {
                std::ptr::write_bytes(p, 0, placed.size());
            }
            p
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated with `placed(layout)`.
        unsafe { System.dealloc(ptr, Self::placed(layout)) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees that `new_size` rounded up to the alignment does not overflow `isize`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let (old, new) = (Self::placed(layout), Self::placed(new_layout));
        if old == layout && new == new_layout {
            // Small before and after: the system's own realloc.
            // SAFETY: the caller's contract.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        if old == new {
            // The same whole huge pages hold the new size.
            return ptr;
        }
        // SAFETY: `new` has a non-zero size; the copy covers the bytes both blocks hold; `ptr` was allocated
        // with `old`.
        unsafe {
            let p = Self::advise(System.alloc(new), new);
            if !p.is_null() {
                std::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size));
                System.dealloc(ptr, old);
            }
            p
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_blocks_keep_their_layout_and_large_ones_get_whole_aligned_huge_pages() {
        for (size, align) in
            [(1, 1), (4096, 8), (HUGE_FROM - 1, 64), (HUGE_FROM, 1), (5 << 20, 16), (9_633_792, 8)]
        {
            let l = Layout::from_size_align(size, align).unwrap();
            let p = HugePages::placed(l);
            if size < HUGE_FROM || !cfg!(target_os = "linux") {
                assert_eq!(p, l);
            } else {
                assert!(
                    p.size() >= size && p.size().is_multiple_of(HUGE_PAGE) && p.size() - size < HUGE_PAGE
                );
                assert_eq!(p.align(), align.max(HUGE_PAGE));
            }
        }
    }

    #[test]
    fn contents_survive_growing_and_shrinking_across_the_threshold() {
        // This test binary allocates through `HugePages` (it is the global allocator), so every step below goes
        // through `realloc` between small and large blocks.
        let mut v: Vec<u8> = Vec::new();
        for i in 0..(5usize << 20) {
            v.push((i % 251) as u8);
        }
        assert!(v.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
        v.truncate(1000);
        v.shrink_to_fit();
        assert!(v.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
        let zeroed = vec![0u8; 3 << 20];
        assert!(!cfg!(target_os = "linux") || (zeroed.as_ptr() as usize).is_multiple_of(HUGE_PAGE));
        assert!(zeroed.iter().all(|&b| b == 0));
        let wide = vec![7u64; 1 << 19];
        assert!(wide.iter().all(|&x| x == 7));
    }
}
