//! The row streams of the two databases (store-model.md, "Tables"), generated one row at a
//! time: nothing is materialised, so memory stays flat however many rows an image has.
//!
//! Layout of the ids: folders are `1..=F`, messages `F+1..=F+M` (one id counter per store, as
//! Exchange hands ids out from one global counter); message `i` lives in folder `i mod F`.
//! Which rows carry a foreign GUID is fixed by an even spread (`row i` is foreign when
//! `round((i+1)·p/100) > round(i·p/100)`), so the foreign share is exact within rounding and the
//! counts per GUID follow in closed form ([`expected_counts`]); the k-th foreign row carries
//! foreign GUID `k mod K`.

use super::hidden;
use super::rng::SplitMix64;
use super::spec::{ImageSpec, StoreSpec, ORG_NAME, SITE_NAME};
use coldpatch::ese::write::{TableDef, TableInput, Value};
use coldpatch::exchange::profile::{column, table};
use coldpatch::exchange::{Guid, StoreKind};
use serde::Serialize;
use std::collections::BTreeMap;

/// Rows of one store's tables, and rows per GUID of the tables that carry one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StoreCounts {
    /// Table → rows.
    pub rows: BTreeMap<String, u64>,
    /// Table → GUID text → rows whose GUID column ([`guid_column`]) holds that GUID.
    pub by_guid: BTreeMap<String, BTreeMap<String, u64>>,
}

/// The column that names the creating store (or the replica) in a table, if any.
pub fn guid_column(table_name: &str) -> Option<&'static str> {
    match table_name {
        table::FOLDERS | table::MSG => Some(column::SOURCE_GUID),
        table::REPL_STATE => Some(column::SERVER_GUID),
        _ => None,
    }
}

/// `round(i · num / den)`, halves up, exact in 128 bits.
fn rounded(i: u64, num: u64, den: u64) -> u64 {
    if den == 0 {
        return 0;
    }
    let v = (2 * u128::from(i) * u128::from(num) + u128::from(den)) / (2 * u128::from(den));
    v as u64
}

/// Whether row `i` is one of the `round(n · num / den)` rows spread evenly over `0..n`.
fn spread_hit(i: u64, num: u64, den: u64) -> bool {
    rounded(i + 1, num, den) > rounded(i, num, den)
}

/// How many of the first `n` rows are hits.
fn spread_count(n: u64, num: u64, den: u64) -> u64 {
    rounded(n, num, den)
}

/// Rows of `n` hits per foreign GUID `k` of `kk`, round robin.
fn round_robin_share(n: u64, k: usize, kk: usize) -> u64 {
    let kk = kk as u64;
    let k = k as u64;
    n / kk + u64::from(k < n % kk)
}

/// Words for subjects, names and bodies.
const WORDS: &[&str] = &[
    "quarterly",
    "report",
    "meeting",
    "budget",
    "review",
    "project",
    "status",
    "update",
    "schedule",
    "minutes",
    "draft",
    "proposal",
    "contract",
    "invoice",
    "customer",
    "support",
    "release",
    "planning",
    "training",
    "travel",
    "expenses",
    "forecast",
    "design",
    "notes",
    "agenda",
    "summary",
    "request",
    "approval",
    "team",
    "lunch",
    "holiday",
    "security",
    "network",
    "server",
    "backup",
    "restore",
    "cluster",
    "migration",
    "inventory",
    "order",
    "shipping",
    "pricing",
    "market",
    "analysis",
    "roadmap",
    "feedback",
    "follow-up",
    "action",
];

const PRIV_FOLDERS: &[&str] = &[
    "Top of Information Store",
    "Inbox",
    "Outbox",
    "Sent Items",
    "Deleted Items",
    "Calendar",
    "Contacts",
    "Journal",
    "Notes",
    "Tasks",
];

const PUB_FOLDERS: &[&str] = &[
    "Public Folders",
    "Internet Newsgroups",
    "Schedule+ Free Busy Information",
    "Offline Address Book",
    "Events Root",
    "Marketing",
    "Engineering",
    "Sales",
    "Support",
    "Archive",
];

fn word(rng: &mut SplitMix64) -> &'static str {
    rng.pick(WORDS).unwrap_or("word")
}

