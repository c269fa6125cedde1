//! The web UI's built assets, embedded into the `lookout` binary.
//!
//! The UI is TypeScript (Preact + Vite + uPlot) under `query-ui/app`; `npm run build`
//! writes `query-ui/dist`, which this crate embeds with rust-embed. It is a leaf crate so that a
//! UI change rebuilds only this crate and relinks the server. When `dist/` was not built, the
//! server still starts, [`is_built`] returns false and [`NOT_BUILT_PAGE`] tells the user how to
//! build it.
#![warn(missing_docs)]

use std::borrow::Cow;

#[derive(rust_embed::RustEmbed)]
#[folder = "dist/"]
struct Assets;

/// One embedded file.
pub struct Asset {
    /// File contents.
    pub data: Cow<'static, [u8]>,
    /// MIME type guessed from the file name.
    pub mime: String,
    /// Whether the name carries a content hash (Vite's `assets/` folder), so it may be cached forever.
    pub immutable: bool,
}

/// Returns the embedded file at `path` (no leading slash), if any.
pub fn asset(path: &str) -> Option<Asset> {
    let path = path.trim_start_matches('/');
    let file = Assets::get(path)?;
    Some(Asset { mime: file.metadata.mimetype().to_string(), data: file.data, immutable: path.starts_with("assets/") })
}

/// Whether the UI was built before this binary was compiled.
pub fn is_built() -> bool {
    Assets::get("index.html").is_some()
}

/// The command that builds the UI, for messages to the user.
pub const BUILD_HINT: &str = "cd query-ui && npm ci && npm run build, then rebuild lookout (or run `make up`)";

/// Served at `/` when the UI was not built.
pub const NOT_BUILT_PAGE: &str = "<!doctype html><html><head><title>Lookout</title></head><body>\
<h1>Lookout</h1><p>The web UI was not built into this binary. Build it with:</p>\
<pre>cd query-ui &amp;&amp; npm ci &amp;&amp; npm run build</pre><p>then rebuild <code>lookout</code> \
(or run <code>make up</code>). The HTTP APIs under <code>/api/</code> work without it.</p></body></html>";
