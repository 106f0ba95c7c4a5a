//! One user table: its key plans (primary and secondary), the streaming of its rows into its
//! record tree, the sorting and writing of its secondary indexes, and its root and space trees.
//!
//! A table's pages are one contiguous run: root and space-tree roots (reserved first, written
//! last, when the run's end is known), leaf and branch pages as the rows stream in, then per
//! secondary index its pages, root and space trees (`pgnoParent` = the table's root).

use super::catalog::{CatalogIndex, CatalogTable};
use super::entries::{EntrySorter, SortSettings, SortStats};
use super::error::{hex, BuildError};
use super::file::{page_offset, PageFile};
use super::key::{indexable, push_segment, KeyError, KEY_MOST};
use super::record::{describe, encoded_text_len, is_long_column, push_bytes, RecordLayout};
use super::space::{space_header, write_space_trees, Extent};
use super::tree::{write_root, PageSink, TreeShape, TreeSpec, TreeWriter};
use super::{ColumnType, Format, IndexDef, Storage, TableDef, Value};
use crate::ese::catalog::{
    IDB_ALLOW_ALL_NULLS, IDB_ALLOW_FIRST_NULL, IDB_ALLOW_SOME_NULLS, IDB_PRIMARY, IDB_UNIQUE,
};
use crate::ese::page::flags as page_flags;
use crate::ese::space::DB_ROOT_PGNO;

/// Pages of a multiple-extent tree's root and its two space-tree roots.
pub(super) const ROOT_AND_SPACE_PAGES: u32 = 3;

/// One key segment: column position in the row, direction, and how to normalise it.
#[derive(Clone, Debug)]
pub(super) struct Segment {
    pub(super) col: usize,
    pub(super) ascending: bool,
    pub(super) coltyp: ColumnType,
    pub(super) storage: Storage,
    pub(super) fid: u16,
}

#[derive(Clone, Debug)]
pub(super) struct KeyPlan {
    pub(super) segments: Vec<Segment>,
}

impl KeyPlan {
    pub(super) fn new(
        table: &TableDef,
        layout: &RecordLayout,
        ix: &IndexDef,
    ) -> Result<KeyPlan, BuildError> {
        if ix.columns.is_empty() {
            return Err(BuildError::Schema(format!(
                "table {}: index {} has no columns",
                table.name, ix.name
            )));
        }
        let mut segments = Vec::new();
        for (name, ascending) in &ix.columns {
            let col = table
                .columns
                .iter()
                .position(|c| &c.name == name)
                .ok_or_else(|| {
                    BuildError::Schema(format!(
                        "table {}: index {}: no column {name}",
                        table.name, ix.name
                    ))
                })?;
            let c = &table.columns[col];
            if !indexable(c.coltyp) {
                return Err(BuildError::Schema(format!(
                    "table {}: index {}: column {name} is {:?}; this builder does not normalise text or long-value keys",
                    table.name, ix.name, c.coltyp
                )));
            }
            segments.push(Segment {
                col,
                ascending: *ascending,
                coltyp: c.coltyp,
                storage: c.storage,
                fid: layout.places[col].fid,
            });
        }
        Ok(KeyPlan { segments })
    }

    /// The normalised key of `row`; on failure, the column of the segment and why.
    pub(super) fn key(&self, row: &[Value], out: &mut Vec<u8>) -> Result<(), (usize, KeyError)> {
        out.clear();
        for s in &self.segments {
            push_segment(out, s.coltyp, s.storage, &row[s.col], s.ascending)
                .map_err(|e| (s.col, e))?;
        }
        Ok(())
    }
}

pub(super) struct SecondaryPlan {
    pub(super) def: IndexDef,
    pub(super) key: KeyPlan,
    pub(super) objid: u32,
    pub(super) pgno_fdp: u32,
    pub(super) shape: TreeShape,
}

pub(super) struct TablePlan {
    pub(super) def: TableDef,
    pub(super) layout: RecordLayout,
    pub(super) objid: u32,
    pub(super) primary_name: String,
    pub(super) primary: KeyPlan,
    pub(super) secondaries: Vec<SecondaryPlan>,
    pub(super) pgno_fdp: u32,
    pub(super) pages: u32,
    pub(super) rows: u64,
    pub(super) shape: TreeShape,
    /// The long-value tree (`TableDef::long_values`).
    pub(super) lv: Option<LvPlan>,
}

/// A table's long-value tree: object id, root page, pages owned, shape.
pub(super) struct LvPlan {
    pub(super) objid: u32,
    pub(super) pgno_fdp: u32,
    pub(super) pages: u32,
    pub(super) shape: TreeShape,
}

