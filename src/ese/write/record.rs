//! Records: a row's values laid out as ESE stores them in a table leaf node.
//!
//! Source: reference/ese.md §5 (\[MS\] `rec.hxx`, `tagfld.hxx`): a 4-byte header
//! (`fidFixedLastInRec`, `fidVarLastInRec`, `ibEndOfFixedData`), fixed columns at their record
//! offsets followed by the fixed-column NULL bitmap, the variable-column end-offset array and
//! data, then the tagged area — ESE98 `TAGFLD` array + data, or ESE97 `TAGFLD_OLD` entries.
//! The fixed and variable parts are identical in both forms.

use super::{ColumnDef, ColumnType, Format, Storage, TableDef, Value};
use crate::ese::catalog::{coltyp, coltyp_fixed_size};
use crate::ese::record::{
    tagfld_header, FID_FIXED_FIRST, FID_FIXED_LAST, FID_TAGGED_FIRST, FID_VAR_FIRST, FID_VAR_LAST,
    FIXED_DATA_START, NO_VAR_COLUMNS, OLD_CB_MASK, OLD_LONG_VALUE, OLD_LV_INTRINSIC,
    OLD_LV_SEPARATED, TAGFLD_EXTENDED_INFO, VAR_NULL,
};

/// Largest Binary/Text length in a fixed or variable column (`JET_cbColumnMost`).
pub const COLUMN_MOST: u32 = 255;
/// Code pages the builder encodes text in (reference §6 column `PagesOrLocale`).
pub const CODE_PAGE_WESTERN: u16 = 1252;
pub const CODE_PAGE_UNICODE: u16 = 1200;

/// Where one column of a table lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnPlace {
    pub fid: u16,
    /// Record offset of a fixed column (0 for others).
    pub offset: u16,
    /// Bytes of a fixed column (0 for others).
    pub size: u16,
}

/// The natural size of a fixed-size type.
pub fn fixed_size(t: ColumnType) -> Option<u16> {
    coltyp_fixed_size(coltyp_code(t)).map(|n| n as u16)
}

/// `JET_coltyp` numbers (reference §6).
pub fn coltyp_code(t: ColumnType) -> u32 {
    match t {
        ColumnType::Bit => coltyp::BIT,
        ColumnType::UnsignedByte => coltyp::UNSIGNED_BYTE,
        ColumnType::Short => coltyp::SHORT,
        ColumnType::Long => coltyp::LONG,
        ColumnType::Currency => coltyp::CURRENCY,
        ColumnType::IeeeSingle => coltyp::IEEE_SINGLE,
        ColumnType::IeeeDouble => coltyp::IEEE_DOUBLE,
        ColumnType::DateTime => coltyp::DATE_TIME,
        ColumnType::Binary => coltyp::BINARY,
        ColumnType::Text => coltyp::TEXT,
        ColumnType::LongBinary => coltyp::LONG_BINARY,
        ColumnType::LongText => coltyp::LONG_TEXT,
    }
}

fn is_long(coltyp: ColumnType) -> bool {
    matches!(coltyp, ColumnType::LongBinary | ColumnType::LongText)
}

/// The record layout of one table: column ids, fixed offsets, and the order of each area.
#[derive(Clone, Debug)]
pub struct RecordLayout {
    pub columns: Vec<ColumnDef>,
    pub places: Vec<ColumnPlace>,
    /// Column indexes (in `columns`) of each area, in column-id order.
    fixed: Vec<usize>,
    var: Vec<usize>,
    tagged: Vec<usize>,
    /// Record offset just past the last fixed column.
    fixed_end: usize,
}

