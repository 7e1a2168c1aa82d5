//! Sorted-vector set and map for the small per-account collections (open orders, client order
//! ids). With tens of entries, binary search over one contiguous allocation beats a B-tree's
//! pointer chasing; order ids are assigned in increasing order, so inserts mostly append.
//!
//! Both encode exactly like `BTreeSet` / `BTreeMap` (a `u64` length, then the items in order), so
//! the state's bytes do not depend on which one holds them.

use bincode::{Decode, Encode};

/// A set kept as a sorted, duplicate-free vector.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct SortedSet<T: Ord>(Vec<T>);

impl<T: Ord + Copy> SortedSet<T> {
    /// Adds `value`; false if it was present.
    pub fn insert(&mut self, value: T) -> bool {
        match self.0.binary_search(&value) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, value);
                true
            }
        }
    }

    /// Removes `value`; false if it was absent.
    pub fn remove(&mut self, value: &T) -> bool {
        match self.0.binary_search(value) {
            Ok(at) => {
                self.0.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// True if present.
    #[must_use]
    pub fn contains(&self, value: &T) -> bool {
        self.0.binary_search(value).is_ok()
    }

    /// Number of items.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Items in order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }
}

impl<'a, T: Ord> IntoIterator for &'a SortedSet<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<T: Ord + Copy> FromIterator<T> for SortedSet<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let mut v: Vec<T> = items.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        Self(v)
    }
}

/// A map kept as a vector of pairs sorted by key, keys unique.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct SortedMap<K: Ord, V>(Vec<(K, V)>);

impl<K: Ord + Copy, V: Copy> SortedMap<K, V> {
    fn find(&self, key: &K) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.cmp(key))
    }

    /// Sets `key` to `value`; returns the previous value.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(at) => Some(std::mem::replace(&mut self.0[at].1, value)),
            Err(at) => {
                self.0.insert(at, (key, value));
                None
            }
        }
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.find(key).ok().map(|at| self.0.remove(at).1)
    }

    /// The value of `key`.
    #[must_use]
    pub fn get(&self, key: &K) -> Option<&V> {
        self.find(key).ok().map(|at| &self.0[at].1)
    }

    /// True if `key` is present.
    #[must_use]
    pub fn contains_key(&self, key: &K) -> bool {
        self.find(key).is_ok()
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of `key`, mutably.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.find(key).ok().map(|at| &mut self.0[at].1)
    }

    /// The value of `key`, inserting `V::default()` first if absent.
    pub fn entry_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        let at = match self.find(&key) {
            Ok(at) => at,
            Err(at) => {
                self.0.insert(at, (key, V::default()));
                at
            }
        };
        &mut self.0[at].1
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<'a, K: Ord + Copy, V: Copy> IntoIterator for &'a SortedMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use tokenbook_protocol::codec::encode;

    #[test]
    fn same_bytes_as_the_btree_collections() {
        let mut set = SortedSet::default();
        let mut map = SortedMap::default();
        for x in [5u64, 1, 9, 5, 3] {
            set.insert(x);
            map.insert(x, x * 10);
        }
        set.remove(&9);
        map.remove(&9);
        let bset: BTreeSet<u64> = [1, 3, 5].into_iter().collect();
        let bmap: BTreeMap<u64, u64> = [(1, 10), (3, 30), (5, 50)].into_iter().collect();
        assert_eq!(encode(&set), encode(&bset));
        assert_eq!(encode(&map), encode(&bmap));
        assert!(set.contains(&3) && !set.contains(&9));
        assert_eq!(map.get(&5), Some(&50));
        assert_eq!(map.insert(5, 7), Some(50));
    }
}
