//! The shipped UI assets as a browser gets them from the real binary: the page names content-hashed
//! files (`warden.<hash>.js|wasm|css`), each is served brotli-compressed when the browser accepts br
//! (`content-encoding: br`, smaller than the raw file), hashed assets are cached for a year as
//! immutable, and the HTML page itself is not. For a `--split` build the same holds for the chunk
//! loader and every lazy-route chunk and chunk bundle in `pkg` (the page hints its own route's bundle),
//! except the main JS, which cargo-leptos rewrites after naming it and which is therefore revalidated.
//! A bundle holds exactly the files the split manifest lists for its lazy function, byte for byte.

use warden_tests::{assets, gate, Warden};

#[tokio::test]
async fn hashed_brotli_immutable_assets() {
    if !gate("the built UI (target/site/pkg)", assets::built()) {
        return;
    }
    let w = Warden::start();
    let client = w.client();
    let page = client.get(format!("{}/login", w.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page_cache = page
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(
        !page_cache.contains("immutable"),
        "the HTML page must not be cached as immutable: {page_cache:?}"
    );
    let html = page.text().await.unwrap();
    let urls = assets::asset_urls(&html);
    for ext in ["js", "wasm", "css"] {
        assert!(
            urls.iter().any(|u| u.ends_with(&format!(".{ext}"))),
            "no .{ext} asset in the page: {urls:?}"
        );
    }
    let split = urls.iter().any(|u| u.contains("/__wasm_split."));
    let mut urls = urls;
    if split {
        let bundle = urls
            .iter()
            .find(|u| u.contains("/bundle___login_route_view_"))
            .unwrap_or_else(|| panic!("a split build hints the login route's bundle: {urls:?}"));
        assert!(
            !urls.iter().any(|u| u.contains("/chunk_")),
            "the login route's chunks are hinted as its bundle, not one by one: {urls:?}"
        );
        assert_bundle_holds_the_manifests_files(&w.url, bundle).await;
        // Every chunk, not only this page's.
        let pkg = warden_tests::site_root().join("pkg");
        for entry in std::fs::read_dir(&pkg).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let url = format!("/pkg/{name}");
            if [".wasm", ".js"].iter().any(|e| name.ends_with(e)) && !urls.contains(&url) {
                urls.push(url);
            }
        }
    }
    for url in &urls {
        let name = url.rsplit('/').next().unwrap();
        let expected_cache = if split && name.starts_with("warden.") && name.ends_with(".js") {
            "no-cache"
        } else {
            "public, max-age=31536000, immutable"
        };
        assert!(
            assets::is_hashed_name(name),
            "{url} is not a content-hashed name"
        );
        let full = format!("{}{url}", w.url);
        // Plain request: the raw file, cached for a year.
        let raw = client.get(&full).send().await.unwrap();
        assert_eq!(raw.status(), 200, "{url}");
        assert_eq!(
            raw.headers().get("cache-control").unwrap(),
            expected_cache,
            "{url}"
        );
        assert!(raw.headers().get("content-encoding").is_none(), "{url}");
        let raw_len = raw.bytes().await.unwrap().len();
        // Accepting br: the brotli twin the build wrote (`.ci/compress-assets`, run by `make build-debug`).
        let resp = client
            .get(&full)
            .header("accept-encoding", "br")
            .send()
            .await
            .unwrap();
        let headers = resp.headers().clone();
        let br_len = resp.bytes().await.unwrap().len();
        assert_eq!(
            headers.get("content-encoding").map(|v| v.as_bytes()),
            Some(&b"br"[..]),
            "{url} is not sent brotli-compressed: is its twin missing? (`make build-debug` or `.ci/compress-assets` writes them)"
        );
        assert_eq!(
            headers.get("cache-control").unwrap(),
            expected_cache,
            "{url}"
        );
        assert!(
            br_len < raw_len,
            "{url}: brotli {br_len} B is not smaller than raw {raw_len} B"
        );
    }
}

/// Every `{` in the stylesheet is closed before the next rule starts at the top level: an unclosed
/// `@media (max-width: 640px) {` once put half of the stylesheet (every rule after it) into the
/// phone-only block, and CSS gives no error for that (the end of the file closes the block).
#[test]
fn stylesheet_blocks_are_closed() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../style/main.css");
    let css = std::fs::read_to_string(&path).expect("style/main.css");
    let mut depth = 0usize;
    let mut open_lines = Vec::new();
    let mut in_comment = false;
    let mut prev = ' ';
    for (n, line) in css.lines().enumerate() {
        for c in line.chars() {
            match (in_comment, prev, c) {
                (false, '/', '*') => in_comment = true,
                (true, '*', '/') => in_comment = false,
                (false, _, '{') => {
                    depth += 1;
                    open_lines.push(n + 1);
                }
                (false, _, '}') => {
                    assert!(depth > 0, "line {}: '}}' closes nothing", n + 1);
                    depth -= 1;
                    open_lines.pop();
                }
                _ => {}
            }
            prev = c;
        }
        // A section comment (`/* ---- … ---- */`) starts at the top level.
        if line.starts_with("/* ----") {
            assert_eq!(
                depth,
                0,
                "line {}: a new section starts inside the block opened at line(s) {open_lines:?}",
                n + 1
            );
        }
    }
    assert_eq!(
        depth, 0,
        "blocks opened at line(s) {open_lines:?} are never closed"
    );
}