fn capitalised(word: &str) -> String {
    let mut c = word.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn folder_name(kind: StoreKind, i: u64, rng: &mut SplitMix64) -> String {
    let fixed = match kind {
        StoreKind::Priv => PRIV_FOLDERS,
        StoreKind::Pub => PUB_FOLDERS,
    };
    match fixed.get(i as usize) {
        Some(name) => name.to_string(),
        None => format!("{} {} {i}", capitalised(word(rng)), capitalised(word(rng))),
    }
}

fn subject(rng: &mut SplitMix64, id: u64) -> String {
    let n = 2 + rng.below(4);
    let mut s = String::new();
    if rng.below(4) == 0 {
        s.push_str("RE: ");
    }
    for i in 0..n {
        let next = word(rng);
        if i == 0 {
            s.push_str(&capitalised(next));
        } else {
            s.push(' ');
            s.push_str(next);
        }
    }
    s.push_str(&format!(" #{id}"));
    s
}

/// Width of a word slot in [`WORD_SLOTS`]: more than the longest word, so every word is copied
/// as one fixed-size move (bodies are most of the bytes of a large image).
const WORD_SLOT: usize = 16;

/// [`WORDS`], each zero-padded to [`WORD_SLOT`] bytes, with its length.
struct WordSlots {
    bytes: [[u8; WORD_SLOT]; WORDS.len()],
    lens: [usize; WORDS.len()],
}

const fn word_slots() -> WordSlots {
    let mut slots = WordSlots {
        bytes: [[0; WORD_SLOT]; WORDS.len()],
        lens: [0; WORDS.len()],
    };
    let mut i = 0;
    while i < WORDS.len() {
        let w = WORDS[i].as_bytes();
        assert!(w.len() < WORD_SLOT, "a word is longer than its slot");
        let mut j = 0;
        while j < w.len() {
            slots.bytes[i][j] = w[j];
            j += 1;
        }
        slots.lens[i] = w.len();
        i += 1;
    }
    slots
}

static WORD_SLOTS: WordSlots = word_slots();

/// Words separated by a space, or one time in twelve a line break. One random draw per word
/// (the low half picks the separator, the high half the word): bodies are most of the bytes.
/// Each separator and word is written as one fixed-size copy into a buffer with a slot's room
/// to spare; the padding past the last word is cut off.
fn body(rng: &mut SplitMix64, len: usize) -> Vec<u8> {
    const LINE_BREAK_ONE_IN: u64 = 12;
    let mut b = vec![0u8; len + 1 + WORD_SLOT];
    let mut at = 0;
    while at < len {
        let x = rng.next_u64();
        if at > 0 {
            let sep = ((x & 0xFFFF_FFFF) * LINE_BREAK_ONE_IN) >> 32;
            b[at] = if sep == 0 { b'\n' } else { b' ' };
            at += 1;
        }
        // `(x >> 32) · n >> 32` is below n.
        let i = (((x >> 32) * WORDS.len() as u64) >> 32) as usize;
        b[at..at + WORD_SLOT].copy_from_slice(&WORD_SLOTS.bytes[i]);
        at += WORD_SLOTS.lens[i];
    }
    b.truncate(len);
    b
}

/// The numbers that shape one store's rows.
#[derive(Clone, Debug)]
struct Shape {
    folders: u64,
    messages: u64,
    /// Foreign share, percent.
    foreign: u64,
    own: Guid,
    foreign_guids: Vec<Guid>,
    body_bytes: usize,
}

impl Shape {
    fn of(spec: &ImageSpec, store: &StoreSpec) -> Shape {
        Shape {
            folders: spec.params.folders,
            messages: spec.params.messages_of(store.kind),
            foreign: u64::from(spec.params.foreign),
            own: store.base_guid,
            foreign_guids: store.foreign_guids.clone(),
            body_bytes: spec.params.body_bytes as usize,
        }
    }

    fn folder_id(&self, f: u64) -> i64 {
        (f + 1) as i64
    }

    fn msg_id(&self, m: u64) -> i64 {
        (self.folders + m + 1) as i64
    }

    fn next_glob_cnt(&self) -> i64 {
        (self.folders + self.messages + 1) as i64
    }

    /// Messages in folder `f` (message `i` is in folder `i mod F`).
    fn msg_count(&self, f: u64) -> u64 {
        self.messages / self.folders + u64::from(f < self.messages % self.folders)
    }

    /// Row `i` of a table with a source GUID: own or foreign (which one).
    fn source_guid(&self, i: u64) -> Guid {
        if spread_hit(i, self.foreign, 100) {
            let ordinal = spread_count(i, self.foreign, 100);
            self.foreign_guids[(ordinal % self.foreign_guids.len() as u64) as usize]
        } else {
            self.own
        }
    }

    fn source_guid_counts(&self, n: u64) -> BTreeMap<String, u64> {
        let foreign = spread_count(n, self.foreign, 100);
        let mut m = BTreeMap::new();
        m.insert(self.own.to_string(), n - foreign);
        let kk = self.foreign_guids.len();
        for (k, g) in self.foreign_guids.iter().enumerate() {
            *m.entry(g.to_string()).or_insert(0) += round_robin_share(foreign, k, kk);
        }
        m
    }

    /// `ReplState`: one row per (public folder, replica). Every folder has a row for the store
    /// itself (unless `--foreign 100`); `X` rows for foreign replicas, with `X / (F + X)` the
    /// foreign share as far as `K` foreign servers allow (up to `K / (K + 1)`, 80 % with four),
    /// are spread evenly over the folders: foreign row `j` belongs to folder `⌊j·F/X⌋` and names
    /// foreign server `j mod K` (distinct within a folder, since a folder gets at most
    /// `⌈X/F⌉ ≤ K` of them).
    fn repl_foreign_rows(&self) -> u64 {
        let max = self.folders * self.foreign_guids.len() as u64;
        if self.foreign >= 100 {
            max
        } else {
            rounded(self.folders, self.foreign, 100 - self.foreign).min(max)
        }
    }

    fn repl_has_own(&self) -> bool {
        self.foreign < 100
    }

    /// The foreign rows `j` of folder `f`: `⌈f·X/F⌉ .. ⌈(f+1)·X/F⌉`.
    fn repl_foreign_range(&self, f: u64) -> std::ops::Range<u64> {
        let x = u128::from(self.repl_foreign_rows());
        let ff = u128::from(self.folders);
        let first = |f: u64| ((u128::from(f) * x).div_ceil(ff)) as u64;
        first(f)..first(f + 1)
    }

    fn repl_counts(&self) -> (u64, BTreeMap<String, u64>) {
        let mut m = BTreeMap::new();
        let own = if self.repl_has_own() { self.folders } else { 0 };
        m.insert(self.own.to_string(), own);
        let x = self.repl_foreign_rows();
        let kk = self.foreign_guids.len();
        for (k, g) in self.foreign_guids.iter().enumerate() {
            *m.entry(g.to_string()).or_insert(0) += round_robin_share(x, k, kk);
        }
        (own + x, m)
    }
}

/// One store's table definitions, the scenario's extra indexes included.
pub fn table_defs(spec: &ImageSpec, kind: StoreKind) -> Vec<TableDef> {
    let store = spec.store(kind);
    spec.profile
        .tables_for(kind)
        .map(|t| {
            let mut def = t.clone();
            for (table_name, index) in &store.extra_indexes {
                if *table_name == def.name {
                    def.indexes.push(index.clone());
                }
            }
            def
        })
        .chain(store.hidden_guid.then(hidden::attach_def))
        .collect()
}

/// The rows of one table, in primary-key order, one value per column in column order.
/// An unknown table yields no rows.
pub fn table_rows<'a>(
    spec: &'a ImageSpec,
    kind: StoreKind,
    table_name: &str,
) -> Box<dyn Iterator<Item = Vec<Value>> + 'a> {
    let store = spec.store(kind);
    let shape = Shape::of(spec, store);
    let mut rng = SplitMix64::keyed(
        &spec.params.seed,
        &format!("rows/{}/{}", kind.name(), table_name),
    );
    match table_name {
        table::GLOBALS => Box::new(std::iter::once(vec![
            Value::Long(1),
            Value::Binary(store.base_guid.to_windows_bytes().to_vec()),
            Value::Currency(shape.next_glob_cnt()),
            Value::Long(store.patch_state),
            Value::Long(store.patch_count),
            Value::DateTime(store.patch_time),
            Value::Text(store.server_name.clone()),
            Value::Text(ORG_NAME.to_string()),
            Value::Text(SITE_NAME.to_string()),
        ])),
        table::FOLDERS => Box::new((0..shape.folders).map(move |f| {
            let parent = if f == 0 {
                0
            } else {
                shape.folder_id(rng.below(f))
            };
            let change = (f as i64 + 1) * 4 + rng.below(4) as i64;
            vec![
                Value::Currency(shape.folder_id(f)),
                Value::Currency(parent),
                Value::Binary(shape.source_guid(f).to_windows_bytes().to_vec()),
                Value::Currency(change),
                Value::Long(shape.msg_count(f).min(i32::MAX as u64) as i32),
                Value::Text(folder_name(kind, f, &mut rng)),
            ]
        })),
        table::MSG => Box::new((0..shape.messages).map(move |m| {
            let id = shape.msg_id(m);
            let subject = subject(&mut rng, id as u64);
            let body = body(&mut rng, shape.body_bytes);
            let size = (subject.len() + body.len()) as i32;
            vec![
                Value::Currency(id),
                Value::Currency(shape.folder_id(m % shape.folders)),
                Value::Binary(shape.source_guid(m).to_windows_bytes().to_vec()),
                Value::Currency(id * 4 + rng.below(4) as i64),
                Value::Long(size),
                Value::Text(subject),
                Value::LongBinary(body),
            ]
        })),
        table::REPL_STATE => {
            let mut next_id: i32 = 0;
            Box::new((0..shape.folders).flat_map(move |f| {
                let mut rows = Vec::new();
                let mut row = |guid: Guid, cn: i64| {
                    next_id += 1;
                    rows.push(vec![
                        Value::Long(next_id),
                        Value::Currency(shape.folder_id(f)),
                        Value::Binary(guid.to_windows_bytes().to_vec()),
                        Value::Currency(cn),
                    ]);
                };
                if shape.repl_has_own() {
                    row(shape.own, shape.next_glob_cnt() * 4 - rng.below(64) as i64);
                }
                let kk = shape.foreign_guids.len() as u64;
                for j in shape.repl_foreign_range(f) {
                    let g = shape.foreign_guids[(j % kk) as usize];
                    row(g, 1 + rng.below(1 << 20) as i64);
                }
                rows
            }))
        }
        hidden::ATTACH if store.hidden_guid => {
            let other = shape.foreign_guids.first().copied().unwrap_or(shape.own);
            Box::new(hidden::attach_rows(
                hidden::attach_rows_count(shape.messages),
                shape.msg_id(0),
                shape.own,
                other,
            ))
        }
        _ => Box::new(std::iter::empty()),
    }
}

