//! The release binary's code layout (server/build.rs): the functions `server/layout/hot-functions.txt`
//! names exist in the binary `make build` made, and the linker placed them first in `.text`, in the
//! list's order. The list names symbols of one particular build (crate versions, features, toolchain);
//! when it no longer matches, this test fails and says to run `make link-order`, instead of Warden's
//! memory growing back unnoticed (the figure itself is `make bench`'s, bench_supervisor).

use std::collections::HashMap;

use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};
use warden_tests::{gate, launcher::repo_root, Build};

/// At most this share of the listed functions may be missing from the binary (functions the
/// compiler inlined away or renamed since the profile was taken).
const MAX_MISSING: f64 = 0.05;

#[test]
fn the_hot_functions_come_first_in_the_release_binary() {
    let bin = Build::Release.bin();
    let built = if bin.is_file() {
        Ok(())
    } else {
        Err(format!("{} is missing: run `make build`", bin.display()))
    };
    if !gate("the release binary", built) {
        return;
    }
    let list_path = repo_root().join("server/layout/hot-functions.txt");
    let list = std::fs::read_to_string(&list_path).expect("read server/layout/hot-functions.txt");
    let listed: Vec<&str> = list.lines().filter(|l| !l.is_empty()).collect();
    assert!(
        listed.len() > 1000,
        "the list is nearly empty: {} names",
        listed.len()
    );

    let data = std::fs::read(&bin).expect("read the release binary");
    let file = object::File::parse(&*data).expect("parse the release binary");
    let text = file.section_by_name(".text").expect("a .text section");
    let (text_start, text_end) = (text.address(), text.address() + text.size());
    // Each defined function's address and size (the first definition of a name).
    let mut address: HashMap<&str, (u64, u64)> = HashMap::new();
    for symbol in file.symbols() {
        if symbol.kind() != SymbolKind::Text || !symbol.is_definition() {
            continue;
        }
        if let Ok(name) = symbol.name() {
            address
                .entry(name)
                .or_insert((symbol.address(), symbol.size()));
        }
    }

    let found: Vec<(u64, u64)> = listed
        .iter()
        .filter_map(|n| address.get(n).copied())
        .collect();
    let placed: Vec<u64> = found.iter().map(|&(at, _)| at).collect();
    let missing = listed.len() - placed.len();
    let stale = "server/layout/hot-functions.txt no longer matches the release build: run \
                 `make link-order` (and then `make build`)";
    assert!(
        (missing as f64) <= MAX_MISSING * listed.len() as f64,
        "{missing} of {} listed functions are not in {}. {stale}",
        listed.len(),
        bin.display()
    );

    // In the list's order: each placed function at or after the previous one (functions the compiler
    // merged share an address).
    let out_of_order = placed.windows(2).filter(|w| w[1] < w[0]).count();
    assert!(
        out_of_order * 100 <= placed.len(),
        "{out_of_order} of {} listed functions are not in the list's order: the linker did not get the \
         list (server/build.rs) or ignored it",
        placed.len()
    );

    // First in .text, packed: between the first listed function and the end of the last, hardly
    // anything that is not listed (functions the compiler merged share an address: counted once).
    let first = placed[0];
    assert!(
        first - text_start < 64 * 1024,
        "the first listed function is {} KiB into .text, not at its start",
        (first - text_start) / 1024
    );
    let mut by_address = found;
    by_address.sort_unstable();
    by_address.dedup_by_key(|&mut (at, _)| at);
    let listed_bytes: u64 = by_address.iter().map(|&(_, size)| size).sum();
    let end = by_address
        .iter()
        .map(|&(at, size)| at + size)
        .max()
        .unwrap_or(first);
    let span = end - first;
    assert!(
        span <= listed_bytes + listed_bytes / 10 + 64 * 1024,
        "the listed functions ({} KiB) spread over {} KiB of .text ({} KiB in all): they are not packed \
         together",
        listed_bytes / 1024,
        span / 1024,
        (text_end - text_start) / 1024
    );
}
