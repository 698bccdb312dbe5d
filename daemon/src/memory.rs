//! Keeping an idle daemon small. Starting touches a lot of code that never runs again — reading
//! the config, migrating the database, recovering the previous run — and the kernel maps code
//! 64 KiB around every page fault, so after start most of the program and of OpenSSL's symbol
//! tables are resident. Like a kernel freeing its `__init` sections after boot, the daemon hands
//! those clean, file-backed pages back once it is serving; what it uses again faults back in.

/// One malloc arena for every thread: glibc gives each thread that allocates its own arena (a
/// heap of its own, partly touched), which costs an idle daemon hundreds of kilobytes for the
/// few allocations its threads make. Call first thing in `main`, before any thread starts.
#[allow(unsafe_code)]
pub fn one_malloc_arena() {
    // SAFETY: mallopt only sets a tuning parameter of the allocator; called before any other
    // thread exists, so nothing allocates concurrently.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Asks the kernel to reclaim the clean, file-backed pages of this process's program and shared
/// libraries (`MADV_PAGEOUT`; pages other processes also map are left alone by the kernel).
/// Nothing is lost: a page used again is read back from the page cache or the file. Best effort;
/// call once the daemon serves.
#[allow(unsafe_code)]
pub fn release_startup_pages() {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        // The path is the sixth field; anonymous mappings, the stack and [vdso] have none or
        // brackets, and written pages (data, relocations) are not the file's any more.
        let Some(path) = fields.nth(3) else { continue };
        if !path.starts_with('/') || perms.contains('w') {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) else {
            continue;
        };
        // SAFETY: MADV_PAGEOUT on a read-only file mapping of this process (just listed in
        // /proc/self/maps; this process never unmaps them) only drops clean pages from memory;
        // the next access reads them back from the file. Contents and protections are
        // unchanged, so no Rust reference can observe a difference.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_PAGEOUT);
        }
    }
}
