//! Maps keyed by import and export ids. Ids are small, dense and chosen by a counter (or by the
//! peer, within the session's own tables), so SipHash's protection against chosen keys buys
//! nothing here: a multiplicative hash spreads them over the table at a fraction of the cost.
//! A peer choosing ids to collide only slows its own session.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` keyed by ids, with [`IdHasher`].
pub(crate) type IdMap<V> = HashMap<i64, V, BuildHasherDefault<IdHasher>>;

/// Fibonacci hashing of one integer key.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used for i64 keys; kept correct for any other use.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_i64(&mut self, id: i64) {
        self.0 = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_ids_land_in_distinct_buckets() {
        let mut map = IdMap::default();
        for id in -1000..1000 {
            map.insert(id, id * 2);
        }
        assert_eq!(map.len(), 2000);
        assert_eq!(map.get(&-7), Some(&-14));
        // The top bits (which the table uses for its control bytes) differ for neighbours.
        let hash = |id: i64| {
            let mut h = IdHasher::default();
            h.write_i64(id);
            h.finish() >> 57
        };
        let distinct: std::collections::HashSet<u64> = (0..64).map(hash).collect();
        assert!(distinct.len() > 32, "{distinct:?}");
    }
}
