//! Data records: fixed, variable and tagged columns, in the ESE97 and the ESE98 forms.
//!
//! Source: reference/ese.md §5 ([MS] `rec.hxx` `class REC`, `tagfld.hxx` `TAGFLD` and
//! `TAGFLD_OLD`, `upgrade.cxx`). The fixed and variable parts are the same in both forms; the
//! tagged part differs and is chosen by the page flag `fPageNewRecordFormat` (0x0800).

use crate::bytes::Bytes;
use crate::ese::error::EseError;
use smallvec::{smallvec, SmallVec};
use std::ops::Range;

/// Fixed column ids are 1..=127, variable 128..=255, tagged 256 and up.
pub const FID_FIXED_FIRST: u16 = 1;
pub const FID_FIXED_LAST: u16 = 127;
pub const FID_VAR_FIRST: u16 = 128;
pub const FID_VAR_LAST: u16 = 255;
pub const FID_TAGGED_FIRST: u16 = 256;
/// `fidVarLastInRec` = 127 means "no variable columns".
pub const NO_VAR_COLUMNS: u8 = 127;
/// Offset of the first fixed column: the record header (`u8 fidFixedLastInRec`,
/// `u8 fidVarLastInRec`, `u16 ibEndOfFixedData`) is 4 bytes.
pub const FIXED_DATA_START: usize = 4;
/// Variable offset entry: NULL bit, and the end-offset mask.
pub const VAR_NULL: u16 = 0x8000;
pub const VAR_OFFSET_MASK: u16 = 0x7FFF;

/// ESE98 `TAGFLD.ib` bits on 4/8 KiB pages.
const TAGFLD_DERIVED: u16 = 0x8000;
pub const TAGFLD_EXTENDED_INFO: u16 = 0x4000;
const TAGFLD_NULL_SMALL: u16 = 0x2000;
pub const TAGFLD_IB_MASK_SMALL: u16 = 0x1FFF;
const TAGFLD_IB_MASK_LARGE: u16 = 0x7FFF;

/// ESE98 `TAGFLD_HEADER` byte.
pub mod tagfld_header {
    pub const LONG_VALUE: u8 = 0x01;
    pub const COMPRESSED: u8 = 0x02;
    pub const SEPARATED: u8 = 0x04;
    pub const MULTI_VALUES: u8 = 0x08;
    pub const TWO_VALUES: u8 = 0x10;
    pub const NULL: u8 = 0x20;
    pub const ENCRYPTED: u8 = 0x40;
}
/// Multi-value offset entry: separated instance bit and offset mask.
const MULTI_SEPARATED: u16 = 0x8000;
const MULTI_OFFSET_MASK: u16 = 0x7FFF;

/// ESE97 `TAGFLD_OLD.bits`: data length, derived, NULL, long value.
pub const OLD_CB_MASK: u16 = 0x0FFF;
const OLD_DERIVED: u16 = 0x2000;
const OLD_NULL: u16 = 0x4000;
pub const OLD_LONG_VALUE: u16 = 0x8000;
/// ESE97 long-value header byte (`LV.bFlags`): bit 0 = the value is separated (a LID
/// follows); an intrinsic value (its bytes follow) has no bit set.
pub const OLD_LV_SEPARATED: u8 = 0x01;
pub const OLD_LV_INTRINSIC: u8 = 0x00;

/// Which tagged-column form a record uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordForm {
    /// ESE97 (`TAGFLD_OLD`), page flag 0x0800 clear.
    Ese97,
    /// ESE98+; `large_page` for 16/32 KiB pages (15-bit offsets, header byte always present).
    Ese98 { large_page: bool },
}

/// A record's header and the boundaries of its parts.
#[derive(Clone, Copy)]
pub struct Record<'a> {
    pub bytes: Bytes<'a>,
    pub form: RecordForm,
    pub fid_fixed_last: u8,
    pub fid_var_last: u8,
    pub ib_end_fixed: usize,
    /// Start of variable data (after the offset array).
    pub var_data_start: usize,
    /// Start of the tagged area (end of variable data).
    pub tagged_start: usize,
}

/// One instance of a tagged (or long) value.
#[derive(Clone, Copy)]
pub struct Instance<'a> {
    pub data: Bytes<'a>,
    /// The data is a LID in the table's long-value tree.
    pub separated: bool,
    pub compressed: bool,
}

