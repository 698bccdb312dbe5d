//! Keeping an idle daemon small. Starting touches a lot of code that never runs again — reading
//! the config, migrating the database, recovering the previous run, the dynamic loader's symbol
//! tables — and the kernel maps code 64 KiB around every page fault, so after start most of the
//! program and much of its libraries are resident. Like a kernel freeing its `__init` sections
//! after boot, the daemon unmaps those pages once it serves; what it runs again faults back in
//! from the page cache.

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

/// Unmaps the pages of this process's read-only file mappings (the program's code and constants,
/// its libraries' code and symbol tables) that hold nothing but the file's contents. They stay in
/// the page cache; the next access maps them again. Best effort; call once the daemon serves.
#[allow(unsafe_code)]
pub fn release_startup_pages() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    for (start, end) in pure_file_mappings(&smaps) {
        // SAFETY: the range is a private, non-writable mapping of a file with no anonymous
        // (copied-on-write) page, as /proc/self/smaps just said: every page of it equals the
        // file's contents, and it cannot be written without an mprotect this process does not
        // do. MADV_DONTNEED drops the page-table entries; the next access faults the same bytes
        // in from the page cache. No Rust reference can observe a difference.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
}

/// The address ranges of private, non-writable file mappings without anonymous pages, from the
/// text of `/proc/self/smaps`.
fn pure_file_mappings(smaps: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else { continue };
        if let Some((start, end)) = first.split_once('-')
            && let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            )
        {
            // A mapping's header: range, perms, offset, device, inode, path.
            let perms = fields.next().unwrap_or("");
            let path = fields.nth(3).unwrap_or("");
            let eligible = path.starts_with('/')
                && perms.starts_with('r')
                && perms.ends_with('p')
                && !perms.contains('w');
            current = eligible.then_some((start, end));
        } else if first == "Anonymous:"
            && let Some(range) = current.take()
            && fields.next() == Some("0")
        {
            found.push(range);
        }
    }
    found
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_untouched_read_only_file_mappings_are_chosen() {
        let smaps = "\
55d0c0000000-55d0c0100000 r-xp 00000000 fe:01 123 /usr/bin/microcid
Rss:                 400 kB
Anonymous:             0 kB
55d0c0100000-55d0c0120000 r--p 00100000 fe:01 123 /usr/bin/microcid
Anonymous:            12 kB
55d0c0120000-55d0c0130000 rw-p 00120000 fe:01 123 /usr/bin/microcid
Anonymous:             0 kB
7f0000000000-7f0000100000 rw-p 00000000 00:00 0
Anonymous:             8 kB
7f0000200000-7f0000300000 r--s 00000000 fe:01 9 /dev/shm/x
Anonymous:             0 kB
7f0000400000-7f0000500000 r--p 00000000 fe:01 7 /usr/lib/libc.so.6
Anonymous:             0 kB
";
        assert_eq!(
            pure_file_mappings(smaps),
            [
                (0x55d0c0000000, 0x55d0c0100000),
                (0x7f0000400000, 0x7f0000500000)
            ]
        );
    }

    #[test]
    fn releasing_keeps_the_process_working() {
        release_startup_pages();
        // Code, constants and library calls still work: they fault back in.
        let v: Vec<String> = (0..100).map(|i| format!("{i:x}")).collect();
        assert_eq!(v[42], "2a");
        assert!(std::fs::read_to_string("/proc/self/status").is_ok());
    }
}