impl RecordLayout {
    /// Assigns column ids in definition order per area and checks every column definition.
    pub fn new(table: &TableDef) -> Result<RecordLayout, String> {
        let mut places = Vec::with_capacity(table.columns.len());
        let (mut fixed, mut var, mut tagged) = (Vec::new(), Vec::new(), Vec::new());
        let mut offset = FIXED_DATA_START;
        for (i, c) in table.columns.iter().enumerate() {
            let bad = |why: &str| {
                format!(
                    "table {}: column {} ({:?}, {:?}): {why}",
                    table.name, c.name, c.coltyp, c.storage
                )
            };
            if table.columns[..i].iter().any(|o| o.name == c.name) {
                return Err(bad("duplicate column name"));
            }
            if matches!(c.coltyp, ColumnType::Text | ColumnType::LongText)
                && c.code_page != CODE_PAGE_WESTERN
                && c.code_page != CODE_PAGE_UNICODE
            {
                return Err(bad("text code page must be 1252 or 1200"));
            }
            let place = match c.storage {
                Storage::Fixed => {
                    let size = match (fixed_size(c.coltyp), c.coltyp) {
                        (Some(s), _) => s,
                        (None, ColumnType::Binary) if (1..=COLUMN_MOST).contains(&c.max_len) => {
                            c.max_len as u16
                        }
                        _ => {
                            return Err(bad(
                                "fixed storage needs a fixed-size type or Binary of 1..=255 bytes",
                            ))
                        }
                    };
                    let fid = FID_FIXED_FIRST + fixed.len() as u16;
                    if fid > FID_FIXED_LAST {
                        return Err(bad("more than 127 fixed columns"));
                    }
                    let p = ColumnPlace {
                        fid,
                        offset: offset as u16,
                        size,
                    };
                    offset += size as usize;
                    fixed.push(i);
                    p
                }
                Storage::Variable => {
                    if !matches!(c.coltyp, ColumnType::Binary | ColumnType::Text)
                        || c.max_len > COLUMN_MOST
                    {
                        return Err(bad("variable storage needs Binary or Text of ≤ 255 bytes"));
                    }
                    let fid = FID_VAR_FIRST + var.len() as u16;
                    if fid > FID_VAR_LAST {
                        return Err(bad("more than 128 variable columns"));
                    }
                    var.push(i);
                    ColumnPlace {
                        fid,
                        offset: 0,
                        size: 0,
                    }
                }
                Storage::Tagged => {
                    let fid = FID_TAGGED_FIRST
                        .checked_add(tagged.len() as u16)
                        .ok_or_else(|| bad("too many tagged columns"))?;
                    tagged.push(i);
                    ColumnPlace {
                        fid,
                        offset: 0,
                        size: 0,
                    }
                }
            };
            places.push(place);
        }
        if offset > super::page::PAGE_BODY / 2 {
            return Err(format!(
                "table {}: fixed columns take {offset} bytes, more than a record can hold",
                table.name
            ));
        }
        Ok(RecordLayout {
            columns: table.columns.clone(),
            places,
            fixed,
            var,
            tagged,
            fixed_end: offset,
        })
    }

    /// Checks that `value` fits column `i`; on failure gives (expected, found).
    pub fn check(&self, i: usize, value: &Value) -> Result<(), (String, String)> {
        let c = &self.columns[i];
        let ok_type = matches!(
            (c.coltyp, value),
            (_, Value::Null)
                | (ColumnType::Bit, Value::Bit(_))
                | (ColumnType::UnsignedByte, Value::UnsignedByte(_))
                | (ColumnType::Short, Value::Short(_))
                | (ColumnType::Long, Value::Long(_))
                | (ColumnType::Currency, Value::Currency(_))
                | (ColumnType::IeeeSingle, Value::IeeeSingle(_))
                | (ColumnType::IeeeDouble, Value::IeeeDouble(_))
                | (ColumnType::DateTime, Value::DateTime(_))
                | (ColumnType::Binary, Value::Binary(_))
                | (ColumnType::Text, Value::Text(_))
                | (ColumnType::LongBinary, Value::LongBinary(_))
                | (ColumnType::LongText, Value::LongText(_))
        );
        if !ok_type {
            return Err((format!("a {:?} value", c.coltyp), describe(value)));
        }
        let len = match value {
            Value::Binary(b) | Value::LongBinary(b) => b.len(),
            Value::Text(s) | Value::LongText(s) => {
                encoded_text_len(s, c.code_page).ok_or_else(|| {
                    (
                        format!("text encodable in code page {}", c.code_page),
                        describe(value),
                    )
                })?
            }
            _ => return Ok(()),
        };
        match (c.storage, c.coltyp) {
            (Storage::Fixed, _) if len != c.max_len as usize => Err((
                format!("exactly {} bytes", c.max_len),
                format!("{len} bytes"),
            )),
            (_, ColumnType::Binary | ColumnType::Text) if len > c.max_len as usize => Err((
                format!("at most {} bytes", c.max_len),
                format!("{len} bytes"),
            )),
            _ => Ok(()),
        }
    }

    /// Encodes a checked row (one value per column) into `out` (cleared first).
    pub fn encode(&self, format: Format, row: &[Value], out: &mut Vec<u8>) {
        self.encode_with_lids(format, row, &[], out);
    }

