//! The built UI assets under `<site-root>/pkg`: which files are current ([`discover`]: the names in
//! cargo-leptos' `hash.txt` next to the binary when they exist, else the newest `warden[.<hash>].ext`
//! of each kind), their brotli twins ([`precompress`]: `X.br` written once next to `X`, reused by every
//! later start, so `ServeDir::precompressed_br` can serve them without compressing per request), and
//! the cache policy ([`cache_control`]: a year, immutable, for content-hashed names only).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use app::assets::{is_hashed_asset, AssetNames};

/// `Cache-Control` of content-hashed assets.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of assets whose name does not change with their content.
pub const REVALIDATE: &str = "no-cache";

/// Files smaller than this are not worth compressing.
const MIN_COMPRESS_BYTES: u64 = 1024;

/// The `Cache-Control` value for a request path under `/pkg`.
pub fn cache_control(path: &str) -> &'static str {
    let file_name = path.rsplit('/').next().unwrap_or(path);
    if is_hashed_asset(file_name) {
        IMMUTABLE
    } else {
        REVALIDATE
    }
}

/// Parses cargo-leptos' hash file (`js: <hash>` / `wasm: <hash>` / `css: <hash>` lines).
fn names_from_hash_file(text: &str, output_name: &str) -> Option<AssetNames> {
    let mut names = (None, None, None);
    for line in text.lines() {
        let Some((kind, hash)) = line.split_once(':') else {
            continue;
        };
        let hash = hash.trim();
        match kind.trim() {
            "js" => names.0 = Some(format!("{output_name}.{hash}.js")),
            "wasm" => names.1 = Some(format!("{output_name}.{hash}.wasm")),
            "css" => names.2 = Some(format!("{output_name}.{hash}.css")),
            _ => {}
        }
    }
    Some(AssetNames {
        js: names.0?,
        wasm: names.1?,
        css: names.2?,
    })
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
/// built); its names win when all three files exist. Otherwise, per kind, the most recently modified
/// matching file; otherwise the unhashed default.
pub fn discover(pkg_dir: &Path, hash_file: Option<&Path>, output_name: &str) -> AssetNames {
    if let Some(names) = hash_file
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|text| names_from_hash_file(&text, output_name))
    {
        if [&names.js, &names.wasm, &names.css]
            .iter()
            .all(|n| pkg_dir.join(n).is_file())
        {
            return names;
        }
    }
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
    let newest = |ext: &str, default: String| {
        files
            .iter()
            .filter(|(name, _)| is_asset_of(name, output_name, ext))
            .max_by_key(|(_, modified)| *modified)
            .map(|(name, _)| name.clone())
            .unwrap_or(default)
    };
    let defaults = AssetNames::default();
    AssetNames {
        js: newest("js", defaults.js),
        wasm: newest("wasm", defaults.wasm),
        css: newest("css", defaults.css),
    }
}

/// Brotli quality by size: the best (11) for release-sized files, a fast level for big debug builds.
fn quality_for(len: u64) -> u32 {
    if len <= 4 * 1024 * 1024 {
        11
    } else {
        5
    }
}

/// Writes `X.br` for each of `files` in `pkg_dir` that is missing it (or has an older one). Writes to a
/// temporary file and renames, so concurrent starts never serve half a file. Returns the files written.
pub fn precompress(pkg_dir: &Path, files: &[String]) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for name in files {
        let source = pkg_dir.join(name);
        let target = pkg_dir.join(format!("{name}.br"));
        let meta = match std::fs::metadata(&source) {
            Ok(m) if m.is_file() && m.len() >= MIN_COMPRESS_BYTES => m,
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
