//! Chunk encodings: how one series' samples are compressed inside a block.
//!
//! Two encodings, both lossless (bit-exact floats, so staleness markers survive):
//!
//! - **Gorilla** (`ENC_GORILLA = 1`), the scheme of Facebook's Gorilla paper as Prometheus uses
//!   it: the first timestamp and value raw, then delta-of-delta timestamps in variable-width
//!   buckets (`0`, `10`+14 bits, `110`+17 bits, `1110`+20 bits, `1111`+64 bits) and values XORed
//!   with the previous one (`0` same value; `10` meaningful bits inside the previous window;
//!   `11` + 5 bits leading zeros + 6 bits length + the bits).
//! - **pcodec** (`ENC_PCO = 2`): timestamps as `i64` and values as `f64`, each compressed by
//!   `pco::standalone` (which picks delta orders and binning itself).
//!
//! Layout of an encoded chunk: `encoding:u8` then the encoding's bytes. Gorilla: `n:u32le`, then
//! the bit stream (MSB first). pco: `n:u32le  tslen:u32le  ts[tslen]  values[..]`.
//!
//! Blocks are written with [`DEFAULT_ENCODING`], chosen by measurement (`lookout-tsdb-bench
//! chunks`, numbers in BENCHMARKS.md); readers decode either. The in-memory head keeps Gorilla
//! chunks instead: a sample is appended to a Gorilla chunk in place ([`GorillaAppender`]),
//! while pcodec compresses a whole chunk at once (4× slower to encode, see BENCHMARKS.md).

/// Gorilla: delta-of-delta timestamps, XOR floats.
pub const ENC_GORILLA: u8 = 1;
/// pcodec.
pub const ENC_PCO: u8 = 2;

/// What blocks are written with (see BENCHMARKS.md "Chunk encoding").
pub const DEFAULT_ENCODING: u8 = ENC_PCO;

/// Encodes samples (ascending timestamps) with `encoding`.
pub fn encode(encoding: u8, samples: &[(i64, f64)]) -> Vec<u8> {
    match encoding {
        ENC_GORILLA => gorilla_encode(samples),
        _ => pco_encode(samples),
    }
}

/// Decodes a chunk; `None` if it is corrupt.
pub fn decode(data: &[u8]) -> Option<Vec<(i64, f64)>> {
    decode_range(data, i64::MIN, i64::MAX)
}

/// The samples of a chunk (ascending timestamps) in `[mint, maxt]`; Gorilla decoding stops at
/// the first sample after `maxt`. `None` if the chunk is corrupt.
pub fn decode_range(data: &[u8], mint: i64, maxt: i64) -> Option<Vec<(i64, f64)>> {
    match *data.first()? {
        ENC_GORILLA => gorilla_decode(&data[1..], mint, maxt),
        ENC_PCO if mint != i64::MIN || maxt != i64::MAX => {
            Some(pco_decode(&data[1..])?.into_iter().filter(|&(t, _)| t >= mint && t <= maxt).collect())
        }
        ENC_PCO => pco_decode(&data[1..]),
        _ => None,
    }
}

fn pco_encode(samples: &[(i64, f64)]) -> Vec<u8> {
    let ts: Vec<i64> = samples.iter().map(|s| s.0).collect();
    let vs: Vec<f64> = samples.iter().map(|s| s.1).collect();
    let cfg = pco::ChunkConfig::default();
    // Compression of in-memory slices only fails on invalid configs; the default is valid.
    let t = pco::standalone::simple_compress(&ts, &cfg).expect("pco compress i64");
    let v = pco::standalone::simple_compress(&vs, &cfg).expect("pco compress f64");
    let mut out = Vec::with_capacity(9 + t.len() + v.len());
    out.push(ENC_PCO);
    out.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    out.extend_from_slice(&(t.len() as u32).to_le_bytes());
    out.extend_from_slice(&t);
    out.extend_from_slice(&v);
    out
}

fn pco_decode(data: &[u8]) -> Option<Vec<(i64, f64)>> {
    let n = u32::from_le_bytes(data.get(0..4)?.try_into().ok()?) as usize;
    let tl = u32::from_le_bytes(data.get(4..8)?.try_into().ok()?) as usize;
    let ts: Vec<i64> = pco::standalone::simple_decompress(data.get(8..8 + tl)?).ok()?;
    let vs: Vec<f64> = pco::standalone::simple_decompress(data.get(8 + tl..)?).ok()?;
    if ts.len() != n || vs.len() != n {
        return None;
    }
    Some(ts.into_iter().zip(vs).collect())
}

#[derive(Debug, Clone)]
struct BitWriter {
    buf: Vec<u8>,
    bits: u64,
}

impl BitWriter {
    fn put(&mut self, value: u64, mut n: u32) {
        while n > 0 {
            if self.bits.is_multiple_of(8) {
                self.buf.push(0);
            }
            let free = 8 - (self.bits % 8) as u32;
            let k = free.min(n);
            let chunk = ((value >> (n - k)) & ((1u64 << k) - 1)) as u8;
            let last = self.buf.len() - 1;
            self.buf[last] |= chunk << (free - k);
            self.bits += k as u64;
            n -= k;
        }
    }
}

