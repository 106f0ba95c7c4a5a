//! The database as pages, and B-tree walks over it.
//!
//! Source: reference/ese.md §1 (page `pgno` at file offset `(pgno + 1) * cbPage`) and §7
//! (root = pgnoFDP; branch data = child pgno; depth-first over nodes in tag order gives key
//! order; skip deleted nodes). Walks keep a visited set and a depth limit, so a corrupt file
//! that links pages into a loop ends in an error, never in an endless walk.

use crate::bytes::Bytes;
use crate::ese::error::EseError;
use crate::ese::header::{DbHeader, HeaderCopies, HeaderError};
use crate::ese::node::Node;
use crate::ese::page::{flags, Page};
use crate::ese::record::RecordForm;
use std::ops::ControlFlow;

/// No real B-tree is this deep (ESE trees of billions of rows stay under 10 levels).
pub const MAX_TREE_DEPTH: usize = 32;

/// Page numbers already visited by a walk: one bit per page up to the highest seen (a tree of
/// millions of pages costs a few hundred KiB, and no hashing).
#[derive(Default)]
struct PageSet {
    bits: Vec<u64>,
}

impl PageSet {
    /// Adds `pgno`; `false` if it was already there.
    fn insert(&mut self, pgno: u32) -> bool {
        let (word, bit) = ((pgno / 64) as usize, pgno % 64);
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        let fresh = self.bits[word] & (1 << bit) == 0;
        self.bits[word] |= 1 << bit;
        fresh
    }
}

/// A database file in memory: its header and its pages.
#[derive(Clone)]
pub struct Database<'a> {
    pub bytes: &'a [u8],
    pub header: DbHeader,
    pub page_size: u32,
    /// Highest database page number in the file.
    pub last_pgno: u32,
    /// Told of the file offset of every page read through [`Database::page`] (a memory map
    /// releasing what a long walk has read, say).
    on_page: Option<&'a (dyn Fn(u64) + Sync)>,
}

/// A leaf node met by a walk, with the page it sits on.
pub struct LeafEntry<'a, 'p> {
    pub page: &'p Page<'a>,
    pub node: Node<'a>,
}

