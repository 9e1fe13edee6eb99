//! The built UI assets under `<site-root>/pkg`: which files are current ([`discover`]: the names in
//! cargo-leptos' `hash.txt` next to the binary when they exist, else the newest `warden[.<hash>].ext`
//! of each kind; for a `--split` build also the chunk loader and the split manifest), which of them lack
//! their brotli twin ([`missing_brotli_twins`]: `X.br` next to every JS, WASM and CSS file, written at
//! build time by `.ci/compress-assets` and sent by `ServeDir::precompressed_br`; the server carries no
//! brotli encoder, which kept ~0.9 MB of code resident), and the cache policy ([`cache_control`]: a
//! year, immutable, for content-hashed names only).

use std::collections::HashMap;
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
                .as_ref()
                .and_then(|m| read_split_manifest(&pkg_dir.join(m)))
                .unwrap_or_default(),
            bundles: manifest
                .map(|m| read_bundle_index(pkg_dir, &m))
                .unwrap_or_default(),
        }),
    }
}

/// File name prefix of the bundle index `.ci/bundle-chunks` writes next to a split manifest (the rest of
/// the name is the manifest's).
const SPLIT_BUNDLES_PREFIX: &str = "__wasm_split_bundles";

/// The chunk bundles of the split build whose manifest is `manifest` (lazy function id → bundle file
/// name without `.wasm`; see `.ci/bundle-chunks`), those whose file exists. No index (a build that did
/// not bundle) means no bundles: the page then hints every chunk, as before.
fn read_bundle_index(pkg_dir: &Path, manifest: &str) -> HashMap<String, String> {
    let Some(rest) = manifest.strip_prefix(SPLIT_MANIFEST_PREFIX) else {
        return HashMap::new();
    };
    let path = pkg_dir.join(format!("{SPLIT_BUNDLES_PREFIX}{rest}"));
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return HashMap::new(),
        Err(error) => {
            tracing::warn!(%error, path = %path.display(), "cannot read the WASM chunk bundles; chunks are fetched one by one");
            return HashMap::new();
        }
    };
    match serde_json::from_str::<HashMap<String, String>>(&text) {
        Ok(bundles) => bundles
            .into_iter()
            .filter(|(_, bundle)| {
                let present = pkg_dir.join(format!("{bundle}.wasm")).is_file();
                if !present {
                    tracing::warn!(%bundle, "a WASM chunk bundle named in the index is missing; its chunks are fetched one by one");
                }
                present
            })
            .collect(),
        Err(error) => {
            tracing::warn!(%error, path = %path.display(), "cannot read the WASM chunk bundles; chunks are fetched one by one");
            HashMap::new()
        }
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

/// The files of [`compressible_files`] with no brotli twin, or an older one than the file: they are
/// served uncompressed (the build writes the twins; see `.ci/compress-assets`).
pub fn missing_brotli_twins(pkg_dir: &Path, files: &[String]) -> Vec<String> {
    let modified = |path: PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    files
        .iter()
        .filter(|name| {
            match (
                modified(pkg_dir.join(name)),
                modified(pkg_dir.join(format!("{name}.br"))),
            ) {
                (Some(file), Some(twin)) => twin < file,
                _ => true,
            }
        })
        .cloned()
        .collect()
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
            // No bundle index: the page hints the chunks.
            assert!(split.bundles.is_empty());
            assert_eq!(split.preloads(), split.chunks);
        }
        // With `.ci/bundle-chunks`' index (named after the manifest): the bundles whose file exists.
        std::fs::write(
            pkg.join(format!("__wasm_split_bundles.{HASH}.json")),
            r#"{"__login_route_view_1": "bundle___login_route_view_1.xyz", "gone_2": "bundle_gone_2.xyz"}"#,
        )
        .unwrap();
        std::fs::write(pkg.join("bundle___login_route_view_1.xyz.wasm"), "WDNB").unwrap();
        let split = discover(pkg, None, "warden").split.unwrap();
        assert_eq!(
            split.bundles,
            HashMap::from([(
                "__login_route_view_1".to_string(),
                "bundle___login_route_view_1.xyz".to_string()
            )])
        );
        assert_eq!(
            split.preloads()["__login_route_view_1"],
            ["bundle___login_route_view_1.xyz"]
        );
        // Every JS/WASM/CSS file gets a brotli twin, not only the three main ones (bundles included).
        assert_eq!(compressible_files(pkg).len(), 5);
        // Not a split build: no split parts.
        let plain = tempfile::tempdir().unwrap();
        assert_eq!(discover(plain.path(), None, "warden").split, None);
    }

    #[test]
    fn files_without_a_current_brotli_twin_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.js", "b.wasm", "c.css", "c.css.br"] {
            std::fs::write(dir.path().join(name), name).unwrap();
        }
        let files = compressible_files(dir.path());
        assert_eq!(files, ["a.js", "b.wasm", "c.css"]);
        assert_eq!(missing_brotli_twins(dir.path(), &files), ["a.js", "b.wasm"]);
        // A twin older than its file (the file was rebuilt) does not count.
        let old = SystemTime::now() - std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(dir.path().join("c.css.br"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(
            missing_brotli_twins(dir.path(), &files),
            ["a.js", "b.wasm", "c.css"]
        );
    }
}
