//! The built UI assets (WASM, its JS glue, the stylesheet) under `/pkg`, by file name. cargo-leptos
//! builds them with content-hashed names (`hash-files = true`), so they can be cached for a year. The
//! server finds the current names once at start ([`set_asset_names`]) from the site directory, which
//! works wherever the binary and the site live (Leptos' own `HydrationScripts` only looks for a
//! `hash.txt` next to the running executable). [`AssetTags`] renders the stylesheet link, the preload
//! hints and the hydration bootstrap for those names.
//!
//! A `--split` build (`cargo leptos build --split`) adds the lazy routes' WASM chunks, the JS loader that
//! instantiates them (`__wasm_split.<hash>.js`) and a manifest naming the chunks each lazy function
//! needs ([`SplitAssets`]). The main module fetches chunks itself; the manifest only lets the server
//! hint the chunks of the page it renders, so they download in parallel with the main WASM.
//!
//! The build also bundles each lazy function's files into one (`.ci/bundle-chunks`): compressed together
//! they are about a third smaller than one by one. A page then hints its routes' bundles instead of their
//! files, and its bootstrap ([`BUNDLE_JS`]) answers the chunk loader's fetches from them, on the first
//! load and on client-side navigations that miss much of a route's code.

use std::collections::HashMap;

use leptos::prelude::*;

/// File names (no directory) of the shipped assets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetNames {
    pub js: String,
    pub wasm: String,
    pub css: String,
    /// The lazy-loading parts of a `--split` build; `None` for a build without lazy chunks.
    pub split: Option<SplitAssets>,
}

/// The lazy-route parts of a `--split` build.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SplitAssets {
    /// File name of the JS loader of the WASM chunks (`__wasm_split.<hash>.js`).
    pub loader: String,
    /// cargo-leptos' split manifest: lazy function id → the chunks (file names without `.wasm`) it needs.
    pub chunks: HashMap<String, Vec<String>>,
    /// Lazy function id → the bundle of all its chunks (file name without `.wasm`), for those that
    /// have one (`.ci/bundle-chunks`).
    pub bundles: HashMap<String, String>,
}

impl SplitAssets {
    /// What a page that rendered a lazy function hints for it (function id → file names without
    /// `.wasm`): its bundle where there is one, else its chunks.
    pub fn preloads(&self) -> HashMap<String, Vec<String>> {
        self.chunks
            .iter()
            .map(|(id, chunks)| {
                let files = match self.bundles.get(id) {
                    Some(bundle) => vec![bundle.clone()],
                    None => chunks.clone(),
                };
                (id.clone(), files)
            })
            .collect()
    }
}

impl Default for AssetNames {
    /// The unhashed names (a build without `hash-files`).
    fn default() -> Self {
        AssetNames {
            js: "warden.js".into(),
            wasm: "warden.wasm".into(),
            css: "warden.css".into(),
            split: None,
        }
    }
}

#[cfg(feature = "ssr")]
static NAMES: std::sync::OnceLock<AssetNames> = std::sync::OnceLock::new();

/// Sets the asset names for this process (the server calls it once at start; later calls are ignored).
#[cfg(feature = "ssr")]
pub fn set_asset_names(names: AssetNames) {
    let _ = NAMES.set(names);
}

/// The asset names in use (the unhashed defaults until the server set them).
#[cfg(feature = "ssr")]
pub fn asset_names() -> AssetNames {
    NAMES.get().cloned().unwrap_or_default()
}

/// Whether `file_name` is the main JS of a split build (see `server/src/assets.rs`, `cache_control`:
/// its name is not a content hash). Looked up without copying the names: asked once per `/pkg` request.
#[cfg(feature = "ssr")]
pub fn is_split_main_js(file_name: &str) -> bool {
    NAMES
        .get()
        .is_some_and(|names| names.split.is_some() && names.js == file_name)
}