/// The tables of one store as the database builder takes them.
pub fn store_tables<'a>(spec: &'a ImageSpec, kind: StoreKind) -> Vec<TableInput<'a>> {
    table_defs(spec, kind)
        .into_iter()
        .map(|def| {
            let rows = table_rows(spec, kind, &def.name);
            TableInput { def, rows }
        })
        .collect()
}

/// Row counts of one store, computed from the shape alone (not by generating rows).
pub fn expected_counts(spec: &ImageSpec, kind: StoreKind) -> StoreCounts {
    let shape = Shape::of(spec, spec.store(kind));
    let mut c = StoreCounts::default();
    for def in table_defs(spec, kind) {
        let name = def.name.clone();
        let (rows, by_guid) = match name.as_str() {
            table::GLOBALS => (1, None),
            table::FOLDERS => (shape.folders, Some(shape.source_guid_counts(shape.folders))),
            table::MSG => (
                shape.messages,
                Some(shape.source_guid_counts(shape.messages)),
            ),
            table::REPL_STATE => {
                let (n, m) = shape.repl_counts();
                (n, Some(m))
            }
            hidden::ATTACH if spec.store(kind).hidden_guid => {
                (hidden::attach_rows_count(shape.messages), None)
            }
            _ => (0, None),
        };
        c.rows.insert(name.clone(), rows);
        if let Some(mut m) = by_guid {
            m.retain(|_, n| *n > 0);
            c.by_guid.insert(name, m);
        }
    }
    c
}

