//! Streaming B-tree writer: leaves are filled in key order and written as soon as they are
//! full; each level above keeps one open branch page fed with the separators of the level
//! below. Memory is one open page per level, whatever the tree size.
//!
//! Source: reference/ese.md §4 (nodes), §7 (branch pages: data = child pgno; leaves chained
//! through `pgnoPrev`/`pgnoNext`; branch pages unchained). A branch node's key is an exclusive
//! upper bound of its child's keys: for a child leaf, the shortest key between the leaf's last
//! node and the next leaf's first ([`separator`], \[MS\] `bt.cxx`); for a child branch page, the key
//! of its own last node. The last node of the rightmost page of each level has an empty key
//! (\[V\] basic.edb page 4). In trees with non-unique keys (secondary indexes) a separator between
//! equal keys continues into the node data (the primary bookmark); the index keys this builder
//! makes are prefix-free, so comparing such a separator with key-then-data is the same as
//! comparing it with their concatenation.

use super::error::BuildError;
use super::page::{lay_out, NodeList, PageSpec, NODE_SPACE, PAGE_SIZE};
use crate::ese::page::flags as page_flags;

/// Where pages come from and go to.
pub trait PageSink {
    /// A fresh page number for a page of this tree.
    fn alloc(&mut self) -> Result<u32, BuildError>;
    /// The database time to stamp on the next page written.
    fn dbtime(&mut self) -> u64;
    /// Stores a finished page.
    fn write(&mut self, pgno: u32, page: &[u8]) -> Result<(), BuildError>;
}

/// The fixed facts of one tree.
#[derive(Clone, Copy, Debug)]
pub struct TreeSpec {
    pub objid: u32,
    /// Flags on every page of the tree (index, non-unique, new record format).
    pub page_flags: u32,
    pub non_unique: bool,
}

/// The top page of a finished tree, not yet written: the caller puts it at the root page number
/// with the space header as tag 0.
pub struct RootPage {
    pub nodes: NodeList,
    pub is_leaf: bool,
    pub parent_of_leaf: bool,
}

/// Shape of a finished tree.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TreeShape {
    /// Levels, the root's included (1 = the root is the only leaf).
    pub levels: u32,
    /// Pages per level, leaves first, root last.
    pub pages_per_level: Vec<u64>,
    /// Leaf nodes (rows or index entries).
    pub entries: u64,
}

pub struct TreeWriter {
    spec: TreeSpec,
    leaf: NodeList,
    /// Page number of the open leaf, once it is known not to be the root.
    leaf_pgno: Option<u32>,
    prev_leaf: u32,
    branches: Vec<NodeList>,
    shape: TreeShape,
    page: Vec<u8>,
    sep: Vec<u8>,
}

impl TreeWriter {
    /// The tree's fixed facts.
    pub fn spec(&self) -> TreeSpec {
        self.spec
    }

    pub fn new(spec: TreeSpec) -> TreeWriter {
        TreeWriter {
            spec,
            leaf: NodeList::default(),
            leaf_pgno: None,
            prev_leaf: 0,
            branches: Vec::new(),
            shape: TreeShape {
                levels: 1,
                pages_per_level: vec![0],
                entries: 0,
            },
            page: vec![0u8; PAGE_SIZE],
            sep: Vec::new(),
        }
    }

    /// Whether a node of this key and data fits an empty page of this tree at all, and its
    /// separator (the key, or key and data in a tree with non-unique keys) a branch page with
    /// at least one sibling.
    pub fn fits_empty_page(&self, key_len: usize, data_len: usize) -> bool {
        let sep_len = key_len + if self.spec.non_unique { data_len } else { 0 };
        NodeList::default().fits(key_len, data_len)
            && 2 * super::page::node_cost(sep_len, 4) <= NODE_SPACE
    }

