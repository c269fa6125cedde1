//! Chunk encodings: how one series' samples are compressed inside a block.
//!
//! Four encodings, all lossless (bit-exact floats, so staleness markers survive):
//!
//! - **Gorilla** (`ENC_GORILLA = 1`), the scheme of Facebook's Gorilla paper as Prometheus uses
//!   it: the first timestamp and value raw, then delta-of-delta timestamps in variable-width
//!   buckets (`0`, `10`+14 bits, `110`+17 bits, `1110`+20 bits, `1111`+64 bits) and values XORed
//!   with the previous one (`0` same value; `10` meaningful bits inside the previous window;
//!   `11` + 5 bits leading zeros + 6 bits length + the bits).
//! - **XOR-decimal** (`ENC_XOR_DECIMAL = 4`), what the head appends to: Gorilla's timestamps,
//!   and each value that differs from the previous one either as Gorilla's XOR or, when both
//!   are decimals `x / 10^k` at the chunk's current scale `k`, as the difference of their
//!   integers `x`, whichever is shorter (counters, byte gauges and ratios printed with two
//!   decimals differ by small integers while their float bits differ widely). The scale is not
//!   stored: encoder and decoder both derive it from the values decoded so far (see
//!   [`ChunkAppender::append`]).
//! - **pcodec** (`ENC_PCO = 2`): timestamps as `i64` and values as `f64`, each compressed by
//!   `pco::standalone` (which picks delta orders and binning itself).
//! - **shaped** (`ENC_SHAPED = 3`): pcodec where it pays, plain fields where the data has a
//!   shape scrapes usually have. Timestamps exactly evenly spaced (a scrape loop's) are stored as
//!   first timestamp and step; values that are all equal as one value; values that are decimals
//!   of at most 9 digits after the point (integer counters, byte gauges, ratios printed with two
//!   decimals) as the integers `v × 10^k`, pcodec-compressed as `i64` (pcodec then finds their
//!   deltas and common factors, which it cannot see through the float bits). Everything else is
//!   pcodec as in `ENC_PCO`. Each form is used only if decoding it gives back every value bit
//!   for bit (so `-0.0`, NaN payloads and staleness markers take the pcodec path).
//!
//! Layout of an encoded chunk: `encoding:u8` then the encoding's bytes. Gorilla: `n:u32le`, then
//! the bit stream (MSB first). XOR-decimal: as Gorilla, with these value codes instead:
//!
//! ```text
//! 0                        same value
//! 10 zz-delta              x_i - x_(i-1) zigzag-mapped, in buckets 0+4 bits, 10+8, 110+14,
//!                          1110+20, 11110+32, 11111+64 bits
//! 110 bits                 XOR in the previous window (Gorilla's 10)
//! 111 lead:5 len:6 bits    XOR in a new window (Gorilla's 11)
//! ```
//!
//! pco: `n:u32le  tslen:u32le  ts[tslen]  values[..]`. shaped
//! (varints are LEB128 as protobuf writes them, `zz` zigzag-mapped):
//!
//! ```text
//! shaped = n:varint  ts  values
//! ts     = 0 t0:zz-varint step:varint            evenly spaced: t_i = t0 + i*step
//!        | 1 len:varint pco-i64[len]
//! values = 0 bits:u64le                          all equal
//!        | 1 k:u8 pco-i64[..]                    v_i = x_i / 10^k, k <= 9
//!        | 2 pco-f64[..]
//!        | 3 k:u8 x0:zz-varint dmin:zz-varint g:varint w:u8 bits[..]
//!                        the same integers as deltas d_i = x_i - x_(i-1), each stored as
//!                        (d_i - dmin) / g in w bits (LSB first); whichever of 1 and 3 is
//!                        smaller is written (pcodec's tables cost more than they save on
//!                        short chunks of evenly spread deltas)
//! ```
//!
//! Blocks are written with [`DEFAULT_ENCODING`], chosen by measurement (`lookout-tsdb-bench
//! chunks`, numbers in BENCHMARKS.md); readers decode either. The in-memory head keeps Gorilla
//! chunks instead: a sample is appended to an XOR-decimal chunk in place ([`ChunkAppender`]),
//! while pcodec compresses a whole chunk at once (4× slower to encode, see BENCHMARKS.md).