    /// [`RecordLayout::encode`], with the long values of the row kept in the long-value tree:
    /// `lids` holds the LID of each present long tagged value, in column order (empty: every
    /// long value in the record).
    pub fn encode_with_lids(&self, format: Format, row: &[Value], lids: &[u32], out: &mut Vec<u8>) {
        out.clear();
        let nfixed = self.fixed.len();
        let bitmap_len = nfixed.div_ceil(8);
        let ib_end_fixed = self.fixed_end + bitmap_len;
        let var_in_rec = self
            .var
            .iter()
            .rposition(|&i| !matches!(row[i], Value::Null))
            .map_or(0, |p| p + 1);
        out.push(nfixed as u8);
        out.push(if var_in_rec == 0 {
            NO_VAR_COLUMNS
        } else {
            (FID_VAR_FIRST as usize + var_in_rec - 1) as u8
        });
        out.extend_from_slice(&(ib_end_fixed as u16).to_le_bytes());
        out.resize(ib_end_fixed, 0);
        // Unused high bits of the bitmap are 1 (reference §5).
        for b in &mut out[self.fixed_end..ib_end_fixed] {
            *b = 0xFF;
        }
        for (ifid, &i) in self.fixed.iter().enumerate() {
            let p = self.places[i];
            let at = p.offset as usize;
            let dst = &mut out[at..at + p.size as usize];
            let null = write_fixed(dst, &row[i]);
            let bit = &mut out[self.fixed_end + ifid / 8];
            if null {
                *bit |= 1 << (ifid % 8);
            } else {
                *bit &= !(1 << (ifid % 8));
            }
        }
        // Variable columns: end offsets, then data.
        let offsets_at = out.len();
        out.resize(offsets_at + 2 * var_in_rec, 0);
        let data_start = out.len();
        for (k, &i) in self.var.iter().take(var_in_rec).enumerate() {
            let null = matches!(row[i], Value::Null);
            push_bytes(out, &row[i], self.columns[i].code_page);
            let end = (out.len() - data_start) as u16;
            let entry = if null { end | VAR_NULL } else { end };
            out[offsets_at + 2 * k..offsets_at + 2 * k + 2].copy_from_slice(&entry.to_le_bytes());
        }
        match format {
            Format::Ese98 => self.encode_tagged_98(row, lids, out),
            Format::Ese97 => self.encode_tagged_97(row, lids, out),
        }
    }

    /// ESE98: `TAGFLD {u16 fid, u16 ib}` sorted by fid, then the data; long values start
    /// with a `TAGFLD_HEADER` byte (flag `fExtendedInfo` in `ib`).
    fn encode_tagged_98(&self, row: &[Value], lids: &[u32], out: &mut Vec<u8>) {
        let mut lids = lids.iter();
        let present = self
            .tagged
            .iter()
            .filter(|&&i| !matches!(row[i], Value::Null))
            .count();
        if present == 0 {
            return;
        }
        let area = out.len();
        out.resize(area + 4 * present, 0);
        let mut k = 0;
        for &i in &self.tagged {
            if matches!(row[i], Value::Null) {
                continue;
            }
            let c = &self.columns[i];
            let mut ib = (out.len() - area) as u16;
            let lid = if is_long(c.coltyp) { lids.next() } else { None };
            if is_long(c.coltyp) {
                ib |= TAGFLD_EXTENDED_INFO;
            }
            match lid {
                Some(lid) => {
                    out.push(tagfld_header::LONG_VALUE | tagfld_header::SEPARATED);
                    out.extend_from_slice(&lid.to_le_bytes());
                }
                None => {
                    if is_long(c.coltyp) {
                        out.push(tagfld_header::LONG_VALUE);
                    }
                    push_bytes(out, &row[i], c.code_page);
                }
            }
            let fid = self.places[i].fid;
            out[area + 4 * k..area + 4 * k + 2].copy_from_slice(&fid.to_le_bytes());
            out[area + 4 * k + 2..area + 4 * k + 4].copy_from_slice(&ib.to_le_bytes());
            k += 1;
        }
    }