    /// Appends a leaf node; keys must arrive in increasing order (the caller checks).
    pub fn push(
        &mut self,
        sink: &mut dyn PageSink,
        key: &[u8],
        data: &[u8],
    ) -> Result<(), BuildError> {
        if !self.leaf.is_empty() && !self.leaf.fits(key.len(), data.len()) {
            let cur = match self.leaf_pgno {
                Some(p) => p,
                None => sink.alloc()?,
            };
            let next = sink.alloc()?;
            self.write_page(sink, 0, cur, self.prev_leaf, next)?;
            self.prev_leaf = cur;
            self.leaf_pgno = Some(next);
            let last = self.leaf.len() - 1;
            separator(
                &mut self.sep,
                (self.leaf.key(last), self.leaf.data(last)),
                (key, data),
            );
            self.leaf.clear();
            let sep = std::mem::take(&mut self.sep);
            let r = self.push_branch(sink, 1, &sep, cur);
            self.sep = sep;
            r?;
        }
        self.leaf.push(key, data);
        self.shape.entries += 1;
        Ok(())
    }

    fn push_branch(
        &mut self,
        sink: &mut dyn PageSink,
        level: usize,
        sep: &[u8],
        child: u32,
    ) -> Result<(), BuildError> {
        if self.branches.len() < level {
            self.branches.push(NodeList::default());
            self.shape.levels += 1;
            self.shape.pages_per_level.push(0);
        }
        let open = &self.branches[level - 1];
        if !open.is_empty() && !open.fits(sep.len(), 4) {
            let upper = open.key(open.len() - 1).to_vec();
            let pgno = sink.alloc()?;
            self.write_page(sink, level, pgno, 0, 0)?;
            self.branches[level - 1].clear();
            self.push_branch(sink, level + 1, &upper, pgno)?;
        }
        self.branches[level - 1].push(sep, &child.to_le_bytes());
        Ok(())
    }

    fn write_page(
        &mut self,
        sink: &mut dyn PageSink,
        level: usize,
        pgno: u32,
        prev: u32,
        next: u32,
    ) -> Result<(), BuildError> {
        let flags = self.spec.page_flags
            | match level {
                0 => page_flags::LEAF,
                1 => page_flags::PARENT_OF_LEAF,
                _ => 0,
            };
        let h = PageSpec {
            pgno,
            dbtime: sink.dbtime(),
            prev,
            next,
            objid: self.spec.objid,
            flags,
        };
        let nodes = if level == 0 {
            &self.leaf
        } else {
            &self.branches[level - 1]
        };
        lay_out(&mut self.page, &h, &[], nodes);
        self.shape.pages_per_level[level] += 1;
        sink.write(pgno, &self.page)
    }

    /// Writes every page but the top one and hands that back.
    pub fn finish(mut self, sink: &mut dyn PageSink) -> Result<(RootPage, TreeShape), BuildError> {
        let Some(cur) = self.leaf_pgno else {
            self.shape.pages_per_level[0] = 1;
            return Ok((
                RootPage {
                    nodes: std::mem::take(&mut self.leaf),
                    is_leaf: true,
                    parent_of_leaf: false,
                },
                self.shape,
            ));
        };
        self.write_page(sink, 0, cur, self.prev_leaf, 0)?;
        self.push_branch(sink, 1, &[], cur)?;
        let mut level = 1;
        while level < self.branches.len() {
            let pgno = sink.alloc()?;
            self.write_page(sink, level, pgno, 0, 0)?;
            self.branches[level - 1].clear();
            self.push_branch(sink, level + 1, &[], pgno)?;
            level += 1;
        }
        let top = self.branches.len();
        self.shape.pages_per_level[top] += 1;
        Ok((
            RootPage {
                nodes: std::mem::take(&mut self.branches[top - 1]),
                is_leaf: false,
                parent_of_leaf: top == 1,
            },
            self.shape,
        ))
    }
}

