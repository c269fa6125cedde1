//! The web UI's built assets, embedded into the `lookout` binary.
//!
//! The UI is TypeScript (Preact + Vite + uPlot) under `query-ui/app`; `npm run build`
//! writes `query-ui/dist`, which this crate embeds with rust-embed. It is a leaf crate so that a
//! UI change rebuilds only this crate and relinks the server. When `dist/` was not built, the
//! server still starts, [`is_built`] returns false and [`NOT_BUILT_PAGE`] tells the user how to
//! build it.
//!
//! The build also writes Brotli (`.br`) and gzip (`.gz`) variants of each text asset
//! (`precompress.mjs`); [`asset_for`] picks the best one the client accepts, so the server
//! never compresses per request.
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
    /// The `Content-Encoding` of `data` (`br` or `gzip`), `None` for the file as built.
    pub encoding: Option<&'static str>,
}

/// Returns the embedded file at `path` (no leading slash), if any, uncompressed.
pub fn asset(path: &str) -> Option<Asset> {
    asset_for(path, None)
}

/// Returns the embedded file at `path`, compressed in the best encoding that `accept_encoding`
/// (the request's `Accept-Encoding`) allows and the build produced: Brotli, then gzip, then the
/// file as built. The MIME type is the original file's.
pub fn asset_for(path: &str, accept_encoding: Option<&str>) -> Option<Asset> {
    let path = path.trim_start_matches('/');
    let file = Assets::get(path)?;
    let mime = file.metadata.mimetype().to_string();
    let immutable = path.starts_with("assets/");
    for (encoding, suffix) in [("br", "br"), ("gzip", "gz")] {
        if accepts(accept_encoding.unwrap_or(""), encoding)
            && let Some(variant) = Assets::get(&format!("{path}.{suffix}"))
        {
            return Some(Asset { data: variant.data, mime, immutable, encoding: Some(encoding) });
        }
    }
    Some(Asset { data: file.data, mime, immutable, encoding: None })
}

/// Whether an `Accept-Encoding` value allows `coding` (RFC 9110 §12.5.3): listed, or covered
/// by `*`, with a non-zero quality. `x-gzip` counts as `gzip`.
pub fn accepts(accept_encoding: &str, coding: &str) -> bool {
    let mut star = None;
    for item in accept_encoding.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let name = if name.eq_ignore_ascii_case("x-gzip") { "gzip" } else { name };
        if name.eq_ignore_ascii_case(coding) {
            return q > 0.0;
        }
        if name == "*" {
            star = Some(q > 0.0);
        }
    }
    star.unwrap_or(false)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_is_read_with_qualities_and_wildcards() {
        assert!(accepts("gzip, deflate, br, zstd", "br"));
        assert!(accepts("gzip, deflate, br, zstd", "gzip"));
        assert!(accepts("GZIP", "gzip"));
        assert!(accepts("x-gzip", "gzip"));
        assert!(!accepts("gzip;q=0, br", "gzip"));
        assert!(accepts("gzip;q=0.5", "gzip"));
        assert!(!accepts("identity", "gzip"));
        assert!(!accepts("", "gzip"));
        assert!(accepts("*", "br"));
        assert!(!accepts("*;q=0", "br"));
        assert!(!accepts("br;q=0, *", "br"));
        assert!(accepts("br;q=0, *", "gzip"));
    }
}