/// A tagged column's values: nearly always one, held without an allocation.
pub type Instances<'a> = SmallVec<[Instance<'a>; 1]>;

/// One tagged column of a record.
#[derive(Clone)]
pub struct TaggedColumn<'a> {
    pub fid: u16,
    pub derived: bool,
    /// An explicit NULL (overriding a default).
    pub null: bool,
    pub instances: Instances<'a>,
    /// Byte range of this column's data in the record (ESE98: from its ib; ESE97: the entry).
    pub range: Range<usize>,
}

impl<'a> Record<'a> {
    pub fn parse(bytes: Bytes<'a>, form: RecordForm) -> Result<Record<'a>, EseError> {
        let fid_fixed_last = bytes.u8("REC.fidFixedLastInRec", 0)?;
        let fid_var_last = bytes.u8("REC.fidVarLastInRec", 1)?;
        let ib_end_fixed = usize::from(bytes.u16("REC.ibEndOfFixedData", 2)?);
        let corrupt = |what, expected: &str, found: String| {
            EseError::corrupt(bytes.base(), None, what, expected, found)
        };
        if fid_fixed_last > FID_FIXED_LAST as u8 {
            return Err(corrupt(
                "record fidFixedLastInRec",
                "0..=127",
                fid_fixed_last.to_string(),
            ));
        }
        if fid_var_last < NO_VAR_COLUMNS {
            return Err(corrupt(
                "record fidVarLastInRec",
                "127..=255",
                fid_var_last.to_string(),
            ));
        }
        if ib_end_fixed < FIXED_DATA_START || ib_end_fixed > bytes.len() {
            return Err(corrupt(
                "record ibEndOfFixedData",
                &crate::text::range(4u64, bytes.len() as u64),
                ib_end_fixed.to_string(),
            ));
        }
        let n_var = usize::from(fid_var_last - NO_VAR_COLUMNS);
        let var_data_start = ib_end_fixed + 2 * n_var;
        let mut tagged_start = var_data_start;
        if n_var > 0 {
            let last = bytes.u16("REC variable offset", ib_end_fixed + 2 * (n_var - 1))?;
            tagged_start += usize::from(last & VAR_OFFSET_MASK);
        }
        if tagged_start > bytes.len() {
            return Err(corrupt(
                "record end of variable data",
                &format!("at most the record length {}", bytes.len()),
                tagged_start.to_string(),
            ));
        }
        Ok(Record {
            bytes,
            form,
            fid_fixed_last,
            fid_var_last,
            ib_end_fixed,
            var_data_start,
            tagged_start,
        })
    }

    /// Whether fixed column `fid` is NULL in this record (absent columns count as NULL).
    pub fn fixed_is_null(&self, fid: u16) -> Result<bool, EseError> {
        if fid == 0 || fid > u16::from(self.fid_fixed_last) {
            return Ok(true);
        }
        let bitmap_len = usize::from(self.fid_fixed_last).div_ceil(8);
        let bitmap_start = self.ib_end_fixed.checked_sub(bitmap_len).ok_or_else(|| {
            EseError::corrupt(
                self.bytes.base(),
                None,
                "record fixed NULL bitmap",
                "ibEndOfFixedData after the bitmap",
                self.ib_end_fixed.to_string(),
            )
        })?;
        let i = usize::from(fid - 1);
        let byte = self
            .bytes
            .u8("REC fixed NULL bitmap", bitmap_start + i / 8)?;
        Ok(byte & (1 << (i % 8)) != 0)
    }

    /// The byte range of fixed column `fid` (at `offset`, `size` bytes) if present and not
    /// NULL.
    pub fn fixed_range(
        &self,
        fid: u16,
        offset: usize,
        size: usize,
    ) -> Result<Option<Range<usize>>, EseError> {
        if self.fixed_is_null(fid)? {
            return Ok(None);
        }
        let end = offset.saturating_add(size);
        let bitmap_len = usize::from(self.fid_fixed_last).div_ceil(8);
        if offset < FIXED_DATA_START || end > self.ib_end_fixed.saturating_sub(bitmap_len) {
            return Err(EseError::corrupt(
                self.bytes.base() + offset as u64,
                None,
                "fixed column",
                format!(
                    "inside the fixed area 4..{}",
                    self.ib_end_fixed - bitmap_len
                ),
                format!("fid {fid} at {offset}..{end}"),
            ));
        }
        Ok(Some(offset..end))
    }

    pub fn fixed(
        &self,
        fid: u16,
        offset: usize,
        size: usize,
    ) -> Result<Option<Bytes<'a>>, EseError> {
        match self.fixed_range(fid, offset, size)? {
            Some(r) => Ok(Some(self.bytes.sub("fixed column", r.start, r.len())?)),
            None => Ok(None),
        }
    }