    /// ESE97: `{u16 fid, u16 bits, data[cbData]}` per column, sorted by fid; a long value's
    /// data starts with the `LV.bFlags` byte (reference §5 `TAGFLD_OLD`).
    fn encode_tagged_97(&self, row: &[Value], lids: &[u32], out: &mut Vec<u8>) {
        let mut lids = lids.iter();
        for &i in &self.tagged {
            if matches!(row[i], Value::Null) {
                continue;
            }
            let c = &self.columns[i];
            let head = out.len();
            out.extend_from_slice(&self.places[i].fid.to_le_bytes());
            out.extend_from_slice(&[0, 0]);
            let long = is_long(c.coltyp);
            match long.then(|| lids.next()).flatten() {
                Some(lid) => {
                    out.push(OLD_LV_SEPARATED);
                    out.extend_from_slice(&lid.to_le_bytes());
                }
                None => {
                    if long {
                        out.push(OLD_LV_INTRINSIC);
                    }
                    push_bytes(out, &row[i], c.code_page);
                }
            }
            let cb = (out.len() - head - 4) as u16;
            let bits = (cb & OLD_CB_MASK) | if long { OLD_LONG_VALUE } else { 0 };
            out[head + 2..head + 4].copy_from_slice(&bits.to_le_bytes());
        }
    }

    /// The longest a tagged value may be so that the ESE97 length field holds it.
    pub fn tagged_most() -> usize {
        OLD_CB_MASK as usize - 1
    }
}

/// Writes a fixed value; returns whether it is NULL.
fn write_fixed(dst: &mut [u8], v: &Value) -> bool {
    match v {
        Value::Null => return true,
        Value::Bit(b) => dst[0] = if *b { 0xFF } else { 0 },
        Value::UnsignedByte(b) => dst[0] = *b,
        Value::Short(x) => dst.copy_from_slice(&x.to_le_bytes()),
        Value::Long(x) => dst.copy_from_slice(&x.to_le_bytes()),
        Value::Currency(x) => dst.copy_from_slice(&x.to_le_bytes()),
        Value::IeeeSingle(x) => dst.copy_from_slice(&x.to_le_bytes()),
        Value::IeeeDouble(x) | Value::DateTime(x) => dst.copy_from_slice(&x.to_le_bytes()),
        Value::Binary(b) => dst.copy_from_slice(b),
        // Checked out by `RecordLayout::new` (no fixed text or long values).
        Value::Text(_) | Value::LongText(_) | Value::LongBinary(_) => return true,
    }
    false
}

