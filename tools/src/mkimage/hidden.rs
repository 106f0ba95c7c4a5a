//! `hidden-guid`: `PRIV.EDB` also holds the store's base GUID where the store model does not
//! look — a table it does not know (`Attach`), in a fixed column, a tagged column, a text
//! column (the GUID's text form in code page 1252) and a separated long value (the text form in
//! UTF-16, in the second chunk of a long text kept in the table's long-value tree) — so that a
//! patch would leave the old GUID behind. Which rows hold it is fixed by the row number, so the
//! counts follow in closed form ([`places`]).

use coldpatch::ese::write::{ColumnDef, ColumnType, IndexDef, Storage, TableDef, Value};
use coldpatch::exchange::Guid;
use serde::Serialize;

/// The table the store model does not know.
pub const ATTACH: &str = "Attach";

/// Every how-many rows each column holds the GUID (row `i` does when `i % k == 0`).
const EVERY_FIXED: u64 = 3;
const EVERY_TAGGED: u64 = 5;
const EVERY_TEXT: u64 = 7;
const EVERY_LONG_TEXT: u64 = 11;

/// One place of the GUID, as `image.json` records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HiddenPlace {
    pub table: String,
    pub column: String,
    /// `binary` (the 16 bytes), `text` (code page 1252), `text_utf16`.
    pub form: String,
    /// Where the value is kept: `fixed`, `variable`, `tagged`, `separated long value`.
    pub storage: String,
    pub records: u64,
}

fn col(name: &str, coltyp: ColumnType, storage: Storage, max_len: u32, cp: u16) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        coltyp,
        storage,
        max_len,
        code_page: cp,
    }
}

/// The `Attach` table.
pub fn attach_def() -> TableDef {
    use ColumnType::*;
    use Storage::*;
    TableDef {
        // Long values in a long-value tree: `Note` is a separated long value.
        long_values: true,
        name: ATTACH.into(),
        columns: vec![
            col("AttachId", Currency, Fixed, 8, 0),
            col("MsgId", Currency, Fixed, 8, 0),
            col("SourceGuid", Binary, Fixed, 16, 0),
            col("OriginText", Text, Variable, 120, 1252),
            col("Props", Binary, Tagged, 64, 0),
            col("Note", LongText, Tagged, 0, 1200),
        ],
        indexes: vec![IndexDef {
            name: "AttachIdIndex".into(),
            columns: vec![("AttachId".into(), true)],
            primary: true,
            unique: true,
        }],
    }
}

/// Rows of `Attach` in a store of `messages` messages.
pub fn attach_rows_count(messages: u64) -> u64 {
    (messages / 4).max(8)
}

/// The `n` rows of `Attach`: attachment `i` of message id `first_msg + i`; `own` is the
/// store's base GUID, `other` a GUID that is not.
pub fn attach_rows(
    n: u64,
    first_msg: i64,
    own: Guid,
    other: Guid,
) -> impl Iterator<Item = Vec<Value>> {
    let own_bytes = own.to_windows_bytes();
    let own_text = own.to_string();
    (0..n).map(move |i| {
        let source = if i % EVERY_FIXED == 0 { own } else { other };
        let origin = if i % EVERY_TEXT == 0 {
            format!("copied from {own_text}")
        } else {
            format!("attachment {i}")
        };
        let props = if i % EVERY_TAGGED == 0 {
            let mut p = vec![0x01, 0x02];
            p.extend_from_slice(&own_bytes);
            p.push(0x03);
            Value::Binary(p)
        } else {
            Value::Null
        };
        let note = if i % EVERY_LONG_TEXT == 0 {
            // The text form without braces, lower case: found whatever the case and braces.
            let bare = own_text
                .trim_matches(|c| c == '{' || c == '}')
                .to_ascii_lowercase();
            // Past the first chunk of the long value, whole inside the second.
            format!(
                "{}replica origin {bare}; kept for the audit",
                "audit trail ".repeat(200)
            )
        } else {
            format!("note {i}")
        };
        vec![
            Value::Currency(i as i64 + 1),
            Value::Currency(first_msg + i as i64),
            Value::Binary(source.to_windows_bytes().to_vec()),
            Value::Text(origin),
            props,
            Value::LongText(note),
        ]
    })
}

/// Rows `0..n` with `i % k == 0`.
fn every(n: u64, k: u64) -> u64 {
    n.div_ceil(k)
}

/// Where `attach_rows(n, …)` puts the GUID, and in how many records.
pub fn places(n: u64) -> Vec<HiddenPlace> {
    let place = |column: &str, form: &str, storage: &str, k: u64| HiddenPlace {
        table: ATTACH.into(),
        column: column.into(),
        form: form.into(),
        storage: storage.into(),
        records: every(n, k),
    };
    vec![
        place("SourceGuid", "binary", "fixed", EVERY_FIXED),
        place("OriginText", "text", "variable", EVERY_TEXT),
        place("Props", "binary", "tagged", EVERY_TAGGED),
        place(
            "Note",
            "text_utf16",
            "separated long value",
            EVERY_LONG_TEXT,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_the_rows() {
        let own = Guid::derive("t", "s", "own");
        let other = Guid::derive("t", "s", "other");
        for n in [8u64, 10, 33, 100] {
            let rows: Vec<Vec<Value>> = attach_rows(n, 100, own, other).collect();
            let own_fixed = rows
                .iter()
                .filter(|r| r[2] == Value::Binary(own.to_windows_bytes().to_vec()))
                .count() as u64;
            let tagged = rows.iter().filter(|r| r[4] != Value::Null).count() as u64;
            let p = places(n);
            assert_eq!(p[0].records, own_fixed, "n={n}");
            assert_eq!(p[2].records, tagged, "n={n}");
        }
    }
}