/// `.ci/compress-assets` leaves twins Warden counts as current: none is reported stale at start, a
/// second run rewrites nothing, and a rebuilt file gets a new twin (brotli alone copies the file's time
/// truncated to whole seconds, which made every twin look older than its file).
#[test]
fn compressed_twins_count_as_current() {
    let brotli = std::process::Command::new("brotli")
        .arg("--version")
        .output();
    let present = match brotli {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err("the brotli command is missing (.ci/setup installs it)".to_string()),
    };
    if !gate("brotli", present) {
        return;
    }
    let site = tempfile::tempdir().unwrap();
    let pkg = site.path().join("pkg");
    std::fs::create_dir(&pkg).unwrap();
    let body = |seed: &str| {
        format!(
            "/* {seed} */\n{}",
            "console.log('warden asset');\n".repeat(400)
        )
    };
    for name in ["warden.js", "warden.css", "chunk_1.js"] {
        std::fs::write(pkg.join(name), body(name)).unwrap();
    }
    let compress = || {
        let out = std::process::Command::new(warden_tests::repo_root().join(".ci/compress-assets"))
            .arg(&pkg)
            .output()
            .expect("run .ci/compress-assets");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(compress().contains(": 3 brotli twin(s) written"));
    for name in ["warden.js", "warden.css", "chunk_1.js"] {
        let file = std::fs::metadata(pkg.join(name))
            .unwrap()
            .modified()
            .unwrap();
        let twin = std::fs::metadata(pkg.join(format!("{name}.br")))
            .unwrap()
            .modified()
            .unwrap();
        assert!(twin >= file, "{name}.br is older than {name}");
    }
    assert!(
        compress().contains(": 0 brotli twin(s) written"),
        "a second run rewrites nothing"
    );

    let mut w = warden_tests::Launch::new().site_root(site.path()).start();
    w.terminate(std::time::Duration::from_secs(10));
    // The check runs right after the "UI assets" line, before Warden serves.
    let log = warden_tests::wait_for(
        "Warden's start log",
        std::time::Duration::from_secs(10),
        || {
            let log = w.stderr();
            log.contains("UI assets").then_some(log)
        },
    );
    assert!(
        !log.contains("without a current brotli copy"),
        "Warden reports fresh twins as stale: {log}"
    );

    // A rebuilt file (new content, newer time) gets a new twin.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(2);
    std::fs::write(pkg.join("chunk_1.js"), body("rebuilt")).unwrap();
    std::fs::File::options()
        .write(true)
        .open(pkg.join("chunk_1.js"))
        .unwrap()
        .set_modified(later)
        .unwrap();
    assert!(compress().contains(": 1 brotli twin(s) written"));
}

/// The bundle at `url` (a login page hint) holds the files cargo-leptos' split manifest lists for the
/// login route, in the manifest's order and under their keys, each byte for byte as served on its own
/// (`.ci/bundle-chunks`).
async fn assert_bundle_holds_the_manifests_files(base: &str, url: &str) {
    let client = reqwest::Client::new();
    let get = |path: String| {
        let client = client.clone();
        async move {
            let resp = client.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            resp.bytes().await.unwrap()
        }
    };
    let pkg = warden_tests::site_root().join("pkg");
    let manifests: Vec<_> = std::fs::read_dir(&pkg)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("__wasm_split_manifest") && n.ends_with(".json"))
        .collect();
    let bundle = get(url.to_string()).await;
    let (count, entries) = parse_bundle(&bundle);
    // The bundle belongs to one of the manifests in pkg (a published site keeps older builds' files).
    let files = manifests
        .iter()
        .filter_map(|m| {
            let text = std::fs::read_to_string(pkg.join(m)).unwrap();
            let manifest: std::collections::HashMap<String, Vec<String>> =
                serde_json::from_str(&text).unwrap();
            manifest
                .into_iter()
                .find(|(id, _)| id.starts_with("__login_route_view_"))
                .map(|(_, files)| files)
        })
        .find(|files| {
            files.len() == count
                && files
                    .iter()
                    .zip(&entries)
                    .all(|(f, (key, _))| &bundle_key(f) == key)
        })
        .unwrap_or_else(|| panic!("no manifest lists the bundle's {count} files"));
    assert!(files.len() > 1, "a bundle of one file: {files:?}");
    for (file, (key, bytes)) in files.iter().zip(entries) {
        let alone = get(format!("/pkg/{file}.wasm")).await;
        assert!(
            alone[..] == bytes[..],
            "{key} ({file}) differs in the bundle"
        );
    }
}

/// A file's key in a bundle: its name up to the first 4 characters of its hash (`chunk_14.Wnn_` for
/// `chunk_14.Wnn_izBUJOWQpO1Ezkavyg`; see `.ci/bundle-chunks`).
fn bundle_key(stem: &str) -> String {
    let (name, hash) = stem.split_once('.').unwrap_or((stem, ""));
    format!("{name}.{}", &hash[..hash.len().min(4)])
}

/// Splits a bundle (`.ci/bundle-chunks`' format): the number of files, and each file's key and bytes.
fn parse_bundle(bundle: &[u8]) -> (usize, Vec<(String, Vec<u8>)>) {
    assert_eq!(&bundle[..4], b"WDNB", "not a bundle");
    let u32_at = |at: usize| u32::from_le_bytes(bundle[at..at + 4].try_into().unwrap()) as usize;
    let count = u32_at(4);
    let mut at = 8;
    let mut sizes = Vec::new();
    for _ in 0..count {
        let len = u16::from_le_bytes(bundle[at..at + 2].try_into().unwrap()) as usize;
        let name = String::from_utf8(bundle[at + 2..at + 2 + len].to_vec()).unwrap();
        sizes.push((name, u32_at(at + 2 + len)));
        at += 6 + len;
    }
    let mut entries = Vec::new();
    for (name, size) in sizes {
        entries.push((name, bundle[at..at + size].to_vec()));
        at += size;
    }
    assert_eq!(at, bundle.len(), "bytes after the last file");
    (count, entries)
}
