//! Link-time code layout of the release binary: the functions a running Warden executes (start-up,
//! supervision, the REST API, shutdown: `server/layout/hot-functions.txt`, written by `make link-order`)
//! are placed together at the start of `.text`.
//!
//! Why: Warden mostly waits, and most of its resident memory is its own code. The kernel maps a binary in
//! blocks around every page it touches (64 KiB "fault-around", or a whole large page-cache folio, up to
//! 2 MiB), so 2 MiB of code scattered over 11 MiB of `.text` kept nearly all of it resident. Packed, the
//! same code is a few of those blocks.
//!
//! Only for release builds for x86_64 Linux, linked by LLD (rustc's default linker there since 1.90):
//! the ordering names symbols of the release build, and GNU ld has no such option. A symbol the file
//! names but the binary lacks (code changed since the list was made) is skipped silently;
//! `tests/tests/release_layout.rs` fails when the list has gone stale.

use std::path::Path;

fn main() {
    let list = Path::new("layout/hot-functions.txt");
    println!("cargo::rerun-if-changed={}", list.display());
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let target = std::env::var("TARGET").unwrap_or_default();
    if !release || target != "x86_64-unknown-linux-gnu" || !list.exists() {
        return;
    }
    let Ok(dir) = std::env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    let path = Path::new(&dir).join(list);
    println!(
        "cargo::rustc-link-arg-bin=warden=-Wl,--symbol-ordering-file={}",
        path.display()
    );
    println!("cargo::rustc-link-arg-bin=warden=-Wl,--no-warn-symbol-ordering");
}
