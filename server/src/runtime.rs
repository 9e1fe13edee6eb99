//! How the `warden` process runs: the allocator limits set before any thread starts and the tokio
//! runtime sized for an appliance. Warden supervises hundreds of mostly idle services, so its own
//! footprint matters more than peak throughput.
//!
//! - glibc malloc gives every thread that allocates its own arena (up to 8 per core) and keeps freed
//!   memory in each; with tokio workers, blocking threads and sled's I/O threads that was ~17 MiB of
//!   Warden's 49 MiB with 200 services. [`tune_allocator`] caps the arenas and fixes the mmap and trim
//!   thresholds (glibc otherwise raises both after a big free — an argon2 login frees 19 MiB — and then
//!   keeps up to twice that much freed memory forever).
//! - [`build`] makes a single-thread runtime: supervision, HTTP and events all wait on one event loop
//!   (as supervisord's does); the blocking work — store flushes, `/proc` scans, `nft`, password
//!   hashing — runs on at most [`MAX_BLOCKING_THREADS`] blocking threads (tokio's default is 512: a
//!   burst of 200 service starts, each flushing the store, used to leave a crowd of threads and
//!   arenas behind). Against the multi-thread scheduler with 2 workers this measured 14.5 → 13.5 MiB
//!   RSS with 200 services (fewer threads, and the scheduler's code and its libm use gone) with the
//!   same restart latency (`make bench`, bench_supervisor).
//! - [`release_free_memory`] hands freed heap pages back to the kernel after a burst (start-up).
//! - [`raise_open_file_limit`] lifts the soft limit on open files to the hard one: the connection cap
//!   (`--max-connections`, default 1024) must not run into systemd's default soft limit of 1024.

use std::time::Duration;

/// Most threads for blocking work (store flushes, `/proc` scans, `nft`, password hashing); more
/// requests wait in a queue.
pub const MAX_BLOCKING_THREADS: usize = 16;
/// How long an idle blocking thread is kept.
const BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(5);
/// malloc arenas (the main one included) shared by all threads.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_ARENAS: i32 = 2;
/// Allocations at least this big get their own mapping (returned to the kernel when freed).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD_BYTES: i32 = 128 * 1024;
/// Free memory at the top of the heap beyond this is returned to the kernel.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD_BYTES: i32 = 256 * 1024;

/// Caps glibc's malloc arenas and pins its mmap/trim thresholds. Call first thing in `main`, before
/// any thread exists (arenas already created are not affected). Environment settings such as
/// `MALLOC_ARENA_MAX` are overridden. A no-op on other C libraries.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    {
        use nix::libc;
        for (param, value) in [
            (libc::M_ARENA_MAX, MALLOC_ARENAS),
            (libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
            (libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
        ] {
            // SAFETY: mallopt only changes allocator parameters; it is called before other threads
            // exist and takes plain integers.
            let ok = unsafe { libc::mallopt(param, value) };
            if ok != 1 {
                eprintln!("warden: mallopt({param}, {value}) was refused; continuing");
            }
        }
    }
}

/// Returns freed heap memory to the kernel (after a burst such as starting every service). Cheap to
/// call now and then; a no-op on other C libraries.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    {
        // SAFETY: malloc_trim only releases free memory held by the allocator; it takes an integer
        // (the padding to keep) and is thread-safe.
        unsafe {
            nix::libc::malloc_trim(0);
        }
    }
}

/// Raises the soft limit on open files to the hard limit (services inherit it); returns the limit now
/// in force, `None` if it cannot be read.
pub fn raise_open_file_limit() -> Option<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft >= hard {
        return Some(soft);
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => Some(hard),
        Err(e) => {
            tracing::warn!(soft, hard, error = %e, "cannot raise the open file limit");
            Some(soft)
        }
    }
}

/// The runtime `warden` runs on.
pub fn build() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .thread_name("warden-rt")
        .enable_all()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_builds_and_runs_blocking_work() {
        let runtime = build().unwrap();
        let answer = runtime.block_on(async { tokio::task::spawn_blocking(|| 42).await.unwrap() });
        assert_eq!(answer, 42);
        release_free_memory();
    }

    #[test]
    fn the_open_file_limit_is_at_least_what_it_was() {
        let (soft, _) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
        assert!(raise_open_file_limit().unwrap() >= soft);
    }
}