/// Bytes of a long value per chunk node of the long-value tree (keyed by LID and offset): as
/// much as one node of an empty page holds, so that a value takes as few chunks as it can.
/// (dissect.esedb 3.x misplaces the chunks after the second of a value — it adds each chunk's
/// end offset to a running offset — and takes them for compressed; few values reach three.)
pub(super) const LV_CHUNK: usize =
    super::page::NODE_SPACE - super::page::node_cost(LV_CHUNK_KEY, 0);
/// A chunk's key: the LID and the offset, both big-endian.
const LV_CHUNK_KEY: usize = 8;
/// `LVROOT`: `u32 refcount, u32 size` (reference §7 item 4).
const LVROOT_LEN: usize = 8;

impl TablePlan {
    pub(super) fn new(def: &TableDef, next_objid: &mut u32) -> Result<TablePlan, BuildError> {
        check_name("table", &def.name)?;
        let layout = RecordLayout::new(def).map_err(BuildError::Schema)?;
        for c in &def.columns {
            check_name("column", &c.name)?;
        }
        let primaries: Vec<&IndexDef> = def.indexes.iter().filter(|i| i.primary).collect();
        let [primary] = primaries.as_slice() else {
            return Err(BuildError::Schema(format!(
                "table {}: needs exactly one primary index, has {}",
                def.name,
                primaries.len()
            )));
        };
        for (i, ix) in def.indexes.iter().enumerate() {
            check_name("index", &ix.name)?;
            if def.indexes[..i].iter().any(|o| o.name == ix.name) {
                return Err(BuildError::Schema(format!(
                    "table {}: duplicate index name {}",
                    def.name, ix.name
                )));
            }
        }
        let objid = *next_objid;
        *next_objid += 1;
        let primary_key = KeyPlan::new(def, &layout, primary)?;
        let mut secondaries = Vec::new();
        for ix in def.indexes.iter().filter(|i| !i.primary) {
            let key = KeyPlan::new(def, &layout, ix)?;
            secondaries.push(SecondaryPlan {
                def: ix.clone(),
                key,
                objid: *next_objid,
                pgno_fdp: 0,
                shape: TreeShape::default(),
            });
            *next_objid += 1;
        }
        let has_long = def.columns.iter().any(is_long_column);
        let lv = (def.long_values && has_long).then(|| {
            let objid = *next_objid;
            *next_objid += 1;
            LvPlan {
                objid,
                pgno_fdp: 0,
                pages: 0,
                shape: TreeShape::default(),
            }
        });
        Ok(TablePlan {
            lv,
            def: def.clone(),
            layout,
            objid,
            primary_name: primary.name.clone(),
            primary: primary_key,
            secondaries,
            pgno_fdp: 0,
            pages: 0,
            rows: 0,
            shape: TreeShape::default(),
        })
    }

    pub(super) fn catalog(&self) -> CatalogTable<'_> {
        let fids = |k: &KeyPlan| k.segments.iter().map(|s| (s.fid, s.ascending)).collect();
        let mut indexes = vec![CatalogIndex {
            name: self.primary_name.clone(),
            objid: self.objid,
            pgno_fdp: self.pgno_fdp,
            idb_flags: IDB_UNIQUE
                | IDB_ALLOW_ALL_NULLS
                | IDB_ALLOW_FIRST_NULL
                | IDB_ALLOW_SOME_NULLS
                | IDB_PRIMARY,
            segments: fids(&self.primary),
        }];
        for s in &self.secondaries {
            indexes.push(CatalogIndex {
                name: s.def.name.clone(),
                objid: s.objid,
                pgno_fdp: s.pgno_fdp,
                idb_flags: IDB_ALLOW_ALL_NULLS
                    | IDB_ALLOW_FIRST_NULL
                    | IDB_ALLOW_SOME_NULLS
                    | if s.def.unique { IDB_UNIQUE } else { 0 },
                segments: fids(&s.key),
            });
        }
        CatalogTable {
            def: &self.def,
            layout: &self.layout,
            objid: self.objid,
            pgno_fdp: self.pgno_fdp,
            pages: self.pages,
            system: false,
            indexes,
            long_values: self.lv.as_ref().map(|l| (l.objid, l.pgno_fdp, l.pages)),
        }
    }
}

/// Names are stored as code-page-1252 text and keyed upper-cased: keep them plain ASCII.
pub(super) fn check_name(what: &str, name: &str) -> Result<(), BuildError> {
    if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| (0x20..0x7F).contains(&b)) {
        return Err(BuildError::Schema(format!(
            "{what} name \"{name}\" must be 1 to 64 printable ASCII characters"
        )));
    }
    Ok(())
}