struct BitReader<'a> {
    buf: &'a [u8],
    pos: u64,
}

impl BitReader<'_> {
    fn get(&mut self, mut n: u32) -> Option<u64> {
        // Fast path: the bits lie in the 8 bytes from the current one.
        let byte = (self.pos / 8) as usize;
        let bit = (self.pos % 8) as u32;
        if n > 0
            && bit + n <= 64
            && let Some(w) = self.buf.get(byte..byte + 8)
        {
            let w = u64::from_be_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            self.pos += n as u64;
            return Some((w << bit) >> (64 - n));
        }
        let mut v = 0u64;
        while n > 0 {
            let byte = *self.buf.get((self.pos / 8) as usize)?;
            let avail = 8 - (self.pos % 8) as u32;
            let k = avail.min(n);
            let chunk = (byte >> (avail - k)) & (((1u16 << k) - 1) as u8);
            v = (v << k) | chunk as u64;
            self.pos += k as u64;
            n -= k;
        }
        Some(v)
    }
}

const DOD_BUCKETS: [(u32, u64, u32); 3] = [(14, 0b10, 2), (17, 0b110, 3), (20, 0b1110, 4)];

fn gorilla_encode(samples: &[(i64, f64)]) -> Vec<u8> {
    let mut a = GorillaAppender::with_capacity(samples.len() * 2 + 16);
    for &(t, v) in samples {
        a.append(t, v);
    }
    a.into_bytes()
}

/// A Gorilla chunk being written one sample at a time (the head's open chunk): the encoded
/// bytes so far (a complete, decodable chunk after every append) and the encoder's state.
#[derive(Debug, Clone)]
pub struct GorillaAppender {
    w: BitWriter,
    n: u32,
    prev_t: i64,
    prev_delta: i64,
    prev_v: u64,
    lead: u8,
    trail: u8,
}

impl Default for GorillaAppender {
    fn default() -> Self {
        GorillaAppender::with_capacity(0)
    }
}

impl GorillaAppender {
    /// An empty chunk with room for `bytes` encoded bytes.
    pub fn with_capacity(bytes: usize) -> GorillaAppender {
        let mut buf = Vec::with_capacity(bytes.max(5));
        buf.push(ENC_GORILLA);
        buf.extend_from_slice(&0u32.to_le_bytes());
        GorillaAppender { w: BitWriter { buf, bits: 40 }, n: 0, prev_t: 0, prev_delta: 0, prev_v: 0, lead: u8::MAX, trail: 0 }
    }

    /// Samples in the chunk.
    pub fn len(&self) -> usize {
        self.n as usize
    }

    /// No samples yet.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Timestamp of the last sample (meaningless when empty).
    pub fn last_t(&self) -> i64 {
        self.prev_t
    }

    /// The encoded chunk as it stands (decodable with [`decode`]).
    pub fn bytes(&self) -> &[u8] {
        &self.w.buf
    }

    /// The encoded chunk, its spare capacity dropped.
    pub fn into_bytes(self) -> Vec<u8> {
        let mut b = self.w.buf;
        b.shrink_to_fit();
        b
    }

    /// Heap bytes held.
    pub fn capacity(&self) -> usize {
        self.w.buf.capacity()
    }

    /// Appends a sample; `t` should be above the last one (the format itself allows any order).
    pub fn append(&mut self, t: i64, v: f64) {
        let v = v.to_bits();
        let w = &mut self.w;
        if self.n == 0 {
            w.put(t as u64, 64);
            w.put(v, 64);
        } else {
            let delta = t.wrapping_sub(self.prev_t);
            let dod = delta.wrapping_sub(self.prev_delta);
            if dod == 0 {
                w.put(0, 1);
            } else if let Some(&(bits, prefix, plen)) =
                DOD_BUCKETS.iter().find(|(bits, _, _)| dod >= -(1i64 << (bits - 1)) && dod < 1i64 << (bits - 1))
            {
                w.put(prefix, plen);
                w.put((dod as u64) & ((1u64 << bits) - 1), bits);
            } else {
                w.put(0b1111, 4);
                w.put(dod as u64, 64);
            }
            self.prev_delta = delta;
            let x = v ^ self.prev_v;
            if x == 0 {
                w.put(0, 1);
            } else {
                let l = x.leading_zeros().min(31);
                let tz = x.trailing_zeros();
                let (lead, trail) = (self.lead as u32, self.trail as u32);
                if self.lead != u8::MAX && l >= lead && tz >= trail {
                    w.put(0b10, 2);
                    w.put(x >> trail, 64 - lead - trail);
                } else {
                    self.lead = l as u8;
                    self.trail = tz as u8;
                    let sig = 64 - l - tz;
                    w.put(0b11, 2);
                    w.put(l as u64, 5);
                    w.put((sig % 64) as u64, 6);
                    w.put(x >> tz, sig);
                }
            }
        }
        self.prev_t = t;
        self.prev_v = v;
        self.n += 1;
        w.buf[1..5].copy_from_slice(&self.n.to_le_bytes());
    }
}