    /// The byte range of variable column `fid`, if present and not NULL.
    pub fn variable_range(&self, fid: u16) -> Result<Option<Range<usize>>, EseError> {
        if !(FID_VAR_FIRST..=FID_VAR_LAST).contains(&fid) || fid > u16::from(self.fid_var_last) {
            return Ok(None);
        }
        let i = usize::from(fid - FID_VAR_FIRST);
        let entry = self
            .bytes
            .u16("REC variable offset", self.ib_end_fixed + 2 * i)?;
        if entry & VAR_NULL != 0 {
            return Ok(None);
        }
        let start = if i == 0 {
            0
        } else {
            usize::from(
                self.bytes
                    .u16("REC variable offset", self.ib_end_fixed + 2 * (i - 1))?
                    & VAR_OFFSET_MASK,
            )
        };
        let end = usize::from(entry & VAR_OFFSET_MASK);
        if end < start || self.var_data_start + end > self.tagged_start {
            return Err(EseError::corrupt(
                self.bytes.base() + (self.ib_end_fixed + 2 * i) as u64,
                None,
                "variable column offset",
                crate::text::range(
                    start as u64,
                    (self.tagged_start - self.var_data_start) as u64,
                ),
                end.to_string(),
            ));
        }
        Ok(Some(self.var_data_start + start..self.var_data_start + end))
    }