impl<'a> Database<'a> {
    pub fn open(bytes: &'a [u8]) -> Result<Database<'a>, HeaderError> {
        let copies = HeaderCopies::read(bytes)?;
        let page_size = copies.header.page_size;
        let pages = (bytes.len() as u64 / u64::from(page_size))
            .saturating_sub(crate::ese::header::HEADER_PAGES);
        Ok(Database {
            bytes,
            header: copies.header,
            page_size,
            last_pgno: pages.min(u64::from(u32::MAX)) as u32,
            on_page: None,
        })
    }

    /// The same database, with `on_page` called with the file offset of every page read
    /// through [`Database::page`].
    pub fn observed(self, on_page: &'a (dyn Fn(u64) + Sync)) -> Database<'a> {
        Database {
            on_page: Some(on_page),
            ..self
        }
    }

    /// Absolute file offset of page `pgno`.
    pub fn page_offset(&self, pgno: u32) -> u64 {
        crate::ese::header::page_offset(pgno, self.page_size)
    }

    /// Page `pgno` (1-based), checked to lie inside the file.
    pub fn page(&self, pgno: u32, named_at: u64, what: &'static str) -> Result<Page<'a>, EseError> {
        if pgno == 0 || pgno > self.last_pgno {
            return Err(EseError::PageOutOfRange {
                offset: named_at,
                what,
                pgno,
                last: self.last_pgno,
            });
        }
        let off = self.page_offset(pgno);
        let b = Bytes::new(self.bytes, 0).sub("page", off as usize, self.page_size as usize)?;
        if let Some(f) = self.on_page {
            f(off);
        }
        Page::parse(b, pgno)
    }

    /// The record form of the records on `page` ([`Page::record_form`]).
    pub fn record_form(&self, page: &Page) -> RecordForm {
        page.record_form()
    }

    /// Walks the B-tree rooted at `root` (object `objid`) depth first, calling `visit` for
    /// every live leaf node in key order. Every page visited is passed to `on_page`.
    pub fn walk<F, P>(&self, root: u32, objid: u32, on_page: P, visit: F) -> Result<(), EseError>
    where
        F: FnMut(LeafEntry<'a, '_>) -> Result<ControlFlow<()>, EseError>,
        P: FnMut(&Page<'a>),
    {
        self.walk_inner(root, objid, true, None, on_page, visit)
    }

    /// Like [`Database::walk`], but starts at the first leaf that can hold `key`: a branch
    /// child whose separator key is below `key` holds only keys below it and is skipped (both
    /// separator conventions, "≥ every key of the child" and "> every key of the child", keep
    /// this true; an empty separator is the open end). `visit` still sees any keys below `key`
    /// on the first leaf, and stops the walk when past its range. Cost: the tree's depth plus
    /// the leaves visited, not the whole tree.
    pub fn walk_from<F>(&self, root: u32, objid: u32, key: &[u8], visit: F) -> Result<(), EseError>
    where
        F: FnMut(LeafEntry<'a, '_>) -> Result<ControlFlow<()>, EseError>,
    {
        self.walk_inner(root, objid, true, Some(key), |_| {}, visit)
    }

    fn walk_inner<F, P>(
        &self,
        root: u32,
        objid: u32,
        leaf_nodes: bool,
        from: Option<&[u8]>,
        mut on_page: P,
        mut visit: F,
    ) -> Result<(), EseError>
    where
        F: FnMut(LeafEntry<'a, '_>) -> Result<ControlFlow<()>, EseError>,
        P: FnMut(&Page<'a>),
    {
        self.walk_pages(
            root,
            objid,
            leaf_nodes,
            from,
            None,
            &mut on_page,
            &mut visit,
        )
    }

    /// The walk itself. With `unread_leaves`, the children of a page flagged parent-of-leaf
    /// are not read: each is checked to be in range and reached once, then handed to it (a
    /// leaf read here, a root that is a leaf, is handed to it too).
    #[allow(clippy::too_many_arguments)]
    fn walk_pages(
        &self,
        root: u32,
        objid: u32,
        leaf_nodes: bool,
        from: Option<&[u8]>,
        mut unread_leaves: Option<&mut dyn FnMut(u32) -> Result<(), EseError>>,
        on_page: &mut dyn FnMut(&Page<'a>),
        visit: &mut dyn FnMut(LeafEntry<'a, '_>) -> Result<ControlFlow<()>, EseError>,
    ) -> Result<(), EseError> {
        let mut seen = PageSet::default();
        // Stack of (pgno, depth, offset of the pointer that named it).
        let mut stack = vec![(root, 0usize, 0u64)];
        while let Some((pgno, depth, named_at)) = stack.pop() {
            let what = if depth == 0 {
                "tree root"
            } else {
                "branch node"
            };
            let page = self.page(pgno, named_at, what)?;
            let tree_err = |what| EseError::Tree {
                offset: page.offset(),
                pgno,
                objid,
                what,
            };
            if !seen.insert(pgno) {
                return Err(tree_err("page reached twice (a loop or a shared child)"));
            }
            if depth > MAX_TREE_DEPTH {
                return Err(tree_err("tree deeper than 32 levels"));
            }
            if page.header.flags == 0 && page.header.checksum == 0 {
                return Err(tree_err(
                    "page is uninitialised (all zero) but linked into the tree",
                ));
            }
            if page.header.objid_fdp != objid {
                return Err(EseError::corrupt(
                    page.offset() + crate::ese::page::offsets::OBJID_FDP as u64,
                    Some(pgno),
                    "page objidFDP",
                    objid.to_string(),
                    page.header.objid_fdp.to_string(),
                ));
            }
            if depth == 0 && !page.header.has(flags::ROOT) {
                return Err(tree_err("tree root page lacks the root flag"));
            }
            on_page(&page);
            if page.header.has(flags::LEAF) {
                if let Some(sink) = unread_leaves.as_mut() {
                    sink(pgno)?;
                }
                if !leaf_nodes {
                    continue;
                }
                for itag in page.line_tags() {
                    let node = Node::parse(&page, itag)?;
                    if node.is_deleted() {
                        continue;
                    }
                    if visit(LeafEntry { page: &page, node })?.is_break() {
                        return Ok(());
                    }
                }
            } else {
                let mut children = Vec::new();
                for itag in page.line_tags() {
                    let node = Node::parse(&page, itag)?;
                    if node.is_deleted() {
                        continue;
                    }
                    if let Some(from) = from {
                        let sep = node.key();
                        if !sep.is_empty() && sep.as_slice() < from {
                            continue;
                        }
                    }
                    let child = node.data.u32("branch child pgno", 0)?;
                    children.push((child, depth + 1, node.data.base()));
                }
                if let Some(sink) = unread_leaves
                    .as_mut()
                    .filter(|_| page.header.has(flags::PARENT_OF_LEAF))
                {
                    for (child, _, named_at) in children {
                        if child == 0 || child > self.last_pgno {
                            return Err(EseError::PageOutOfRange {
                                offset: named_at,
                                what: "leaf page",
                                pgno: child,
                                last: self.last_pgno,
                            });
                        }
                        if !seen.insert(child) {
                            return Err(EseError::Tree {
                                offset: self.page_offset(child),
                                pgno: child,
                                objid,
                                what: "page reached twice (a loop or a shared child)",
                            });
                        }
                        sink(child)?;
                    }
                    continue;
                }
                stack.extend(children.into_iter().rev());
            }
        }
        Ok(())
    }

    /// The tree rooted at `root` as a whole-file check reads it: every branch page read and
    /// checked as [`Database::tree_pages`] checks it, and every leaf handed to `leaf`, unread
    /// when its parent is flagged parent-of-leaf (the caller checks it as a leaf of `objid`
    /// when it reads it: that it is initialised, a leaf, and owned by `objid`), so that a pass
    /// over the file reads each leaf once, in file order.
    pub fn tree_leaves(
        &self,
        root: u32,
        objid: u32,
        leaf: &mut dyn FnMut(u32) -> Result<(), EseError>,
    ) -> Result<(), EseError> {
        self.walk_pages(
            root,
            objid,
            false,
            None,
            Some(leaf),
            &mut |_| {},
            &mut |_| Ok(ControlFlow::Continue(())),
        )
    }

    /// Every page of the tree rooted at `root`. Leaf pages are checked as pages (in range,
    /// initialised, owned by `objid`, reached once) but their nodes are not parsed: listing
    /// pages needs only the branch nodes.
    pub fn tree_pages(&self, root: u32, objid: u32) -> Result<Vec<u32>, EseError> {
        let mut pages = Vec::new();
        self.walk_inner(
            root,
            objid,
            false,
            None,
            |p| pages.push(p.pgno),
            |_| Ok(ControlFlow::Continue(())),
        )?;
        Ok(pages)
    }
}