/// Streams one table's rows into its tree, then builds its secondary indexes, then writes its
/// root and space trees into the pages reserved at the start of its run. Returns what the
/// secondary-index sort spilled to disk.
pub(super) fn write_table(
    file: &mut PageFile,
    format: Format,
    base: u32,
    plan: &mut TablePlan,
    rows: Box<dyn Iterator<Item = Vec<Value>> + '_>,
    sort: &SortSettings,
) -> Result<SortStats, BuildError> {
    let fdp = file.reserve(ROOT_AND_SPACE_PAGES)?;
    plan.pgno_fdp = fdp;
    let spec = TreeSpec {
        objid: plan.objid,
        page_flags: base,
        non_unique: false,
    };
    let mut tree = TreeWriter::new(spec);
    let mut entries = EntrySorter::new(plan.secondaries.len(), sort.budget, &sort.dir);
    let (mut key, mut prev, mut record, mut skey) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let ncols = plan.def.columns.len();
    let table = &plan.def.name;
    let mut spool = match &plan.lv {
        Some(_) => Some(LvSpool::new(&sort.dir)?),
        None => None,
    };
    let mut lids: Vec<u32> = Vec::new();
    let mut long_value: Vec<u8> = Vec::new();
    for (n, row) in rows.enumerate() {
        let n = n as u64;
        if row.len() != ncols {
            return Err(BuildError::WrongArity {
                table: table.clone(),
                row: n,
                expected: ncols,
                found: row.len(),
            });
        }
        for (i, v) in row.iter().enumerate() {
            if let Err((expected, found)) = plan.layout.check(i, v) {
                let c = &plan.def.columns[i];
                return Err(BuildError::WrongValue {
                    table: table.clone(),
                    row: n,
                    column: c.name.clone(),
                    coltyp: c.coltyp,
                    storage: c.storage,
                    expected,
                    found,
                });
            }
        }
        plan.primary
            .key(&row, &mut key)
            .map_err(|e| key_error(plan, n, &row, e))?;
        if key.len() > KEY_MOST {
            return Err(too_large(table, n, "primary key", key.len(), KEY_MOST));
        }
        if n > 0 && key <= prev {
            return Err(BuildError::OutOfOrder {
                table: table.clone(),
                row: n,
                key: hex(&key),
                previous: hex(&prev),
            });
        }
        lids.clear();
        if let Some(spool) = &mut spool {
            for (v, c) in row.iter().zip(&plan.def.columns) {
                if is_long_column(c) && !matches!(v, Value::Null) {
                    long_value.clear();
                    push_bytes(&mut long_value, v, c.code_page);
                    lids.push(spool.push(&long_value)?);
                }
            }
        }
        plan.layout
            .encode_with_lids(format, &row, &lids, &mut record);
        let in_record_too_long = tagged_too_long(&row, &plan.layout, spool.is_some());
        if !tree.fits_empty_page(key.len(), record.len()) || in_record_too_long {
            return Err(too_large(
                table,
                n,
                "record",
                record.len(),
                max_record(key.len()),
            ));
        }
        tree.push(file, &key, &record)?;
        for (i, s) in plan.secondaries.iter().enumerate() {
            s.key
                .key(&row, &mut skey)
                .map_err(|e| key_error(plan, n, &row, e))?;
            if skey.len() > KEY_MOST {
                return Err(too_large(table, n, "secondary key", skey.len(), KEY_MOST));
            }
            entries.push(i, &skey, &key)?;
        }
        std::mem::swap(&mut prev, &mut key);
        plan.rows += 1;
    }
    let (root, shape) = tree.finish(file)?;
    plan.shape = shape;

    for (i, s) in plan.secondaries.iter_mut().enumerate() {
        let first = file.peek_alloc();
        let spec = TreeSpec {
            objid: s.objid,
            page_flags: base
                | page_flags::INDEX
                | if s.def.unique {
                    0
                } else {
                    page_flags::NON_UNIQUE_KEYS
                },
            non_unique: !s.def.unique,
        };
        let mut t = TreeWriter::new(spec);
        // The previous key, kept for unique indexes only.
        let mut last: Option<Vec<u8>> = None;
        let mut sorted = entries.sorted(i)?;
        while let Some((k, bm)) = sorted.next_entry()? {
            if last.as_deref() == Some(k) {
                return Err(BuildError::DuplicateKey {
                    table: table.clone(),
                    index: s.def.name.clone(),
                    key: hex(k),
                });
            }
            if !t.fits_empty_page(k.len(), bm.len()) {
                return Err(too_large(
                    table,
                    0,
                    "secondary entry",
                    k.len() + bm.len(),
                    max_record(0),
                ));
            }
            t.push(file, k, bm)?;
            if s.def.unique {
                let l = last.get_or_insert_with(Vec::new);
                l.clear();
                l.extend_from_slice(k);
            }
        }
        drop(sorted);
        let (pgno, _, ishape) = finish_child_tree(file, t, first, fdp, format, base)?;
        s.pgno_fdp = pgno;
        s.shape = ishape;
    }

    // The long-value tree: each value's LVROOT then its chunks, in LID order (the order the
    // rows gave them), from the spool.
    if let (Some(lv), Some(spool)) = (&mut plan.lv, spool.take()) {
        let first = file.peek_alloc();
        let spec = TreeSpec {
            objid: lv.objid,
            page_flags: base | page_flags::LONG_VALUE,
            non_unique: false,
        };
        let mut t = TreeWriter::new(spec);
        let mut values = spool.finish()?;
        let mut key = Vec::with_capacity(8);
        while let Some((lid, data)) = values.next_value()? {
            key.clear();
            key.extend_from_slice(&lid.to_be_bytes());
            let mut root = [0u8; LVROOT_LEN];
            root[..4].copy_from_slice(&1u32.to_le_bytes());
            root[4..].copy_from_slice(&(data.len() as u32).to_le_bytes());
            t.push(file, &key, &root)?;
            for (k, chunk) in data.chunks(LV_CHUNK).enumerate() {
                key.truncate(4);
                key.extend_from_slice(&((k * LV_CHUNK) as u32).to_be_bytes());
                t.push(file, &key, chunk)?;
            }
        }
        let (pgno, pages, lshape) = finish_child_tree(file, t, first, fdp, format, base)?;
        lv.pgno_fdp = pgno;
        lv.pages = pages;
        lv.shape = lshape;
    }

    // The table's root and space trees go into the reserved pages, written in place.
    let extent = Extent {
        first: fdp,
        last: file.last_allocated(),
    };
    plan.pages = extent.pages();
    let stats = entries.stats();
    drop(entries);
    let mut reserved = ReservedSink { file };
    write_root(
        &mut reserved,
        spec,
        &root,
        fdp,
        &space_header(extent.pages(), DB_ROOT_PGNO, false, fdp + 1),
    )?;
    write_space_trees(
        &mut reserved,
        plan.objid,
        base,
        format == Format::Ese98,
        fdp + 1,
        &[extent],
        &[],
    )?;
    Ok(stats)
}