fn gorilla_decode(data: &[u8], mint: i64, maxt: i64) -> Option<Vec<(i64, f64)>> {
    let n = u32::from_le_bytes(data.get(0..4)?.try_into().ok()?) as usize;
    let mut r = BitReader { buf: &data[4..], pos: 0 };
    let mut out = Vec::with_capacity(n.min(1 << 20));
    let (mut t, mut delta, mut v) = (0i64, 0i64, 0u64);
    let (mut lead, mut trail) = (0u32, 0u32);
    for i in 0..n {
        if i == 0 {
            t = r.get(64)? as i64;
            v = r.get(64)?;
        } else {
            let dod = if r.get(1)? == 0 {
                0
            } else if r.get(1)? == 0 {
                sign_extend(r.get(14)?, 14)
            } else if r.get(1)? == 0 {
                sign_extend(r.get(17)?, 17)
            } else if r.get(1)? == 0 {
                sign_extend(r.get(20)?, 20)
            } else {
                r.get(64)? as i64
            };
            delta = delta.wrapping_add(dod);
            t = t.wrapping_add(delta);
            if r.get(1)? == 1 {
                if r.get(1)? == 1 {
                    lead = r.get(5)? as u32;
                    let sig = match r.get(6)? as u32 {
                        0 => 64,
                        s => s,
                    };
                    trail = 64u32.checked_sub(lead + sig)?;
                }
                let sig = 64 - lead - trail;
                v ^= r.get(sig)? << trail;
            }
        }
        if t > maxt {
            break;
        }
        if t >= mint {
            out.push((t, f64::from_bits(v)));
        }
    }
    Some(out)
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::STALE_NAN;

    fn series() -> Vec<Vec<(i64, f64)>> {
        let mut jitter = Vec::new();
        let mut t = 1_700_000_000_000i64;
        for i in 0..500 {
            t += 15_000 + (i * 7919 % 41) - 20;
            jitter.push((t, (i as f64 * 0.37).sin() * 1e3));
        }
        let counter: Vec<_> = (0..300).map(|i| (1_000 + i * 15_000, (i * i) as f64)).collect();
        let weird = vec![
            (i64::MIN + 5, f64::NAN),
            (-3, f64::INFINITY),
            (0, f64::from_bits(STALE_NAN)),
            (1 << 40, -0.0),
            (i64::MAX, f64::MIN_POSITIVE),
        ];
        vec![jitter, counter, weird, vec![(5, 1.0)], vec![]]
    }

    #[test]
    fn both_encodings_round_trip_bit_exact() {
        for s in series() {
            for enc in [ENC_GORILLA, ENC_PCO] {
                let got = decode(&encode(enc, &s)).expect("decodes");
                assert_eq!(got.len(), s.len());
                for (a, b) in got.iter().zip(&s) {
                    assert_eq!((a.0, a.1.to_bits()), (b.0, b.1.to_bits()), "encoding {enc}");
                }
            }
        }
    }

    #[test]
    fn range_decoding_returns_exactly_the_samples_inside() {
        for s in series() {
            for enc in [ENC_GORILLA, ENC_PCO] {
                let data = encode(enc, &s);
                for (lo, hi) in [(i64::MIN, i64::MAX), (0, 0), (1_700_000_100_000, 1_700_003_000_000), (500_000, 1_000_000), (-3, 1 << 40)]
                {
                    let got: Vec<_> = decode_range(&data, lo, hi).expect("decodes").iter().map(|x| (x.0, x.1.to_bits())).collect();
                    let want: Vec<_> = s.iter().filter(|x| x.0 >= lo && x.0 <= hi).map(|x| (x.0, x.1.to_bits())).collect();
                    assert_eq!(got, want, "encoding {enc} [{lo}, {hi}]");
                }
            }
        }
    }

    #[test]
    fn appender_chunk_decodes_after_every_append() {
        for s in series() {
            let mut a = GorillaAppender::default();
            for (i, &(t, v)) in s.iter().enumerate() {
                a.append(t, v);
                assert_eq!(a.len(), i + 1);
                assert_eq!(a.last_t(), t);
                let got = decode(a.bytes()).expect("decodes");
                assert_eq!(got.len(), i + 1);
                assert_eq!((got[i].0, got[i].1.to_bits()), (t, v.to_bits()));
            }
            assert_eq!(a.clone().into_bytes(), encode(ENC_GORILLA, &s));
        }
    }

    #[test]
    fn corrupt_chunks_are_errors_not_panics() {
        let enc = encode(ENC_GORILLA, &series()[1]);
        for cut in [0, 1, 3, 10, enc.len() / 2] {
            let _ = decode(&enc[..cut]);
        }
        let enc = encode(ENC_PCO, &series()[1]);
        for cut in [0, 1, 3, 10, enc.len() / 2] {
            let _ = decode(&enc[..cut]);
        }
        assert!(decode(&[9, 1, 2]).is_none());
    }
}