/// Whether a `/pkg` file name carries a cargo-leptos content hash (`name.<hash>.ext`), i.e. its
/// content never changes under that name.
pub fn is_hashed_asset(file_name: &str) -> bool {
    let mut parts = file_name.rsplitn(3, '.');
    let (Some(ext), Some(hash), Some(stem)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !stem.is_empty()
        && matches!(ext, "js" | "wasm" | "css")
        && hash.len() >= 16
        && hash
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The bootstrap Leptos' `HydrationScripts` emits: load the JS glue, instantiate the WASM, hydrate.
const HYDRATE_JS: &str =
    "import(BASE+JS).then(m=>m.default({module_or_path:BASE+WASM}).then(()=>m.hydrate()));";

/// Answers the chunk loader's fetches from the lazy functions' bundles (see `.ci/bundle-chunks` for the
/// format and the files' keys: `chunk_14.Wnn_` for `chunk_14.Wnn_izBUJOWQpO1Ezkavyg.wasm`), run by the
/// page's bootstrap before the WASM starts; `INDEX` is replaced by the bundles (lazy function id →
/// [bundle file name without `.wasm`, how many files it holds]).
///
/// The loader fetches the files of a lazy function that are not loaded yet in one go. The fetches of
/// `/pkg/chunk_*` and `/pkg/split_*` made in the same turn are held; if they are a lazy function's (its
/// `split_` file among them) and at least 2 in 5 of its bundle's files, the bundle is fetched instead
/// and each fetch is answered from it. The page's first load always is (everything is missing; the
/// page hints that bundle, so it is already downloading). A client-side navigation usually is too:
/// measured on this app's routes, the bundle is smaller than the missing files compressed one by one
/// once 2 in 5 are missing (and it is one request instead of dozens), the missing files are smaller
/// below that. Anything not in the bundle, and everything if the bundle cannot be had, is fetched on
/// its own, as without bundles.
const BUNDLE_JS: &str = r#"(()=>{const F=window.fetch.bind(window),q=[],P=/\/pkg\/((?:chunk|split)_[^/]+\.wasm)$/,I=INDEX;
const wasm=b=>new Response(b,{headers:{"Content-Type":"application/wasm"}});
const read=buf=>{const v=new DataView(buf),d=new TextDecoder(),got=new Map();
if(v.getUint32(0)!==0x57444e42)throw new Error("not a bundle");let o=8,n=v.getUint32(4,true);const e=[];
while(n--){const l=v.getUint16(o,true);e.push([d.decode(new Uint8Array(buf,o+2,l)),v.getUint32(o+2+l,true)]);o+=6+l}
for(const[name,size]of e){if(o+size>buf.byteLength)throw new Error("truncated bundle");got.set(name,buf.slice(o,o+size));o+=size}
return got};
async function flush(){const batch=q.splice(0);let got=new Map();
const split=batch.find(e=>e.n.startsWith("split_"));
const b=split&&I[split.n.slice(6).replace(/\.[^.]+\.wasm$/,"")];
if(b&&batch.length*5>=b[1]*2){const url=new URL(b[0]+".wasm",split.u).href;
try{const r=await F(url);if(r.ok)got=read(await r.arrayBuffer())}catch(e){console.warn("bundle "+url+": "+e)}}
for(const e of batch){const c=got.get(e.n.replace(/^([^.]*\.[^.]{0,4})[^.]*\.wasm$/,"$1"));if(c)e.ok(wasm(c));else F(e.i,e.o).then(e.ok,e.no)}}
window.fetch=(i,o)=>{let m=null,u=null;try{u=new URL(i instanceof Request?i.url:String(i),location.href);m=P.exec(u.pathname)}catch(e){}
if(!m)return F(i,o);return new Promise((ok,no)=>{if(q.push({n:m[1],u,i,o,ok,no})===1)queueMicrotask(flush)})}})();"#;