/// Writes pages reserved earlier in the stream, in place.
pub(super) struct ReservedSink<'a> {
    pub(super) file: &'a mut PageFile,
}

impl PageSink for ReservedSink<'_> {
    fn alloc(&mut self) -> Result<u32, BuildError> {
        Err(BuildError::Schema(
            "internal: allocation while writing reserved pages".into(),
        ))
    }
    fn dbtime(&mut self) -> u64 {
        self.file.dbtime()
    }
    fn write(&mut self, pgno: u32, page: &[u8]) -> Result<(), BuildError> {
        self.file.write_at(page_offset(pgno), page)
    }
}

/// ESE97's `TAGFLD_OLD` length field limits a tagged value (both forms keep to it, so that the
/// two forms of one input have the same pages). With `long_separated`, long values live in the
/// long-value tree and only their LIDs in the record, so only the other columns are checked.
pub(super) fn tagged_too_long(row: &[Value], layout: &RecordLayout, long_separated: bool) -> bool {
    row.iter().zip(&layout.columns).any(|(v, c)| {
        c.storage == Storage::Tagged
            && !(long_separated && is_long_column(c))
            && match v {
                Value::Binary(b) | Value::LongBinary(b) => b.len() > RecordLayout::tagged_most(),
                Value::Text(s) | Value::LongText(s) => {
                    encoded_text_len(s, c.code_page).unwrap_or(usize::MAX)
                        > RecordLayout::tagged_most()
                }
                _ => false,
            }
    })
}

pub(super) fn max_record(key_len: usize) -> usize {
    // A separator must also fit twice a branch page.
    super::page::NODE_SPACE - super::page::node_cost(key_len, 0)
}

pub(super) fn too_large(
    table: &str,
    row: u64,
    what: &'static str,
    need: usize,
    max: usize,
) -> BuildError {
    BuildError::RowTooLarge {
        table: table.to_string(),
        row,
        what,
        need,
        max,
    }
}