/// Gorilla: delta-of-delta timestamps, XOR floats.
pub const ENC_GORILLA: u8 = 1;
/// pcodec.
pub const ENC_PCO: u8 = 2;
/// Gorilla timestamps, values as XOR or decimal deltas (the head's chunks; see the module docs).
pub const ENC_XOR_DECIMAL: u8 = 4;
/// pcodec or plain fields by the data's shape (see the module docs).
pub const ENC_SHAPED: u8 = 3;

/// What blocks are written with (see BENCHMARKS.md "Chunk encoding").
pub const DEFAULT_ENCODING: u8 = ENC_SHAPED;

/// Encodes samples (ascending timestamps) with `encoding`.
pub fn encode(encoding: u8, samples: &[(i64, f64)]) -> Vec<u8> {
    match encoding {
        ENC_GORILLA | ENC_XOR_DECIMAL => {
            let mut a = ChunkAppender::new(encoding, samples.len() * 2 + 16);
            for &(t, v) in samples {
                a.append(t, v);
            }
            a.into_bytes()
        }
        ENC_PCO => pco_encode(samples),
        _ => shaped_encode(samples),
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
        ENC_GORILLA => gorilla_decode(&data[1..], mint, maxt, false),
        ENC_XOR_DECIMAL => gorilla_decode(&data[1..], mint, maxt, true),
        ENC_PCO if mint != i64::MIN || maxt != i64::MAX => {
            Some(pco_decode(&data[1..])?.into_iter().filter(|&(t, _)| t >= mint && t <= maxt).collect())
        }
        ENC_PCO => pco_decode(&data[1..]),
        ENC_SHAPED if mint != i64::MIN || maxt != i64::MAX => {
            Some(shaped_decode(&data[1..])?.into_iter().filter(|&(t, _)| t >= mint && t <= maxt).collect())
        }
        ENC_SHAPED => shaped_decode(&data[1..]),
        _ => None,
    }
}

/// Most samples a decoded chunk may claim (blocks write at most `block::SAMPLES_PER_CHUNK`).
const MAX_SAMPLES: usize = 1 << 24;

/// Powers of ten, each exact in an `f64`.
const POW10: [f64; 10] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

fn put_varint(out: &mut Vec<u8>, v: u64) {
    prost::encoding::encode_varint(v, out);
}

