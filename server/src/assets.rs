//! The built UI assets under `<site-root>/pkg`: which files are current ([`discover`]: the names in
//! cargo-leptos' `hash.txt` next to the binary when they exist, else the newest `warden[.<hash>].ext`
//! of each kind; for a `--split` build also the chunk loader and the split manifest), their brotli
//! twins ([`precompress`]: `X.br` written once next to every JS, WASM and CSS file — the lazy routes'
//! chunks included — and reused by every later start, so `ServeDir::precompressed_br` can serve them
//! without compressing per request), and the cache policy ([`cache_control`]: a year, immutable, for
//! content-hashed names only).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use app::assets::{is_hashed_asset, AssetNames, SplitAssets};

/// `Cache-Control` of content-hashed assets.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of assets whose name does not change with their content.
pub const REVALIDATE: &str = "no-cache";

/// The `Cache-Control` value for a request path under `/pkg`.
///
/// One hashed name is not a content hash: in a `--split` build cargo-leptos names the main JS after
/// its content *before* writing the chunk loader's (hashed) name into it, so a build that changes only
/// a lazy route keeps the JS name while its content points at a new loader. Cached for a year, the old
/// JS would import a loader that no longer exists; it is revalidated instead (6 KB, usually a 304).
pub fn cache_control(path: &str) -> &'static str {
    let file_name = path.rsplit('/').next().unwrap_or(path);
    if app::assets::is_split_main_js(file_name) {
        REVALIDATE
    } else if is_hashed_asset(file_name) {
        IMMUTABLE
    } else {
        REVALIDATE
    }
}

/// File names of a split build's chunk loader and manifest (cargo-leptos' fixed prefixes).
const SPLIT_LOADER_PREFIX: &str = "__wasm_split.";
const SPLIT_MANIFEST_PREFIX: &str = "__wasm_split_manifest";

/// What cargo-leptos' hash file names: the three main assets, and for a split build the chunk loader
/// and the manifest (file names).
#[derive(Debug, Default)]
struct HashFileNames {
    js: Option<String>,
    wasm: Option<String>,
    css: Option<String>,
    loader: Option<String>,
    manifest: Option<String>,
}

/// Parses cargo-leptos' hash file (`js: <hash>` / `wasm: <hash>` / `css: <hash>` lines, plus `split:`
/// and `manifest:` for a `--split` build).
fn parse_hash_file(text: &str, output_name: &str) -> HashFileNames {
    let mut names = HashFileNames::default();
    for line in text.lines() {
        let Some((kind, hash)) = line.split_once(':') else {
            continue;
        };
        let hash = hash.trim();
        match kind.trim() {
            "js" => names.js = Some(format!("{output_name}.{hash}.js")),
            "wasm" => names.wasm = Some(format!("{output_name}.{hash}.wasm")),
            "css" => names.css = Some(format!("{output_name}.{hash}.css")),
            "split" => names.loader = Some(format!("{SPLIT_LOADER_PREFIX}{hash}.js")),
            "manifest" => names.manifest = Some(format!("{SPLIT_MANIFEST_PREFIX}.{hash}.json")),
            _ => {}
        }
    }
    names
}

/// Whether `file_name` is `<output_name>.<ext>` or `<output_name>.<hash>.<ext>`.
fn is_asset_of(file_name: &str, output_name: &str, ext: &str) -> bool {
    let Some(rest) = file_name.strip_prefix(output_name) else {
        return false;
    };
    let Some(middle) = rest.strip_suffix(ext) else {
        return false;
    };
    middle == "."
        || (middle.starts_with('.') && middle.ends_with('.') && is_hashed_asset(file_name))
}