/// [`BUNDLE_JS`] with the bundles of `split` (none: no script, the loader fetches every file itself).
fn bundle_script(split: &SplitAssets) -> Option<String> {
    let index: std::collections::BTreeMap<&str, (&str, usize)> = split
        .bundles
        .iter()
        .filter_map(|(id, bundle)| {
            Some((id.as_str(), (bundle.as_str(), split.chunks.get(id)?.len())))
        })
        .collect();
    if index.is_empty() {
        return None;
    }
    let index = serde_json::to_string(&index).ok()?;
    Some(BUNDLE_JS.replace("INDEX", &index))
}

/// Stylesheet, preload hints and the hydration bootstrap for the current asset names. Server-rendered
/// into `<head>` only (never hydrated), so the browser and the server always agree on the names.
///
/// For a split build it also does what Leptos' `HydrationScripts` does: it hands the split manifest to
/// the renderer (`leptos::WasmSplitManifest`), which then adds `<link rel="preload">` hints for the
/// chunks of the lazy routes this response rendered, and a `modulepreload` of the chunk loader.
#[component]
pub fn AssetTags(names: AssetNames) -> impl IntoView {
    let nonce = leptos::nonce::use_nonce();
    let base = "/pkg/";
    if let Some(split) = &names.split {
        provide_context(leptos::WasmSplitManifest(ArcStoredValue::new((
            base.trim_end_matches('/').to_string(),
            split.preloads(),
            split.loader.clone(),
        ))));
    }
    let hydrate = HYDRATE_JS
        .replace("BASE+JS", &format!("{:?}", format!("{base}{}", names.js)))
        .replace(
            "BASE+WASM",
            &format!("{:?}", format!("{base}{}", names.wasm)),
        );
    let script = match names.split.as_ref().and_then(bundle_script) {
        Some(bundles) => format!("{bundles}\n{hydrate}"),
        None => hydrate,
    };
    view! {
        <link rel="stylesheet" id="leptos" href=format!("{base}{}", names.css)/>
        <link rel="modulepreload" href=format!("{base}{}", names.js)/>
        <link
            rel="preload"
            href=format!("{base}{}", names.wasm)
            r#as="fetch"
            r#type="application/wasm"
            crossorigin=""
        />
        <script type="module" nonce=nonce>{script}</script>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names() {
        assert!(is_hashed_asset("warden.mB7uPj3MYxQ1l8dmgnGWrA.wasm"));
        assert!(is_hashed_asset("warden.mB7uPj3MYxQ1l8dmgnGWrA.js"));
        assert!(is_hashed_asset("warden.Zp2-x_8ad7cq9xYgQ0o1aA.css"));
        assert!(!is_hashed_asset("warden.wasm"));
        assert!(!is_hashed_asset("warden.js"));
        assert!(!is_hashed_asset("warden_bg.wasm.d.ts"));
        assert!(!is_hashed_asset(".mB7uPj3MYxQ1l8dmgnGWrA.js"));
    }

    #[test]
    fn the_bootstrap_lists_each_bundle_with_its_file_count() {
        let mut split = SplitAssets::default();
        assert_eq!(bundle_script(&split), None, "no bundles, no script");
        for (id, own) in [
            ("__a_route_view_1", "split___a_route_view_1.y"),
            ("__b_route_view_2", "split___b_route_view_2.z"),
        ] {
            split
                .chunks
                .insert(id.into(), vec!["chunk_1.x".into(), own.into()]);
        }
        split.bundles.insert(
            "__a_route_view_1".into(),
            "bundle___a_route_view_1.h".into(),
        );
        // A bundle of a function the manifest does not know is left out.
        split.bundles.insert("gone".into(), "bundle_gone.h".into());
        let script = bundle_script(&split).unwrap();
        assert!(
            script.contains(r#"I={"__a_route_view_1":["bundle___a_route_view_1.h",2]}"#),
            "{script}"
        );
        assert!(!script.contains("</script"), "{script}");
        // The page hints the bundle where there is one, else the chunks.
        let preloads = split.preloads();
        assert_eq!(preloads["__a_route_view_1"], ["bundle___a_route_view_1.h"]);
        assert_eq!(
            preloads["__b_route_view_2"],
            split.chunks["__b_route_view_2"]
        );
    }
}
