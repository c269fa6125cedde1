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
//! chunks`, numbers in BENCHMARKS.md); readers decode either.

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
    match *data.first()? {
        ENC_GORILLA => gorilla_decode(&data[1..]),
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
    let mut w = BitWriter { buf: Vec::with_capacity(samples.len() * 2 + 16), bits: 0 };
    w.buf.push(ENC_GORILLA);
    w.buf.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    w.bits = w.buf.len() as u64 * 8;
    let (mut prev_t, mut prev_delta, mut prev_v) = (0i64, 0i64, 0u64);
    let (mut lead, mut trail) = (u32::MAX, 0u32);
    for (i, &(t, v)) in samples.iter().enumerate() {
        let v = v.to_bits();
        if i == 0 {
            w.put(t as u64, 64);
            w.put(v, 64);
        } else {
            let delta = t.wrapping_sub(prev_t);
            let dod = delta.wrapping_sub(prev_delta);
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
            prev_delta = delta;
            let x = v ^ prev_v;
            if x == 0 {
                w.put(0, 1);
            } else {
                let l = x.leading_zeros().min(31);
                let tz = x.trailing_zeros();
                if lead != u32::MAX && l >= lead && tz >= trail {
                    w.put(0b10, 2);
                    w.put(x >> trail, 64 - lead - trail);
                } else {
                    lead = l;
                    trail = tz;
                    let sig = 64 - l - tz;
                    w.put(0b11, 2);
                    w.put(l as u64, 5);
                    w.put((sig % 64) as u64, 6);
                    w.put(x >> tz, sig);
                }
            }
        }
        prev_t = t;
        prev_v = v;
    }
    w.buf
}

fn gorilla_decode(data: &[u8]) -> Option<Vec<(i64, f64)>> {
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
        out.push((t, f64::from_bits(v)));
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