/// The current asset names in `pkg_dir`. `hash_file` is cargo-leptos' `hash.txt` (next to the binary it
/// built); its names win when their files exist. Otherwise, per kind, the most recently modified
/// matching file; otherwise the unhashed default (and no split parts).
pub fn discover(pkg_dir: &Path, hash_file: Option<&Path>, output_name: &str) -> AssetNames {
    let listed = hash_file
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|text| parse_hash_file(&text, output_name))
        .unwrap_or_default();
    let exists =
        |name: &Option<String>| name.as_ref().filter(|n| pkg_dir.join(n).is_file()).cloned();
    let files: Vec<(String, SystemTime)> = std::fs::read_dir(pkg_dir)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| {
                    let modified = e.metadata().ok()?.modified().ok()?;
                    Some((e.file_name().into_string().ok()?, modified))
                })
                .collect()
        })
        .unwrap_or_default();
    let newest = |matches: &dyn Fn(&str) -> bool| {
        files
            .iter()
            .filter(|(name, _)| matches(name))
            .max_by_key(|(_, modified)| *modified)
            .map(|(name, _)| name.clone())
    };
    let main = |listed: &Option<String>, ext: &str, default: String| {
        exists(listed)
            .or_else(|| newest(&|name| is_asset_of(name, output_name, ext)))
            .unwrap_or(default)
    };
    let defaults = AssetNames::default();
    let loader = exists(&listed.loader)
        .or_else(|| newest(&|name| name.starts_with(SPLIT_LOADER_PREFIX) && name.ends_with(".js")));
    let manifest = exists(&listed.manifest).or_else(|| {
        newest(&|name| name.starts_with(SPLIT_MANIFEST_PREFIX) && name.ends_with(".json"))
    });
    AssetNames {
        js: main(&listed.js, "js", defaults.js),
        wasm: main(&listed.wasm, "wasm", defaults.wasm),
        css: main(&listed.css, "css", defaults.css),
        split: loader.map(|loader| SplitAssets {
            loader,
            chunks: manifest
                .and_then(|m| read_split_manifest(&pkg_dir.join(m)))
                .unwrap_or_default(),
        }),
    }
}

/// Reads cargo-leptos' split manifest (lazy function id → chunk names). A missing or unreadable
/// manifest only costs the chunk preload hints, so it is logged, not fatal.
fn read_split_manifest(path: &Path) -> Option<HashMap<String, Vec<String>>> {
    let parsed = std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()));
    match parsed {
        Ok(chunks) => Some(chunks),
        Err(error) => {
            tracing::warn!(%error, path = %path.display(), "cannot read the WASM split manifest; no chunk preload hints");
            None
        }
    }
}

