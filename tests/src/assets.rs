//! The built UI assets as the HTML names them (for the asset test and `bench_assets`): whether a UI
//! was built, the `/pkg/...` URLs a page references, whether a file name carries a content hash, and
//! the current build's split manifest.

/// Whether the site of the binary under test ([`crate::site_root`]) holds a built UI.
pub fn built() -> Result<(), String> {
    let pkg = crate::site_root().join("pkg");
    let has_wasm = std::fs::read_dir(&pkg)
        .map(|d| {
            d.filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().ends_with(".wasm"))
        })
        .unwrap_or(false);
    if has_wasm {
        Ok(())
    } else {
        Err(format!(
            "{} has no built UI: run `make build-debug` (or `make build` for the release binary)",
            pkg.display()
        ))
    }
}

/// The `/pkg/...` URLs of the stylesheet, JS and WASM a page references, in order, without repeats.
pub fn asset_urls(html: &str) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    for (start, _) in html.match_indices("/pkg/") {
        let rest = &html[start..];
        let end = rest
            .find(|c: char| c == '"' || c == '\'' || c == ')' || c.is_whitespace())
            .unwrap_or(rest.len());
        let url = &rest[..end];
        if [".js", ".wasm", ".css"].iter().any(|e| url.ends_with(e))
            && !urls.iter().any(|u| u == url)
        {
            urls.push(url.to_string());
        }
    }
    urls
}

/// `name.<hash>.ext` with a cargo-leptos content hash (base64url, at least 16 characters).
pub fn is_hashed_name(file_name: &str) -> bool {
    let parts: Vec<&str> = file_name.split('.').collect();
    matches!(parts.as_slice(), [stem, hash, ext]
        if !stem.is_empty()
            && ["js", "wasm", "css"].contains(ext)
            && hash.len() >= 16
            && hash.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
}

/// The current build's split manifest in the site under test (the newest: a published site keeps
/// older builds' files): its file name, and lazy function id → its files (without `.wasm`). `None`
/// for a build without lazy chunks.
pub fn split_manifest() -> Option<(String, std::collections::HashMap<String, Vec<String>>)> {
    let pkg = crate::site_root().join("pkg");
    let (_, name) = std::fs::read_dir(&pkg)
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().into_string().ok()?;
            let modified = e.metadata().ok()?.modified().ok()?;
            (name.starts_with("__wasm_split_manifest") && name.ends_with(".json"))
                .then_some((modified, name))
        })
        .max()?;
    let text = std::fs::read_to_string(pkg.join(&name)).ok()?;
    Some((name, serde_json::from_str(&text).ok()?))
}