    pub fn variable(&self, fid: u16) -> Result<Option<Bytes<'a>>, EseError> {
        match self.variable_range(fid)? {
            Some(r) => Ok(Some(self.bytes.sub("variable column", r.start, r.len())?)),
            None => Ok(None),
        }
    }

    /// Every tagged column of the record, in stored (fid) order.
    pub fn tagged(&self) -> Result<Vec<TaggedColumn<'a>>, EseError> {
        let mut out = Vec::new();
        self.tagged_into(&mut out)?;
        Ok(out)
    }

    /// [`Record::tagged`] into `out` (cleared first), whose allocation a caller reading many
    /// records uses again.
    pub fn tagged_into(&self, out: &mut Vec<TaggedColumn<'a>>) -> Result<(), EseError> {
        out.clear();
        match self.form {
            RecordForm::Ese97 => self.tagged_ese97(out),
            RecordForm::Ese98 { large_page } => self.tagged_ese98(large_page, out),
        }
    }

    /// One tagged column by fid.
    pub fn tagged_column(&self, fid: u16) -> Result<Option<TaggedColumn<'a>>, EseError> {
        Ok(self.tagged()?.into_iter().find(|c| c.fid == fid))
    }

    fn tagged_ese97(&self, out: &mut Vec<TaggedColumn<'a>>) -> Result<(), EseError> {
        let mut at = self.tagged_start;
        while at < self.bytes.len() {
            let fid = self.bytes.u16("TAGFLD_OLD.fid", at)?;
            let bits = self.bytes.u16("TAGFLD_OLD.bits", at + 2)?;
            let cb = usize::from(bits & OLD_CB_MASK);
            let data = self.bytes.sub("TAGFLD_OLD data", at + 4, cb)?;
            let null = bits & OLD_NULL != 0;
            let instance = if bits & OLD_LONG_VALUE != 0 && cb > 0 {
                let lv = data.u8("TAGFLD_OLD long-value header", 0)?;
                Some(Instance {
                    data: data.tail("long value", 1)?,
                    separated: lv & OLD_LV_SEPARATED != 0,
                    compressed: false,
                })
            } else if null {
                None
            } else {
                Some(Instance {
                    data,
                    separated: false,
                    compressed: false,
                })
            };
            let end = at + 4 + cb;
            match out.last_mut() {
                // A multi-valued column is a run of entries with the same fid.
                Some(prev) if prev.fid == fid => {
                    prev.instances.extend(instance);
                    prev.range.end = end;
                }
                Some(prev) if prev.fid > fid && bits & OLD_DERIVED == 0 => {
                    return Err(EseError::corrupt(
                        self.bytes.base() + at as u64,
                        None,
                        "ESE97 tagged column order",
                        format!("a fid above {}", prev.fid),
                        fid.to_string(),
                    ));
                }
                _ => out.push(TaggedColumn {
                    fid,
                    derived: bits & OLD_DERIVED != 0,
                    null,
                    instances: instance.into_iter().collect(),
                    range: at..end,
                }),
            }
            at = end;
        }
        Ok(())
    }

    fn tagged_ese98(
        &self,
        large_page: bool,
        out: &mut Vec<TaggedColumn<'a>>,
    ) -> Result<(), EseError> {
        let area = self.bytes.tail("tagged area", self.tagged_start)?;
        if area.is_empty() {
            return Ok(());
        }
        let ib_mask = if large_page {
            TAGFLD_IB_MASK_LARGE
        } else {
            TAGFLD_IB_MASK_SMALL
        };
        let first_ib = usize::from(area.u16("TAGFLD.ib", 2)? & ib_mask);
        if first_ib == 0 || first_ib % 4 != 0 || first_ib > area.len() {
            return Err(EseError::corrupt(
                area.base() + 2,
                None,
                "TAGFLD array size",
                format!("a multiple of 4 up to {}", area.len()),
                first_ib.to_string(),
            ));
        }
        // The TAGFLD array lies inside the area (`first_ib` was checked against its length).
        let count = first_ib / 4;
        let entry = |i: usize| -> Result<(u16, u16), EseError> {
            Ok((
                area.u16("TAGFLD.fid", 4 * i)?,
                area.u16("TAGFLD.ib", 4 * i + 2)?,
            ))
        };
        for i in 0..count {
            let (fid, ib) = entry(i)?;
            let start = usize::from(ib & ib_mask);
            let end = if i + 1 < count {
                usize::from(entry(i + 1)?.1 & ib_mask)
            } else {
                area.len()
            };
            if start < first_ib || end < start || end > area.len() {
                return Err(EseError::corrupt(
                    area.base() + (4 * i + 2) as u64,
                    None,
                    "TAGFLD offset",
                    crate::text::range(first_ib as u64, end as u64),
                    start.to_string(),
                ));
            }
            let data = area.sub("tagged column", start, end - start)?;
            let extended = large_page || ib & TAGFLD_EXTENDED_INFO != 0;
            let mut null = !large_page && ib & TAGFLD_NULL_SMALL != 0;
            let mut instances = Instances::new();
            if extended && !data.is_empty() {
                let header = data.u8("TAGFLD_HEADER", 0)?;
                let body = data.tail("tagged column", 1)?;
                null |= header & tagfld_header::NULL != 0;
                if !null {
                    instances = decode_instances(header, body)?;
                }
            } else if !null {
                instances.push(Instance {
                    data,
                    separated: false,
                    compressed: false,
                });
            }
            out.push(TaggedColumn {
                fid,
                derived: ib & TAGFLD_DERIVED != 0,
                null,
                instances,
                range: self.tagged_start + start..self.tagged_start + end,
            });
        }
        Ok(())
    }
}