fn get_varint(data: &mut &[u8]) -> Option<u64> {
    prost::encoding::decode_varint(data).ok()
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// The smallest `k` for which every value is exactly `x / 10^k` with an integer `x` of at most
/// 53 bits, with those integers.
fn as_decimals(vs: &[f64]) -> Option<(u8, Vec<i64>)> {
    'k: for (k, &p) in POW10.iter().enumerate() {
        let mut xs = Vec::with_capacity(vs.len());
        for &v in vs {
            let x = (v * p).round();
            if !x.is_finite() || x.abs() > (1u64 << 53) as f64 || ((x as i64) as f64 / p).to_bits() != v.to_bits() {
                continue 'k;
            }
            xs.push(x as i64);
        }
        return Some((k as u8, xs));
    }
    None
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Integers of at most 53 bits as `x0 dmin g w bits` (see the module docs); `None` if there are
/// none.
fn packed_deltas(xs: &[i64]) -> Option<Vec<u8>> {
    let (&x0, _) = xs.split_first()?;
    let deltas: Vec<i64> = xs.windows(2).map(|w| w[1] - w[0]).collect();
    let dmin = deltas.iter().copied().min().unwrap_or(0);
    let g = deltas.iter().fold(0u64, |g, &d| gcd(g, (d - dmin) as u64)).max(1);
    let max = deltas.iter().map(|&d| (d - dmin) as u64 / g).max().unwrap_or(0);
    let w = 64 - max.leading_zeros();
    let mut out = Vec::with_capacity(16 + (deltas.len() * w as usize).div_ceil(8));
    put_varint(&mut out, zigzag(x0));
    put_varint(&mut out, zigzag(dmin));
    put_varint(&mut out, g);
    out.push(w as u8);
    let (mut acc, mut bits) = (0u128, 0u32);
    for &d in &deltas {
        acc |= u128::from((d - dmin) as u64 / g) << bits;
        bits += w;
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 {
        out.push(acc as u8);
    }
    Some(out)
}

/// The `n` integers [`packed_deltas`] wrote; `None` if the bytes do not hold them exactly.
fn unpack_deltas(mut data: &[u8], n: usize) -> Option<Vec<i64>> {
    let x0 = unzigzag(get_varint(&mut data)?);
    let dmin = unzigzag(get_varint(&mut data)?);
    let g = get_varint(&mut data)?;
    let (&w, rest) = data.split_first()?;
    let w = u32::from(w);
    if w > 64 || n == 0 || rest.len() != ((n - 1) * w as usize).div_ceil(8) {
        return None;
    }
    let mask = if w == 64 { u64::MAX } else { (1u64 << w) - 1 };
    let mut out = Vec::with_capacity(n);
    out.push(x0);
    let (mut acc, mut bits, mut bytes) = (0u128, 0u32, rest.iter());
    let mut x = x0;
    for _ in 1..n {
        while bits < w {
            acc |= u128::from(*bytes.next()?) << bits;
            bits += 8;
        }
        let q = (acc as u64) & mask;
        acc >>= w;
        bits -= w;
        x = x.checked_add(i64::try_from(q.checked_mul(g)?).ok()?.checked_add(dmin)?)?;
        out.push(x);
    }
    Some(out)
}

fn shaped_encode(samples: &[(i64, f64)]) -> Vec<u8> {
    let cfg = pco::ChunkConfig::default();
    let n = samples.len();
    let mut out = vec![ENC_SHAPED];
    put_varint(&mut out, n as u64);
    let t0 = samples.first().map_or(0, |s| s.0);
    let step = if n > 1 { samples[1].0.wrapping_sub(t0) } else { 0 };
    let even =
        step >= 0 && samples.iter().enumerate().all(|(i, s)| Some(s.0) == (i as i64).checked_mul(step).and_then(|d| t0.checked_add(d)));
    if even {
        out.push(0);
        put_varint(&mut out, zigzag(t0));
        put_varint(&mut out, step as u64);
    } else {
        let ts: Vec<i64> = samples.iter().map(|s| s.0).collect();
        // Compression of in-memory slices only fails on invalid configs; the default is valid.
        let t = pco::standalone::simple_compress(&ts, &cfg).expect("pco compress i64");
        out.push(1);
        put_varint(&mut out, t.len() as u64);
        out.extend_from_slice(&t);
    }
    let first = samples.first().map_or(0, |s| s.1.to_bits());
    if samples.iter().all(|s| s.1.to_bits() == first) {
        out.push(0);
        out.extend_from_slice(&first.to_le_bytes());
        return out;
    }
    let vs: Vec<f64> = samples.iter().map(|s| s.1).collect();
    match as_decimals(&vs) {
        Some((k, xs)) => {
            let pco = pco::standalone::simple_compress(&xs, &cfg).expect("pco compress i64");
            match packed_deltas(&xs) {
                Some(packed) if packed.len() <= pco.len() => {
                    out.push(3);
                    out.push(k);
                    out.extend_from_slice(&packed);
                }
                _ => {
                    out.push(1);
                    out.push(k);
                    out.extend_from_slice(&pco);
                }
            }
        }
        None => {
            out.push(2);
            out.extend_from_slice(&pco::standalone::simple_compress(&vs, &cfg).expect("pco compress f64"));
        }
    }
    out
}

fn shaped_decode(mut data: &[u8]) -> Option<Vec<(i64, f64)>> {
    // A corrupt count must not allocate without bound (chunks hold a few hundred samples).
    let n = usize::try_from(get_varint(&mut data)?).ok().filter(|&n| n <= MAX_SAMPLES)?;
    let (&tag, rest) = data.split_first()?;
    data = rest;
    let ts: Vec<i64> = match tag {
        0 => {
            let t0 = unzigzag(get_varint(&mut data)?);
            let step = i64::try_from(get_varint(&mut data)?).ok()?;
            // Every timestamp must fit in an i64.
            (n as i64).saturating_sub(1).checked_mul(step)?.checked_add(t0)?;
            (0..n as i64).map(|i| t0 + i * step).collect()
        }
        1 => {
            let len = usize::try_from(get_varint(&mut data)?).ok()?;
            let ts = pco::standalone::simple_decompress(data.get(..len)?).ok()?;
            data = &data[len..];
            ts
        }
        _ => return None,
    };
    let (&tag, rest) = data.split_first()?;
    data = rest;
    let vs: Vec<f64> = match tag {
        0 => vec![f64::from_bits(u64::from_le_bytes(data.get(..8)?.try_into().ok()?)); n],
        1 => {
            let (&k, rest) = data.split_first()?;
            let p = *POW10.get(k as usize)?;
            let xs: Vec<i64> = pco::standalone::simple_decompress(rest).ok()?;
            xs.into_iter().map(|x| x as f64 / p).collect()
        }
        2 => pco::standalone::simple_decompress(data).ok()?,
        3 => {
            let (&k, rest) = data.split_first()?;
            let p = *POW10.get(k as usize)?;
            unpack_deltas(rest, n)?.into_iter().map(|x| x as f64 / p).collect()
        }
        _ => return None,
    };
    if ts.len() != n || vs.len() != n {
        return None;
    }
    Some(ts.into_iter().zip(vs).collect())
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
                if self.buf.len() == self.buf.capacity() {
                    // Grow by a quarter, not double: a head holds one open chunk per series,
                    // and doubling leaves a third of them unused on average.
                    self.buf.reserve_exact((self.buf.capacity() / 4).max(16));
                }
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

/// Zigzag-mapped decimal deltas: (bits, prefix, prefix length), the last one for the rest.
const DEC_BUCKETS: [(u32, u64, u32); 6] = [(4, 0, 1), (8, 0b10, 2), (14, 0b110, 3), (20, 0b1110, 4), (32, 0b11110, 5), (64, 0b11111, 5)];

/// No decimal scale: the previous value is not a decimal of at most 9 digits after the point.
const NO_SCALE: u8 = u8::MAX;

/// `v` as the integer `x` with `v == x / 10^k` bit for bit, if there is one of at most 53 bits.
fn as_decimal(v: f64, k: u8) -> Option<i64> {
    let p = *POW10.get(k as usize)?;
    let x = (v * p).round();
    if !x.is_finite() || x.abs() > (1u64 << 53) as f64 || from_decimal(x as i64, k).to_bits() != v.to_bits() {
        return None;
    }
    Some(x as i64)
}

fn from_decimal(x: i64, k: u8) -> f64 {
    x as f64 / POW10[k as usize]
}

/// The smallest scale at which `v` is a decimal, or [`NO_SCALE`].
fn min_scale(v: f64) -> u8 {
    (0..POW10.len() as u8).find(|&k| as_decimal(v, k).is_some()).unwrap_or(NO_SCALE)
}

/// Scale after a sample whose value changed to `v`, identical in encoder and decoder: kept while
/// `v` is a decimal at it, else searched for again (without a scale, only every 16th sample, so
/// that values that are no decimals at all cost no search per sample).
fn next_scale(scale: u8, v: f64, n: u32) -> u8 {
    if scale != NO_SCALE && as_decimal(v, scale).is_some() {
        return scale;
    }
    if scale == NO_SCALE && !n.is_multiple_of(16) {
        return NO_SCALE;
    }
    min_scale(v)
}

/// A Gorilla or XOR-decimal chunk being written one sample at a time (the head's open chunk):
/// the encoded bytes so far (a complete, decodable chunk after every append) and the encoder's
/// state.
#[derive(Debug, Clone)]
pub struct ChunkAppender {
    w: BitWriter,
    n: u32,
    prev_t: i64,
    prev_delta: i64,
    prev_v: u64,
    lead: u8,
    trail: u8,
    /// XOR-decimal: the scale of the previous value ([`NO_SCALE`] for none).
    scale: u8,
    decimal: bool,
}

impl Default for ChunkAppender {
    /// An empty XOR-decimal chunk.
    fn default() -> Self {
        ChunkAppender::new(ENC_XOR_DECIMAL, 0)
    }
}

impl ChunkAppender {
    /// An empty chunk of `encoding` ([`ENC_GORILLA`] or [`ENC_XOR_DECIMAL`]) with room for
    /// `bytes` encoded bytes.
    pub fn new(encoding: u8, bytes: usize) -> ChunkAppender {
        debug_assert!(encoding == ENC_GORILLA || encoding == ENC_XOR_DECIMAL);
        ChunkAppender::in_buffer(Vec::with_capacity(bytes.max(5)), encoding == ENC_XOR_DECIMAL)
    }

    fn in_buffer(mut buf: Vec<u8>, decimal: bool) -> ChunkAppender {
        buf.clear();
        buf.push(if decimal { ENC_XOR_DECIMAL } else { ENC_GORILLA });
        buf.extend_from_slice(&0u32.to_le_bytes());
        ChunkAppender {
            w: BitWriter { buf, bits: 40 },
            n: 0,
            prev_t: 0,
            prev_delta: 0,
            prev_v: 0,
            lead: u8::MAX,
            trail: 0,
            scale: NO_SCALE,
            decimal,
        }
    }

    /// Empties the chunk, keeping its buffer for the next one.
    pub fn clear(&mut self) {
        *self = ChunkAppender::in_buffer(std::mem::take(&mut self.w.buf), self.decimal);
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
            if self.decimal {
                self.scale = min_scale(f64::from_bits(v));
            }
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
                let reuse = self.lead != u8::MAX && l >= lead && tz >= trail;
                // The value as a decimal at the scale, and the delta from the previous one (a
                // decimal at the scale too, when there is one) with its length.
                let cur = if self.decimal { as_decimal(f64::from_bits(v), self.scale) } else { None };
                let dec = if let Some(b) = cur {
                    match as_decimal(f64::from_bits(self.prev_v), self.scale) {
                        Some(a) => {
                            let z = zigzag(b - a);
                            let &(bits, prefix, plen) =
                                DEC_BUCKETS.iter().find(|(bits, _, _)| *bits == 64 || z < 1u64 << bits).expect("the last bucket takes any");
                            Some((z, bits, prefix, plen))
                        }
                        _ => None,
                    }
                } else {
                    None
                };
                let tag = u32::from(self.decimal);
                let xor_len = if reuse { 64 - lead - trail } else { 11 + 64 - l - tz };
                match dec {
                    Some((z, bits, prefix, plen)) if 2 + plen + bits <= 2 + tag + xor_len => {
                        w.put(0b10, 2);
                        w.put(prefix, plen);
                        w.put(z, bits);
                    }
                    _ if reuse => {
                        // Gorilla's 10, after XOR-decimal's 1 for "not a decimal delta".
                        w.put(0b10 | u64::from(self.decimal) << 2, 2 + tag);
                        w.put(x >> trail, 64 - lead - trail);
                    }
                    _ => {
                        self.lead = l as u8;
                        self.trail = tz as u8;
                        let sig = 64 - l - tz;
                        w.put(0b11 | u64::from(self.decimal) << 2, 2 + tag);
                        w.put(l as u64, 5);
                        w.put((sig % 64) as u64, 6);
                        w.put(x >> tz, sig);
                    }
                }
                if self.decimal && cur.is_none() {
                    self.scale = next_scale(self.scale, f64::from_bits(v), self.n);
                }
            }
        }
        self.prev_t = t;
        self.prev_v = v;
        self.n += 1;
        w.buf[1..5].copy_from_slice(&self.n.to_le_bytes());
    }
}

/// Decodes Gorilla (`decimal` false) or XOR-decimal chunk bytes after the encoding byte.
fn gorilla_decode(data: &[u8], mint: i64, maxt: i64, decimal: bool) -> Option<Vec<(i64, f64)>> {
    let n = u32::from_le_bytes(data.get(0..4)?.try_into().ok()?) as usize;
    let mut r = BitReader { buf: &data[4..], pos: 0 };
    let mut out = Vec::with_capacity(n.min(1 << 20));
    let (mut t, mut delta, mut v) = (0i64, 0i64, 0u64);
    let (mut lead, mut trail) = (0u32, 0u32);
    let mut scale = NO_SCALE;
    for i in 0..n {
        if i == 0 {
            t = r.get(64)? as i64;
            v = r.get(64)?;
            if decimal {
                scale = min_scale(f64::from_bits(v));
            }
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
                if decimal && r.get(1)? == 0 {
                    // A decimal delta: bucket prefix, then the zigzag-mapped difference.
                    let mut b = 0;
                    while b < DEC_BUCKETS.len() - 1 && r.get(1)? == 1 {
                        b += 1;
                    }
                    let z = r.get(DEC_BUCKETS[b].0)?;
                    let x = as_decimal(f64::from_bits(v), scale)?.checked_add(unzigzag(z))?;
                    // A decimal at the scale (the encoder writes no other), so the scale stays.
                    v = from_decimal(x, scale).to_bits();
                } else {
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
                    if decimal {
                        scale = next_scale(scale, f64::from_bits(v), i as u32);
                    }
                }
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
        let ratios: Vec<_> = (0..200).map(|i| (i * 15_000, ((i * 37 % 101) as f64) / 100.0)).collect();
        let pages: Vec<_> = (0..200).map(|i| (i * 15_000, 2e8 + ((i * 7 % 129) - 64) as f64 * 4096.0)).collect();
        let extremes: Vec<_> =
            (0..50).map(|i| (i * 10, if i % 2 == 0 { 9_007_199_254_740_992.0 } else { -9_007_199_254_740_992.0 })).collect();
        let negative_zero = vec![(0, 1.0), (1, -0.0), (2, 2.0)];
        let constant: Vec<_> = (0..120).map(|i| (i * 15_000, 1.0)).collect();
        vec![jitter, counter, weird, vec![(5, 1.0)], vec![], ratios, pages, extremes, negative_zero, constant]
    }

    #[test]
    fn both_encodings_round_trip_bit_exact() {
        for s in series() {
            for enc in [ENC_GORILLA, ENC_XOR_DECIMAL, ENC_PCO, ENC_SHAPED] {
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
            for enc in [ENC_GORILLA, ENC_XOR_DECIMAL, ENC_PCO, ENC_SHAPED] {
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
        for (s, enc) in series().into_iter().flat_map(|s| [(s.clone(), ENC_GORILLA), (s, ENC_XOR_DECIMAL)]) {
            let mut a = ChunkAppender::new(enc, 0);
            for (i, &(t, v)) in s.iter().enumerate() {
                a.append(t, v);
                assert_eq!(a.len(), i + 1);
                assert_eq!(a.last_t(), t);
                let got = decode(a.bytes()).expect("decodes");
                assert_eq!(got.len(), i + 1);
                assert_eq!((got[i].0, got[i].1.to_bits()), (t, v.to_bits()));
            }
            assert_eq!(a.clone().into_bytes(), encode(enc, &s));
            a.clear();
            assert!(a.is_empty());
            assert_eq!(decode(a.bytes()), Some(vec![]));
            assert_eq!(a.bytes()[0], enc);
        }
    }

    /// Values that change scale, stop and start being decimals, and special floats, in random
    /// order: every prefix of the chunk decodes to exactly what was appended.
    #[test]
    fn xor_decimal_round_trips_values_of_every_kind() {
        use rand::{Rng, SeedableRng, rngs::StdRng};
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..300 {
            let mut a = ChunkAppender::new(ENC_XOR_DECIMAL, 0);
            let mut want = Vec::new();
            let mut t = rng.random_range(-1_000_000i64..1_000_000);
            let mut x = 0.0f64;
            for _ in 0..rng.random_range(1..200) {
                t += rng.random_range(1..40_000);
                x = match rng.random_range(0..12) {
                    0 => x,
                    1 => x + rng.random_range(0..50) as f64,
                    2 => (x * 100.0 + rng.random_range(-3..=3) as f64).round() / 100.0,
                    3 => rng.random_range(-1e6..1e6),
                    4 => rng.random_range(0..1_000_000_000i64) as f64 / 1e9,
                    5 => [f64::NAN, f64::from_bits(STALE_NAN), f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0][rng.random_range(0..6)],
                    6 => 9_007_199_254_740_992.0 * if rng.random_bool(0.5) { 1.0 } else { -1.0 },
                    7 => rng.random_range(0..1000) as f64 / 8.0,
                    8 => f64::from_bits(rng.random::<u64>()),
                    9 => -(rng.random_range(0..1u64 << 53) as f64),
                    10 => x - 4096.0 * rng.random_range(-64..=64) as f64,
                    _ => 1e300,
                };
                a.append(t, x);
                want.push((t, x.to_bits()));
            }
            let got: Vec<_> = decode(a.bytes()).expect("decodes").iter().map(|s| (s.0, s.1.to_bits())).collect();
            assert_eq!(got, want);
        }
    }

    /// The head's encoding is shorter than Gorilla's wherever values are decimals, and never
    /// more than a bit per changed value longer.
    #[test]
    fn xor_decimal_is_smaller_on_decimals() {
        let mut s = series();
        // A counter that grows by 0 to 49 per scrape.
        s.push(
            (0..240)
                .scan(1e6, |c, i| {
                    *c += (i * 7919 % 50) as f64;
                    Some((i * 15_000, *c))
                })
                .collect(),
        );
        for (i, want_ratio) in [(5, 0.3), (10, 0.85)] {
            let (g, d) = (encode(ENC_GORILLA, &s[i]).len() as f64, encode(ENC_XOR_DECIMAL, &s[i]).len() as f64);
            assert!(d <= g * want_ratio, "series {i}: {d} bytes, Gorilla {g}");
        }
        for v in &s {
            let (g, d) = (encode(ENC_GORILLA, v).len(), encode(ENC_XOR_DECIMAL, v).len());
            assert!(d <= g + v.len() / 8 + 1, "{d} bytes, Gorilla {g}");
        }
    }

    #[test]
    fn corrupt_chunks_are_errors_not_panics() {
        for e in [ENC_GORILLA, ENC_XOR_DECIMAL] {
            for s in series() {
                let enc = encode(e, &s);
                for cut in 0..enc.len() {
                    let _ = decode(&enc[..cut]);
                }
                // Flipped bits decode to something or to None, never a panic.
                for bit in 40..enc.len() * 8 {
                    let mut bad = enc.clone();
                    bad[bit / 8] ^= 1 << (bit % 8);
                    let _ = decode(&bad);
                }
            }
        }
        for e in [ENC_PCO, ENC_SHAPED] {
            for s in series() {
                let enc = encode(e, &s);
                for cut in 0..enc.len() {
                    assert!(decode(&enc[..cut]).is_none(), "encoding {e}: a chunk cut to {cut} of {} bytes decoded", enc.len());
                }
            }
        }
        assert!(decode(&[9, 1, 2]).is_none());
        // A count of 2^60 evenly spaced samples is refused, not allocated.
        let mut huge = vec![ENC_SHAPED];
        put_varint(&mut huge, 1 << 60);
        huge.extend_from_slice(&[0, 0, 1, 0]);
        huge.extend_from_slice(&1f64.to_bits().to_le_bytes());
        assert!(decode(&huge).is_none());
    }
}
