//! Where the head keeps its closed chunks: packed one after the other into large buffers
//! ("slabs") instead of one small allocation each.
//!
//! The problem it solves: a backfill fills the head with hours of chunks, and a block cut frees
//! most of them again. As small allocations they were spread over the allocator's 64 KiB pages
//! between longer-lived objects of the same sizes, so the pages stayed resident half empty
//! after the cut. Here chunks closed at about the same time share a slab, the head drops them
//! oldest first, and a slab whose chunks are all gone is freed whole (a 1 MiB buffer is its own
//! mapping in mimalloc, so the memory goes back to the OS).
//!
//! Invariants: a [`Loc`] is valid from [`Slabs::put`] until it is passed to [`Slabs::free`],
//! once; a slab is freed when nothing in it is live and it is not the one being filled.

/// Bytes of a slab (a chunk larger than this gets a slab of its own size).
pub const SLAB_BYTES: usize = 1 << 20;

/// Where a chunk's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    slab: u32,
    off: u32,
    len: u32,
}

struct Slab {
    /// Never grown past the capacity it was made with, so locations stay valid.
    data: Vec<u8>,
    /// Bytes of chunks not freed yet.
    live: usize,
}

/// The slabs of one head.
#[derive(Default)]
pub struct Slabs {
    slabs: Vec<Slab>,
    /// Indexes of freed slabs, for reuse.
    vacant: Vec<u32>,
    /// The slab being filled.
    current: Option<u32>,
}

impl Slabs {
    /// Stores a copy of `bytes`.
    pub fn put(&mut self, bytes: &[u8]) -> Loc {
        let fits = self.current.is_some_and(|i| {
            let s = &self.slabs[i as usize];
            s.data.capacity() - s.data.len() >= bytes.len()
        });
        if !fits {
            self.start_slab(bytes.len().max(SLAB_BYTES));
        }
        let i = self.current.expect("a slab is being filled");
        let s = &mut self.slabs[i as usize];
        let off = s.data.len();
        s.data.extend_from_slice(bytes);
        s.live += bytes.len();
        Loc { slab: i, off: off as u32, len: bytes.len() as u32 }
    }

    fn start_slab(&mut self, capacity: usize) {
        if let Some(prev) = self.current.take()
            && self.slabs[prev as usize].live == 0
        {
            self.release(prev);
        }
        let slab = Slab { data: Vec::with_capacity(capacity), live: 0 };
        let i = match self.vacant.pop() {
            Some(i) => {
                self.slabs[i as usize] = slab;
                i
            }
            None => {
                self.slabs.push(slab);
                (self.slabs.len() - 1) as u32
            }
        };
        self.current = Some(i);
    }

    fn release(&mut self, i: u32) {
        self.slabs[i as usize].data = Vec::new();
        self.vacant.push(i);
    }

    /// The bytes at `at`.
    pub fn get(&self, at: Loc) -> &[u8] {
        &self.slabs[at.slab as usize].data[at.off as usize..at.off as usize + at.len as usize]
    }

    /// Forgets the chunk at `at`; its slab is freed if that was its last live chunk.
    pub fn free(&mut self, at: Loc) {
        let s = &mut self.slabs[at.slab as usize];
        s.live -= at.len as usize;
        if s.live == 0 && self.current != Some(at.slab) {
            self.release(at.slab);
        }
    }

    /// Heap bytes held by the slabs (their capacity).
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.slabs.iter().map(|s| s.data.capacity()).sum()
    }

    /// Bytes of live chunks.
    pub fn live(&self) -> usize {
        self.slabs.iter().map(|s| s.live).sum()
    }

    /// Slabs holding memory.
    #[cfg(test)]
    pub fn allocated(&self) -> usize {
        self.slabs.iter().filter(|s| s.data.capacity() > 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_read_back_and_a_slab_is_freed_with_its_last_chunk() {
        let mut s = Slabs::default();
        let chunk = |i: usize| vec![(i % 251) as u8; 1000 + i % 7];
        // Enough chunks for three slabs.
        let locs: Vec<Loc> = (0..2500).map(|i| s.put(&chunk(i))).collect();
        assert_eq!(s.allocated(), 3);
        for (i, &l) in locs.iter().enumerate() {
            assert_eq!(s.get(l), &chunk(i)[..], "chunk {i}");
        }
        // Freeing the oldest thousand frees the first slab only (its last chunks share it).
        let first = locs[0].slab;
        let in_first = locs.iter().take_while(|l| l.slab == first).count();
        for &l in &locs[..in_first - 1] {
            s.free(l);
        }
        assert_eq!(s.allocated(), 3, "one live chunk keeps the slab");
        s.free(locs[in_first - 1]);
        assert_eq!(s.allocated(), 2);
        // The freed slab's index is reused; older locations still read right.
        let again = s.put(&vec![7u8; SLAB_BYTES]);
        assert_eq!(again.slab, first);
        assert_eq!(s.get(again).len(), SLAB_BYTES);
        for (i, &l) in locs.iter().enumerate().skip(in_first) {
            assert_eq!(s.get(l), &chunk(i)[..], "chunk {i}");
        }
        let live: usize = locs[in_first..].iter().map(|l| l.len as usize).sum::<usize>() + SLAB_BYTES;
        assert_eq!(s.live(), live);
    }

    #[test]
    fn the_slab_being_filled_is_kept_when_empty_and_freed_once_left() {
        let mut s = Slabs::default();
        let a = s.put(b"abc");
        s.free(a);
        assert_eq!(s.allocated(), 1, "still being filled");
        let b = s.put(b"def");
        assert_eq!(b.slab, a.slab);
        assert_eq!(s.get(b), b"def");
        s.free(b);
        // A chunk too large for what is left starts a new slab; the old, empty one goes.
        let c = s.put(&vec![1u8; SLAB_BYTES]);
        assert_eq!(s.allocated(), 1);
        assert_eq!(s.capacity(), SLAB_BYTES);
        assert_eq!(s.get(c).len(), SLAB_BYTES);
        // Larger than a slab: a slab of its own size.
        let d = s.put(&vec![2u8; SLAB_BYTES + 10]);
        assert_eq!(s.get(d).len(), SLAB_BYTES + 10);
        assert_eq!(s.allocated(), 2);
        s.free(c);
        assert_eq!(s.allocated(), 1);
        assert_eq!(s.live(), SLAB_BYTES + 10);
    }
}