/// The shortest key that is greater than the last node of a leaf (`prev`) and not greater than
/// the first node of the next leaf (`split`): their common key prefix and the first differing
/// key byte, or, when the keys are equal (non-unique trees), the key, the common data prefix and
/// the first differing data byte. Source: \[MS\] `bt.cxx` `ErrBTIComputeSeparatorKey` (the rule
/// the engine uses when it splits a leaf).
pub fn separator(out: &mut Vec<u8>, prev: (&[u8], &[u8]), split: (&[u8], &[u8])) {
    let common = |a: &[u8], b: &[u8]| a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (pk, pd) = prev;
    let (sk, sd) = split;
    out.clear();
    let ck = common(sk, pk);
    if ck == sk.len() && ck == pk.len() {
        let cd = common(sd, pd);
        out.extend_from_slice(sk);
        out.extend_from_slice(&sd[..(cd + 1).min(sd.len())]);
    } else {
        out.extend_from_slice(&sk[..(ck + 1).min(sk.len())]);
    }
}

/// Writes a root page: `external` (the space header) as tag 0.
pub fn write_root(
    sink: &mut dyn PageSink,
    spec: TreeSpec,
    root: &RootPage,
    pgno: u32,
    external: &[u8],
) -> Result<(), BuildError> {
    let mut page = vec![0u8; PAGE_SIZE];
    let flags = spec.page_flags
        | page_flags::ROOT
        | if root.is_leaf { page_flags::LEAF } else { 0 }
        | if root.parent_of_leaf {
            page_flags::PARENT_OF_LEAF
        } else {
            0
        };
    let h = PageSpec {
        pgno,
        dbtime: sink.dbtime(),
        prev: 0,
        next: 0,
        objid: spec.objid,
        flags,
    };
    lay_out(&mut page, &h, external, &root.nodes);
    sink.write(pgno, &page)
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Pages in memory, numbered from 100.
    #[derive(Default)]
    pub struct MemSink {
        pub next: u32,
        pub pages: BTreeMap<u32, Vec<u8>>,
        pub time: u64,
    }

    impl PageSink for MemSink {
        fn alloc(&mut self) -> Result<u32, BuildError> {
            self.next += 1;
            Ok(99 + self.next)
        }
        fn dbtime(&mut self) -> u64 {
            self.time += 1;
            self.time
        }
        fn write(&mut self, pgno: u32, page: &[u8]) -> Result<(), BuildError> {
            assert!(
                self.pages.insert(pgno, page.to_vec()).is_none(),
                "page {pgno} written twice"
            );
            Ok(())
        }
    }

    fn u16_at(p: &[u8], at: usize) -> usize {
        u16::from_le_bytes([p[at], p[at + 1]]) as usize
    }
    fn u32_at(p: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(p[at..at + 4].try_into().unwrap())
    }

    /// (key, data) of every node of a page.
    pub fn nodes(p: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let n = u16_at(p, 34);
        (1..n)
            .map(|i| {
                let t = PAGE_SIZE - 4 * (i + 1);
                let cb = u16_at(p, t) & 0x1FFF;
                let ib = u16_at(p, t + 2) & 0x1FFF;
                let node = &p[40 + ib..40 + ib + cb];
                let kl = u16_at(node, 0);
                (node[2..2 + kl].to_vec(), node[2 + kl..].to_vec())
            })
            .collect()
    }

    /// Walks from `pgno` depth first; returns the leaf entries and checks separator bounds.
    pub fn walk(
        pages: &BTreeMap<u32, Vec<u8>>,
        pgno: u32,
        upper: &[u8],
        out: &mut Vec<(Vec<u8>, Vec<u8>)>,
    ) {
        let p = &pages[&pgno];
        let flags = u32_at(p, 36);
        if flags & page_flags::LEAF != 0 {
            for (k, d) in nodes(p) {
                let kd = [k.as_slice(), d.as_slice()].concat();
                assert!(upper.is_empty() || k.as_slice() < upper || kd.as_slice() < upper);
                out.push((k, d));
            }
            return;
        }
        let ns = nodes(p);
        assert_eq!(
            ns.last().unwrap().0.as_slice(),
            upper,
            "last separator = parent bound"
        );
        for (k, d) in ns {
            walk(pages, u32_at(&d, 0), &k, out);
        }
    }

    #[test]
    fn many_rows_make_a_three_level_tree_that_walks_back_in_order() {
        let spec = TreeSpec {
            objid: 9,
            page_flags: 0,
            non_unique: false,
        };
        let mut sink = MemSink::default();
        let mut t = TreeWriter::new(spec);
        let rows = 60_000u32;
        let data = [0xABu8; 40];
        for i in 0..rows {
            let key = [
                0x7F,
                (i >> 24) as u8,
                (i >> 16) as u8,
                (i >> 8) as u8,
                i as u8,
            ];
            t.push(&mut sink, &key, &data).unwrap();
        }
        let (root, shape) = t.finish(&mut sink).unwrap();
        write_root(&mut sink, spec, &root, 1, &[0; 16]).unwrap();
        assert_eq!(shape.levels, 3, "{shape:?}");
        assert_eq!(shape.entries, rows as u64);
        assert_eq!(
            shape.pages_per_level.iter().sum::<u64>(),
            sink.pages.len() as u64
        );
        let mut out = Vec::new();
        walk(&sink.pages, 1, &[], &mut out);
        assert_eq!(out.len(), rows as usize);
        for (i, (k, d)) in out.iter().enumerate() {
            assert_eq!(u32::from_be_bytes(k[1..5].try_into().unwrap()), i as u32);
            assert_eq!(d.as_slice(), &data);
        }
        // The leaf chain visits the same leaves in order.
        let mut leaves: Vec<u32> = sink
            .pages
            .iter()
            .filter(|(_, p)| u32_at(p, 36) & page_flags::LEAF != 0)
            .map(|(n, _)| *n)
            .collect();
        leaves.sort();
        let first = *leaves
            .iter()
            .find(|n| u32_at(&sink.pages[n], 16) == 0)
            .unwrap();
        let (mut at, mut seen, mut prev) = (first, 0, 0);
        while at != 0 {
            let p = &sink.pages[&at];
            assert_eq!(u32_at(p, 16), prev);
            seen += 1;
            prev = at;
            at = u32_at(p, 20);
        }
        assert_eq!(seen, leaves.len());
    }

    #[test]
    fn separators_are_the_shortest_bound() {
        let mut s = Vec::new();
        separator(
            &mut s,
            (b"\x7f\x80\x01\x05", b"r"),
            (b"\x7f\x80\x02\x00", b"r"),
        );
        assert_eq!(s, b"\x7f\x80\x02");
        separator(&mut s, (b"\x7f\x80", b"r"), (b"\x7f\x80\x00", b"r"));
        assert_eq!(s, b"\x7f\x80\x00");
        // Equal keys (non-unique index): key, common bookmark prefix, differing byte.
        separator(
            &mut s,
            (b"\x7f\x01", b"\x7f\x80\x10"),
            (b"\x7f\x01", b"\x7f\x80\x20\x01"),
        );
        assert_eq!(s, b"\x7f\x01\x7f\x80\x20");
    }

    #[test]
    fn non_unique_trees_with_long_runs_of_equal_keys_walk_back_in_order() {
        let spec = TreeSpec {
            objid: 9,
            page_flags: 0,
            non_unique: true,
        };
        let mut sink = MemSink::default();
        let mut t = TreeWriter::new(spec);
        for i in 0..5000u32 {
            let key = [0x7F, (i / 1000) as u8];
            let bookmark = [0x7F, (i >> 8) as u8, i as u8];
            t.push(&mut sink, &key, &bookmark).unwrap();
        }
        let (root, shape) = t.finish(&mut sink).unwrap();
        write_root(&mut sink, spec, &root, 1, &[0; 16]).unwrap();
        assert!(shape.levels >= 2);
        let mut out = Vec::new();
        walk(&sink.pages, 1, &[], &mut out);
        assert_eq!(out.len(), 5000);
        assert!(out.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_small_tree_is_its_root() {
        let spec = TreeSpec {
            objid: 9,
            page_flags: 0,
            non_unique: false,
        };
        let mut sink = MemSink::default();
        let mut t = TreeWriter::new(spec);
        t.push(&mut sink, b"\x7f\x01", b"x").unwrap();
        let (root, shape) = t.finish(&mut sink).unwrap();
        assert!(root.is_leaf);
        assert_eq!(shape.levels, 1);
        assert!(sink.pages.is_empty());
    }
}