/// The files a browser may fetch from `pkg_dir` and that are worth a brotli twin: every JS, WASM and
/// CSS file (for a split build: the main module, the chunk loader and every chunk).
pub fn compressible_files(pkg_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(pkg_dir)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| {
                    !name.starts_with('.')
                        && [".js", ".wasm", ".css"]
                            .iter()
                            .any(|ext| name.ends_with(ext))
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Brotli quality by size: the best (11) for release-sized files, a fast level for big debug builds.
fn quality_for(len: u64) -> u32 {
    if len <= 4 * 1024 * 1024 {
        11
    } else {
        5
    }
}

/// Writes `X.br` for each of `files` in `pkg_dir` that is missing it (or has an older one), unless
/// compressing does not make it smaller. Writes to a
/// temporary file and renames, so concurrent starts never serve half a file. Returns the files written.
pub fn precompress(pkg_dir: &Path, files: &[String]) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for name in files {
        let source = pkg_dir.join(name);
        let target = pkg_dir.join(format!("{name}.br"));
        let meta = match std::fs::metadata(&source) {
            Ok(m) if m.is_file() => m,
            _ => continue,
        };
        let fresh = std::fs::metadata(&target)
            .and_then(|t| Ok(t.modified()? >= meta.modified()?))
            .unwrap_or(false);
        if fresh {
            continue;
        }
        let raw = std::fs::read(&source)?;
        let mut compressed = Vec::with_capacity(raw.len() / 3);
        {
            let params = brotli::enc::BrotliEncoderParams {
                quality: i32::try_from(quality_for(meta.len())).unwrap_or(11),
                lgwin: 22,
                ..Default::default()
            };
            let mut writer =
                brotli::CompressorWriter::with_params(&mut compressed, 64 * 1024, &params);
            writer.write_all(&raw)?;
            writer.flush()?;
        }
        // A twin that saves nothing (a tiny chunk) would only cost a lookup: the raw file is served.
        if compressed.len() >= raw.len() {
            continue;
        }
        let temp = pkg_dir.join(format!(".{name}.br.{}.tmp", std::process::id()));
        std::fs::write(&temp, &compressed)?;
        std::fs::rename(&temp, &target)?;
        written.push(target);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "mB7uPj3MYxQ1l8dmgnGWrA";

    #[test]
    fn cache_policy_by_name() {
        assert_eq!(
            cache_control(&format!("/pkg/warden.{HASH}.wasm")),
            IMMUTABLE
        );
        assert_eq!(cache_control("/pkg/warden.wasm"), REVALIDATE);
        assert_eq!(cache_control("/"), REVALIDATE);
    }

    #[test]
    fn discovers_hash_file_names_then_newest_files() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path();
        for ext in ["js", "wasm", "css"] {
            std::fs::write(pkg.join(format!("warden.{HASH}.{ext}")), ext).unwrap();
        }
        let hash_file = dir.path().join("hash.txt");
        std::fs::write(
            &hash_file,
            format!("js: {HASH}\nwasm: {HASH}\ncss: {HASH}\n"),
        )
        .unwrap();
        let names = discover(pkg, Some(&hash_file), "warden");
        assert_eq!(names.wasm, format!("warden.{HASH}.wasm"));
        // Without the hash file, the files themselves are found.
        let names = discover(pkg, None, "warden");
        assert_eq!(names.js, format!("warden.{HASH}.js"));
        assert_eq!(names.css, format!("warden.{HASH}.css"));
        // An empty directory: the unhashed defaults.
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(
            discover(empty.path(), None, "warden"),
            AssetNames::default()
        );
    }

    #[test]
    fn discovers_the_split_loader_and_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path();
        for ext in ["js", "wasm", "css"] {
            std::fs::write(pkg.join(format!("warden.{HASH}.{ext}")), ext).unwrap();
        }
        let loader = format!("__wasm_split.{HASH}.js");
        std::fs::write(pkg.join(&loader), "loader").unwrap();
        std::fs::write(
            pkg.join(format!("__wasm_split_manifest.{HASH}.json")),
            r#"{"__login_route_view_1": ["chunk_1.abc", "split___login_route_view_1.def"]}"#,
        )
        .unwrap();
        let hash_file = pkg.join("hash.txt");
        std::fs::write(
            &hash_file,
            format!("js: {HASH}\nwasm: {HASH}\ncss: {HASH}\nmanifest: {HASH}\nsplit: {HASH}\n"),
        )
        .unwrap();
        for hash_file in [Some(hash_file.as_path()), None] {
            let split = discover(pkg, hash_file, "warden").split.unwrap();
            assert_eq!(split.loader, loader);
            assert_eq!(
                split.chunks["__login_route_view_1"],
                ["chunk_1.abc", "split___login_route_view_1.def"]
            );
        }
        // Every JS/WASM/CSS file gets a brotli twin, not only the three main ones.
        assert_eq!(compressible_files(pkg).len(), 4);
        // Not a split build: no split parts.
        let plain = tempfile::tempdir().unwrap();
        assert_eq!(discover(plain.path(), None, "warden").split, None);
    }

    #[test]
    fn precompress_writes_a_valid_brotli_twin_once() {
        let dir = tempfile::tempdir().unwrap();
        let text = "warden ".repeat(2000);
        std::fs::write(dir.path().join("a.js"), &text).unwrap();
        let written = precompress(dir.path(), &["a.js".to_string()]).unwrap();
        assert_eq!(written.len(), 1);
        let compressed = std::fs::read(dir.path().join("a.js.br")).unwrap();
        assert!(compressed.len() < text.len() / 10);
        let mut out = Vec::new();
        brotli::BrotliDecompress(&mut compressed.as_slice(), &mut out).unwrap();
        assert_eq!(out, text.as_bytes());
        // Up to date: not written again.
        assert!(precompress(dir.path(), &["a.js".to_string()])
            .unwrap()
            .is_empty());
    }
}