pub(super) fn key_error(
    plan: &TablePlan,
    row: u64,
    values: &[Value],
    (col, e): (usize, KeyError),
) -> BuildError {
    let c = &plan.def.columns[col];
    BuildError::WrongValue {
        table: plan.def.name.clone(),
        row,
        column: c.name.clone(),
        coltyp: c.coltyp,
        storage: c.storage,
        expected: format!("a value usable as a key segment ({e:?})"),
        found: describe(&values[col]),
    }
}

/// Ends a tree of the table other than its records (a secondary index, the long values): its
/// pages from `first`, then its root and two space-tree roots, the root naming the table's
/// root `fdp` as parent. Returns the root page, the pages the tree owns, and its shape.
fn finish_child_tree(
    file: &mut PageFile,
    t: TreeWriter,
    first: u32,
    fdp: u32,
    format: Format,
    base: u32,
) -> Result<(u32, u32, TreeShape), BuildError> {
    let spec = t.spec();
    let (root, shape) = t.finish(file)?;
    let pgno = file.alloc()?;
    file.alloc()?;
    file.alloc()?;
    let extent = Extent {
        first,
        last: pgno + 2,
    };
    write_root(
        file,
        spec,
        &root,
        pgno,
        &space_header(extent.pages(), fdp, spec.non_unique, pgno + 1),
    )?;
    write_space_trees(
        file,
        spec.objid,
        base,
        format == Format::Ese98,
        pgno + 1,
        &[extent],
        &[],
    )?;
    Ok((pgno, extent.pages(), shape))
}

/// The long values of a table's rows, kept in an unnamed temporary file beside the output until
/// the record tree is done (the long-value tree is written after it, so that each tree's pages
/// are one run): `u32 lid, u32 size, bytes` per value, LIDs from 1 in row order.
pub(super) struct LvSpool {
    out: std::io::BufWriter<std::fs::File>,
    next_lid: u32,
}

/// The spooled values, read back in order.
pub(super) struct LvValues {
    input: std::io::BufReader<std::fs::File>,
    buf: Vec<u8>,
}

fn spool_error(dir: &std::path::Path, op: &'static str, e: std::io::Error) -> BuildError {
    BuildError::Io {
        path: dir.to_path_buf(),
        op,
        offset: 0,
        source: e,
    }
}

impl LvSpool {
    fn new(dir: &std::path::Path) -> Result<LvSpool, BuildError> {
        let f = tempfile::tempfile_in(dir)
            .map_err(|e| spool_error(dir, "create a long-value spool in", e))?;
        Ok(LvSpool {
            out: std::io::BufWriter::with_capacity(1 << 20, f),
            next_lid: 1,
        })
    }

    /// Spools one value; returns its LID.
    fn push(&mut self, data: &[u8]) -> Result<u32, BuildError> {
        use std::io::Write;
        let lid = self.next_lid;
        self.next_lid = lid
            .checked_add(1)
            .ok_or_else(|| BuildError::Schema("more than 2^32 long values in one table".into()))?;
        let size = u32::try_from(data.len())
            .map_err(|_| BuildError::Schema("a long value of 4 GiB or more".into()))?;
        let io = |e| spool_error(std::path::Path::new("(long-value spool)"), "write", e);
        self.out.write_all(&lid.to_le_bytes()).map_err(io)?;
        self.out.write_all(&size.to_le_bytes()).map_err(io)?;
        self.out.write_all(data).map_err(io)?;
        Ok(lid)
    }

    fn finish(self) -> Result<LvValues, BuildError> {
        use std::io::Seek;
        let io = |e| spool_error(std::path::Path::new("(long-value spool)"), "rewind", e);
        let mut f = self.out.into_inner().map_err(|e| io(e.into_error()))?;
        f.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
        Ok(LvValues {
            input: std::io::BufReader::with_capacity(1 << 20, f),
            buf: Vec::new(),
        })
    }
}

impl LvValues {
    /// The next spooled value, or `None` at the end.
    fn next_value(&mut self) -> Result<Option<(u32, &[u8])>, BuildError> {
        use std::io::Read;
        let io = |e| spool_error(std::path::Path::new("(long-value spool)"), "read", e);
        let mut head = [0u8; 8];
        match self.input.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(io(e)),
        }
        let lid = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        self.buf.resize(size, 0);
        self.input.read_exact(&mut self.buf).map_err(io)?;
        Ok(Some((lid, &self.buf)))
    }
}