/// Total rows of both stores (for the progress bar).
pub fn total_rows(spec: &ImageSpec) -> u64 {
    StoreKind::ALL
        .iter()
        .map(|&k| expected_counts(spec, k).rows.values().sum::<u64>())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_gives_the_rounded_share_exactly() {
        for n in [0u64, 1, 7, 100, 333, 1000] {
            for p in [0u64, 1, 20, 33, 50, 99, 100] {
                let hits = (0..n).filter(|&i| spread_hit(i, p, 100)).count() as u64;
                assert_eq!(hits, spread_count(n, p, 100), "n={n} p={p}");
                let exact = n as f64 * p as f64 / 100.0;
                assert!(
                    (hits as f64 - exact).abs() <= 0.5,
                    "n={n} p={p} hits={hits}"
                );
            }
        }
    }

    /// The word-by-word form of [`body`]: what the fast one must equal byte for byte.
    fn body_reference(rng: &mut SplitMix64, len: usize) -> Vec<u8> {
        let mut b = Vec::new();
        while b.len() < len {
            let x = rng.next_u64();
            if !b.is_empty() {
                let sep = ((x & 0xFFFF_FFFF) * 12) >> 32;
                b.push(if sep == 0 { b'\n' } else { b' ' });
            }
            let i = (((x >> 32) * WORDS.len() as u64) >> 32) as usize;
            b.extend_from_slice(WORDS[i].as_bytes());
        }
        b.truncate(len);
        b
    }

    #[test]
    fn body_matches_the_word_by_word_generator() {
        for len in [0usize, 1, 5, 9, 10, 100, 1024, 4000] {
            let mut a = SplitMix64::keyed("s", "body");
            let mut b = SplitMix64::keyed("s", "body");
            for _ in 0..20 {
                assert_eq!(body(&mut a, len), body_reference(&mut b, len), "len {len}");
            }
            assert_eq!(a.next_u64(), b.next_u64(), "same draws, len {len}");
        }
    }

    #[test]
    fn round_robin_shares_add_up() {
        for n in [0u64, 1, 5, 13] {
            let total: u64 = (0..4).map(|k| round_robin_share(n, k, 4)).sum();
            assert_eq!(total, n);
        }
    }
}