/// Splits an ESE98 tagged column body into its instances per its `TAGFLD_HEADER` byte.
fn decode_instances(header: u8, body: Bytes<'_>) -> Result<Instances<'_>, EseError> {
    use tagfld_header::*;
    let separated = header & SEPARATED != 0;
    let compressed = header & COMPRESSED != 0;
    if header & TWO_VALUES != 0 {
        let first_len = usize::from(body.u8("two-values length", 0)?);
        let first = body.sub("first of two values", 1, first_len)?;
        let second = body.tail("second of two values", 1 + first_len)?;
        return Ok(smallvec![
            Instance {
                data: first,
                separated: false,
                compressed: false,
            },
            Instance {
                data: second,
                separated: false,
                compressed: false,
            },
        ]);
    }
    if header & MULTI_VALUES != 0 {
        let first = usize::from(body.u16("multi-value offset", 0)? & MULTI_OFFSET_MASK);
        if first == 0 || first % 2 != 0 || first > body.len() {
            return Err(EseError::corrupt(
                body.base(),
                None,
                "multi-value offset array size",
                format!("an even number up to {}", body.len()),
                first.to_string(),
            ));
        }
        let n = first / 2;
        let mut offs = Vec::with_capacity(n);
        for i in 0..n {
            offs.push(body.u16("multi-value offset", 2 * i)?);
        }
        let mut out = Instances::with_capacity(n);
        for i in 0..n {
            let start = usize::from(offs[i] & MULTI_OFFSET_MASK);
            let end = offs
                .get(i + 1)
                .map_or(body.len(), |&o| usize::from(o & MULTI_OFFSET_MASK));
            if end < start {
                return Err(EseError::corrupt(
                    body.base() + (2 * i) as u64,
                    None,
                    "multi-value offset",
                    format!("at most {end}"),
                    start.to_string(),
                ));
            }
            out.push(Instance {
                data: body.sub("multi-value instance", start, end - start)?,
                separated: offs[i] & MULTI_SEPARATED != 0,
                compressed: false,
            });
        }
        return Ok(out);
    }
    Ok(smallvec![Instance {
        data: body,
        separated,
        compressed,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Record: fixed fid 1 (Long), no variable columns, then ESE97 tagged entries.
    fn ese97_record(tagged: &[u8]) -> Vec<u8> {
        // fidFixedLast=1, fidVarLast=127, ibEndOfFixedData = 4 + 4 + 1 (bitmap).
        let mut r = vec![1u8, 127, 9, 0];
        r.extend_from_slice(&0x1234_5678u32.to_le_bytes());
        r.push(0xFE); // fid 1 not NULL; unused bits set
        r.extend_from_slice(tagged);
        r
    }

    fn entry(fid: u16, bits: u16, data: &[u8]) -> Vec<u8> {
        let mut e = fid.to_le_bytes().to_vec();
        e.extend_from_slice(&(bits | data.len() as u16).to_le_bytes());
        e.extend_from_slice(data);
        e
    }

    #[test]
    fn ese97_tagged_columns_decode_from_hand_made_bytes() {
        let mut t = entry(256, 0, b"plain");
        t.extend(entry(257, 0, b"mv-one"));
        t.extend(entry(257, 0, b"mv-two"));
        t.extend(entry(258, OLD_NULL, b""));
        // Long value, intrinsic: LV header byte 0 then the bytes.
        t.extend(entry(259, OLD_LONG_VALUE, b"\x00intrinsic"));
        // Long value, separated: LV header byte 1 then a 4-byte LID.
        t.extend(entry(260, OLD_LONG_VALUE, &[1, 0x2A, 0, 0, 0]));
        let rec = ese97_record(&t);
        let r = Record::parse(Bytes::new(&rec, 0x1000), RecordForm::Ese97).unwrap();
        assert_eq!(r.tagged_start, 9);
        assert_eq!(
            r.fixed(1, 4, 4).unwrap().unwrap().u32("x", 0).unwrap(),
            0x1234_5678
        );
        let cols = r.tagged().unwrap();
        let fids: Vec<u16> = cols.iter().map(|c| c.fid).collect();
        assert_eq!(fids, [256, 257, 258, 259, 260]);
        assert_eq!(cols[0].instances[0].data.as_slice(), b"plain");
        assert_eq!(cols[1].instances.len(), 2);
        assert_eq!(cols[1].instances[1].data.as_slice(), b"mv-two");
        assert_eq!(cols[1].range, 9 + 9..9 + 9 + 2 * 10);
        assert!(cols[2].null && cols[2].instances.is_empty());
        assert_eq!(cols[3].instances[0].data.as_slice(), b"intrinsic");
        assert!(!cols[3].instances[0].separated);
        assert!(cols[4].instances[0].separated);
        assert_eq!(cols[4].instances[0].data.u32("lid", 0).unwrap(), 42);
        // Absolute offsets survive: the separated LID sits at base + its record offset.
        assert_eq!(
            cols[4].instances[0].data.base(),
            0x1000 + rec.len() as u64 - 4
        );
    }

    #[test]
    fn ese97_truncated_or_misordered_entries_are_errors() {
        let mut t = entry(256, 0, b"abc");
        t.truncate(t.len() - 1);
        let rec = ese97_record(&t);
        let r = Record::parse(Bytes::new(&rec, 0), RecordForm::Ese97).unwrap();
        assert!(r.tagged().is_err());

        let mut t = entry(300, 0, b"a");
        t.extend(entry(299, 0, b"b"));
        let rec = ese97_record(&t);
        let r = Record::parse(Bytes::new(&rec, 0), RecordForm::Ese97).unwrap();
        assert!(r.tagged().is_err());
    }

    #[test]
    fn fixed_null_bit_and_short_records() {
        let mut rec = ese97_record(&[]);
        rec[8] = 0xFF; // fid 1 NULL
        let r = Record::parse(Bytes::new(&rec, 0), RecordForm::Ese97).unwrap();
        assert!(r.fixed(1, 4, 4).unwrap().is_none());
        assert!(r.fixed(2, 8, 4).unwrap().is_none()); // beyond fidFixedLastInRec
        assert!(Record::parse(Bytes::new(&rec[..3], 0), RecordForm::Ese97).is_err());
        let mut bad = rec.clone();
        bad[2] = 200;
        assert!(Record::parse(Bytes::new(&bad, 0), RecordForm::Ese97).is_err());
    }

    /// ESE98 record: no fixed or variable columns, then a TAGFLD array and data.
    fn ese98_record(entries: &[(u16, &[u8])]) -> Vec<u8> {
        let mut r = vec![0u8, 127, 4, 0];
        let array = 4 * entries.len();
        let mut data = Vec::new();
        for (fid, bytes) in entries {
            let ib = (array + data.len()) as u16 | TAGFLD_EXTENDED_INFO;
            r.extend_from_slice(&fid.to_le_bytes());
            r.extend_from_slice(&ib.to_le_bytes());
            data.extend_from_slice(bytes);
        }
        r.extend_from_slice(&data);
        r
    }

    #[test]
    fn ese98_two_values_multi_values_and_separated_instances() {
        use tagfld_header::*;
        // Two values: one length byte, then both values.
        let two = [&[TWO_VALUES, 2][..], b"ab", b"cde"].concat();
        // Multi values: u16 offsets (0x8000 = separated), then the instances.
        let multi = [
            &[MULTI_VALUES][..],
            &6u16.to_le_bytes(),
            &(8u16 | MULTI_SEPARATED).to_le_bytes(),
            &12u16.to_le_bytes(),
            b"xy",
            &7u32.to_le_bytes(),
            b"z",
        ]
        .concat();
        let sep = [&[LONG_VALUE | SEPARATED][..], &9u32.to_le_bytes()].concat();
        let null = [NULL];
        let rec = ese98_record(&[(256, &two), (257, &multi), (258, &sep), (259, &null)]);
        let r =
            Record::parse(Bytes::new(&rec, 0), RecordForm::Ese98 { large_page: false }).unwrap();
        let cols = r.tagged().unwrap();
        assert_eq!(cols.len(), 4);
        fn data(c: &TaggedColumn, i: usize) -> Vec<u8> {
            c.instances[i].data.as_slice().to_vec()
        }
        assert_eq!(data(&cols[0], 0), b"ab");
        assert_eq!(data(&cols[0], 1), b"cde");
        assert_eq!(cols[1].instances.len(), 3);
        assert_eq!(data(&cols[1], 0), b"xy");
        assert!(cols[1].instances[1].separated);
        assert_eq!(data(&cols[1], 1), 7u32.to_le_bytes());
        assert_eq!(data(&cols[1], 2), b"z");
        assert!(cols[2].instances[0].separated);
        assert_eq!(data(&cols[2], 0), 9u32.to_le_bytes());
        assert!(cols[3].null && cols[3].instances.is_empty());

        // An offset past the record is an error, not a panic.
        let mut bad = rec.clone();
        bad[4 + 4 + 2] = 0xF0;
        let r =
            Record::parse(Bytes::new(&bad, 0), RecordForm::Ese98 { large_page: false }).unwrap();
        assert!(r.tagged().is_err());
    }
}
