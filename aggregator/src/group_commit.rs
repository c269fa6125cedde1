//! Group commit: a writer thread takes every request already waiting together with the one it
//! blocked on, writes them all, and pays for one fsync. Shared by the log WAL and the samples WAL.

use std::sync::mpsc::Receiver;

/// Blocks for the next request, then takes up to `max - 1` more that are already queued.
/// Returns `None` once every sender is gone.
pub fn recv_group<T>(rx: &Receiver<T>, max: usize) -> Option<Vec<T>> {
    let first = rx.recv().ok()?;
    let mut group = vec![first];
    while group.len() < max {
        match rx.try_recv() {
            Ok(r) => group.push(r),
            Err(_) => break,
        }
    }
    Some(group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_what_is_queued_up_to_the_bound() {
        let (tx, rx) = std::sync::mpsc::channel();
        for i in 0..5 {
            tx.send(i).unwrap();
        }
        assert_eq!(recv_group(&rx, 3), Some(vec![0, 1, 2]));
        assert_eq!(recv_group(&rx, 3), Some(vec![3, 4]));
        drop(tx);
        assert_eq!(recv_group(&rx, 3), None);
    }
}