/// Appends the stored bytes of a variable or tagged value.
pub(super) fn push_bytes(out: &mut Vec<u8>, v: &Value, code_page: u16) {
    match v {
        Value::Null => {}
        Value::Bit(b) => out.push(if *b { 0xFF } else { 0 }),
        Value::UnsignedByte(b) => out.push(*b),
        Value::Short(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Long(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Currency(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::IeeeSingle(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::IeeeDouble(x) | Value::DateTime(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Binary(b) | Value::LongBinary(b) => out.extend_from_slice(b),
        Value::Text(s) | Value::LongText(s) => encode_text(out, s, code_page),
    }
}

/// Whether a column holds long values (LongBinary, LongText).
pub fn is_long_column(c: &ColumnDef) -> bool {
    is_long(c.coltyp)
}

/// Code page 1252 bytes for characters that are the same in Latin-1 (ASCII and U+00A0..U+00FF),
/// UTF-16LE for code page 1200.
fn encode_text(out: &mut Vec<u8>, s: &str, code_page: u16) {
    if code_page == CODE_PAGE_UNICODE {
        for u in s.encode_utf16() {
            out.extend_from_slice(&u.to_le_bytes());
        }
    } else {
        out.extend(s.chars().map(|c| c as u32 as u8));
    }
}

/// Stored length of text, or `None` if a character has no code-page-1252 byte here.
pub fn encoded_text_len(s: &str, code_page: u16) -> Option<usize> {
    if code_page == CODE_PAGE_UNICODE {
        return Some(s.encode_utf16().count() * 2);
    }
    s.chars()
        .all(|c| (c as u32) < 0x80 || (0xA0..=0xFF).contains(&(c as u32)))
        .then(|| s.chars().count())
}

/// A short description of a value for error messages.
pub fn describe(v: &Value) -> String {
    match v {
        Value::Binary(b) => format!("Binary({} bytes)", b.len()),
        Value::LongBinary(b) => format!("LongBinary({} bytes)", b.len()),
        Value::Text(s) => format!("Text({} chars)", s.chars().count()),
        Value::LongText(s) => format!("LongText({} chars)", s.chars().count()),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> TableDef {
        let col = |name: &str, coltyp, storage, max_len| ColumnDef {
            name: name.into(),
            coltyp,
            storage,
            max_len,
            code_page: if matches!(coltyp, ColumnType::Text | ColumnType::LongText) {
                1252
            } else {
                0
            },
        };
        TableDef {
            long_values: false,
            name: "T".into(),
            columns: vec![
                col("Id", ColumnType::Long, Storage::Fixed, 4),
                col("Guid", ColumnType::Binary, Storage::Fixed, 16),
                col("Maybe", ColumnType::Short, Storage::Fixed, 2),
                col("Name", ColumnType::Text, Storage::Variable, 64),
                col("Blob", ColumnType::Binary, Storage::Variable, 64),
                col("Body", ColumnType::LongBinary, Storage::Tagged, 0),
            ],
            indexes: vec![],
        }
    }

    #[test]
    fn fixed_and_variable_parts_follow_the_record_layout() {
        let l = RecordLayout::new(&table()).unwrap();
        let row = vec![
            Value::Long(2),
            Value::Binary((0..16).collect()),
            Value::Null,
            Value::Text("ab".into()),
            Value::Null,
            Value::Null,
        ];
        let mut out = Vec::new();
        l.encode(Format::Ese98, &row, &mut out);
        assert_eq!(out[0], 3); // fidFixedLastInRec
        assert_eq!(out[1], 128); // only Name present: trailing NULL var trimmed
        let ib_end = u16::from_le_bytes([out[2], out[3]]) as usize;
        assert_eq!(ib_end, 4 + 4 + 16 + 2 + 1);
        assert_eq!(&out[4..8], &2i32.to_le_bytes());
        assert_eq!(out[26], 0b1111_1100); // Maybe is NULL (bit 2), unused bits 1
        assert_eq!(&out[ib_end..ib_end + 2], &2u16.to_le_bytes());
        assert_eq!(&out[ib_end + 2..], b"ab");
    }

    #[test]
    fn tagged_long_value_in_both_forms() {
        let l = RecordLayout::new(&table()).unwrap();
        let row = vec![
            Value::Long(1),
            Value::Binary(vec![0; 16]),
            Value::Short(5),
            Value::Null,
            Value::Binary(vec![9]),
            Value::LongBinary(b"hello".to_vec()),
        ];
        let (mut new, mut old) = (Vec::new(), Vec::new());
        l.encode(Format::Ese98, &row, &mut new);
        l.encode(Format::Ese97, &row, &mut old);
        assert_eq!(new.len(), old.len());
        let tag_at = new.len() - 10;
        assert_eq!(new[..tag_at], old[..tag_at]);
        // ESE98: TAGFLD{256, 4 | fExtendedInfo}, header 0x01, data
        assert_eq!(
            &new[tag_at..],
            &[0, 1, 4, 0x40, 1, b'h', b'e', b'l', b'l', b'o']
        );
        // ESE97: {256, 6 | fLongValue}, LV flags 0, data
        assert_eq!(
            &old[tag_at..],
            &[0, 1, 6, 0x80, 0, b'h', b'e', b'l', b'l', b'o']
        );
    }

    #[test]
    fn zero_length_tagged_values_are_present_but_empty() {
        let mut def = table();
        def.columns.push(ColumnDef {
            name: "Tag".into(),
            coltyp: ColumnType::Binary,
            storage: Storage::Tagged,
            max_len: 255,
            code_page: 0,
        });
        let l = RecordLayout::new(&def).unwrap();
        let row = vec![
            Value::Long(1),
            Value::Binary(vec![0; 16]),
            Value::Short(5),
            Value::Null,
            Value::Null,
            Value::LongBinary(vec![]),
            Value::Binary(vec![]),
        ];
        let (mut new, mut old) = (Vec::new(), Vec::new());
        l.encode(Format::Ese98, &row, &mut new);
        l.encode(Format::Ese97, &row, &mut old);
        let at = 4 + 4 + 16 + 2 + 1;
        // ESE98: two TAGFLDs; the long value's header byte at 8, the Binary's data empty at 9.
        assert_eq!(&new[at..], &[0, 1, 8, 0x40, 1, 1, 9, 0, 1]);
        // ESE97: {256, 1 | fLongValue} + LV flags, then {257, 0}.
        assert_eq!(&old[at..], &[0, 1, 1, 0x80, 0, 1, 1, 0, 0]);
    }

    #[test]
    fn wrong_values_are_refused() {
        let l = RecordLayout::new(&table()).unwrap();
        assert!(l.check(0, &Value::Short(1)).is_err());
        assert!(l.check(1, &Value::Binary(vec![0; 15])).is_err());
        assert!(l.check(3, &Value::Text("x".repeat(65))).is_err());
        assert!(l.check(3, &Value::Text("€".into())).is_err());
        assert!(l.check(3, &Value::Text("café".into())).is_ok());
        assert!(l.check(5, &Value::Null).is_ok());
    }
}
