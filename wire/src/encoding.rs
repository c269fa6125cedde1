//! HTTP body content encodings (`gzip`, `zstd`, identity) with a bound on the decoded size.
//!
//! The bound matters because a few kilobytes of gzip can expand to gigabytes: decoding stops as
//! soon as the output passes `limit` and reports [`DecodeError::TooLarge`], which the HTTP layer
//! turns into a 413.

use std::io::{Read, Write};

/// Compression applied to a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// No compression.
    None,
    /// gzip (RFC 1952).
    #[default]
    Gzip,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// The `Content-Encoding` value, if any.
    pub fn header(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("gzip"),
            Compression::Zstd => Some("zstd"),
        }
    }

    /// Compresses `data`.
    pub fn encode(self, data: &[u8]) -> Vec<u8> {
        match self {
            Compression::None => data.to_vec(),
            Compression::Gzip => {
                let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 4), flate2::Compression::fast());
                enc.write_all(data).expect("writing to a Vec cannot fail");
                enc.finish().expect("writing to a Vec cannot fail")
            }
            Compression::Zstd => zstd::bulk::compress(data, 1).expect("zstd compression of a buffer"),
        }
    }
}

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// `Content-Encoding` names something we do not speak.
    #[error("unsupported content-encoding {0:?} (supported: gzip, zstd, identity)")]
    Unsupported(String),
    /// The decoded body passes the limit.
    #[error("decoded body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The compressed stream is corrupt.
    #[error("invalid {encoding} body: {source}")]
    Corrupt {
        /// The encoding that failed.
        encoding: &'static str,
        /// The decoder's error.
        source: std::io::Error,
    },
}

/// Decodes `body` according to a `Content-Encoding` header value, refusing output over `limit`.
pub fn decode(content_encoding: Option<&str>, body: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let enc = content_encoding.map(|s| s.trim().to_ascii_lowercase()).unwrap_or_default();
    match enc.as_str() {
        "" | "identity" => {
            if body.len() > limit {
                return Err(DecodeError::TooLarge { limit });
            }
            Ok(body.to_vec())
        }
        "gzip" | "x-gzip" => read_bounded(flate2::read::MultiGzDecoder::new(body), limit, "gzip"),
        "zstd" => {
            let dec = zstd::stream::read::Decoder::new(body).map_err(|source| DecodeError::Corrupt { encoding: "zstd", source })?;
            read_bounded(dec, limit, "zstd")
        }
        other => Err(DecodeError::Unsupported(other.to_string())),
    }
}

fn read_bounded(reader: impl Read, limit: usize, encoding: &'static str) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    let mut limited = reader.take(limit as u64 + 1);
    limited.read_to_end(&mut out).map_err(|source| DecodeError::Corrupt { encoding, source })?;
    if out.len() > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_each_encoding() {
        let data = b"hello hello hello hello".repeat(100);
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let encoded = c.encode(&data);
            assert_eq!(decode(c.header(), &encoded, 1 << 20).unwrap(), data);
        }
    }

    #[test]
    fn bounds_the_decoded_size() {
        let bomb = Compression::Gzip.encode(&vec![0u8; 10 << 20]);
        assert!(bomb.len() < 100_000);
        assert!(matches!(decode(Some("gzip"), &bomb, 1 << 20), Err(DecodeError::TooLarge { .. })));
    }

    #[test]
    fn reports_corrupt_and_unknown_bodies() {
        assert!(matches!(decode(Some("gzip"), b"not gzip", 100), Err(DecodeError::Corrupt { .. })));
        assert!(matches!(decode(Some("br"), b"x", 100), Err(DecodeError::Unsupported(_))));
    }
}
