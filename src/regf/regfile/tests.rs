use super::*;
use crate::regf::write::{
    utf16z, ValueSpec, REG_BINARY, REG_DWORD, REG_EXPAND_SZ, REG_MULTI_SZ, REG_NONE, REG_SZ,
};

/// An op without its line number, for comparisons.
#[derive(Debug, PartialEq, Eq)]
enum Op {
    DeleteKey(String),
    Key(String),
    Set(String, u32, Vec<u8>),
    Delete(String),
}

fn strip(ops: &[RegOp]) -> Vec<Op> {
    ops.iter()
        .map(|op| match op {
            RegOp::DeleteKey { path, .. } => Op::DeleteKey(path.clone()),
            RegOp::Key { path, .. } => Op::Key(path.clone()),
            RegOp::SetValue {
                name, kind, data, ..
            } => Op::Set(name.clone(), *kind, data.clone()),
            RegOp::DeleteValue { name, .. } => Op::Delete(name.clone()),
        })
        .collect()
}

fn v(name: &str, kind: u32, data: &[u8]) -> ValueSpec {
    ValueSpec {
        name: name.to_string(),
        kind,
        data: data.to_vec(),
    }
}

fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

const BASE: &str = "HKEY_CURRENT_USER\\Software\\Wine\\reg_test";

/// The key tree of Wine's reg.exe export conformance test ("complex_test"), whose expected
/// output records what Windows writes.
fn wine_complex_keys() -> Vec<(String, Vec<ValueSpec>)> {
    let k = |sub: &str| {
        if sub.is_empty() {
            BASE.to_string()
        } else {
            format!("{BASE}\\{sub}")
        }
    };
    let mut multi = Vec::new();
    for s in ["Line1", "Line2", "Line3"] {
        multi.extend(utf16z(s));
    }
    multi.extend([0, 0]);
    vec![
        (
            k(""),
            vec![
                ValueSpec::dword("DWORD", 0x100),
                ValueSpec::sz("String", "Your text here..."),
            ],
        ),
        (
            k("Subkey1"),
            vec![
                ValueSpec::binary("Binary", &[0x11, 0x22, 0x33, 0x44]),
                v("Undefined hex", 0x100, b"%PATH%\0"),
            ],
        ),
        (
            k("Subkey2a"),
            vec![
                ValueSpec::sz("double\"quote", "\"Hello, World!\""),
                ValueSpec::dword("single'quote", 8),
            ],
        ),
        (
            k("Subkey2a\\Subkey2b"),
            vec![
                ValueSpec::sz("", "Default value name"),
                v("Multiple strings", REG_MULTI_SZ, &multi),
            ],
        ),
        (
            k("Subkey3a"),
            vec![ValueSpec::sz("Backslash", "Use \\\\ to escape a backslash")],
        ),
        (k("Subkey3a\\Subkey3b"), vec![]),
        (
            k("Subkey3a\\Subkey3b\\Subkey3c"),
            vec![
                v("String expansion", REG_EXPAND_SZ, &utf16z("%HOME%\\%PATH%")),
                v("Zero data type", REG_NONE, b"Value\0"),
            ],
        ),
        (
            k("Subkey4"),
            vec![
                ValueSpec::dword("", 0x1234_5678),
                v("43981", 0xabcd, b"Value\0"),
            ],
        ),
    ]
}

/// Windows' output for [`wine_complex_keys`] (after the UTF-16 byte-order mark).
fn wine_complex_text() -> String {
    [
        "Windows Registry Editor Version 5.00",
        "",
        &format!("[{BASE}]"),
        "\"DWORD\"=dword:00000100",
        "\"String\"=\"Your text here...\"",
        "",
        &format!("[{BASE}\\Subkey1]"),
        "\"Binary\"=hex:11,22,33,44",
        "\"Undefined hex\"=hex(100):25,50,41,54,48,25,00",
        "",
        &format!("[{BASE}\\Subkey2a]"),
        "\"double\\\"quote\"=\"\\\"Hello, World!\\\"\"",
        "\"single'quote\"=dword:00000008",
        "",
        &format!("[{BASE}\\Subkey2a\\Subkey2b]"),
        "@=\"Default value name\"",
        "\"Multiple strings\"=hex(7):4c,00,69,00,6e,00,65,00,31,00,00,00,4c,00,69,00,6e,\\",
        "  00,65,00,32,00,00,00,4c,00,69,00,6e,00,65,00,33,00,00,00,00,00",
        "",
        &format!("[{BASE}\\Subkey3a]"),
        "\"Backslash\"=\"Use \\\\\\\\ to escape a backslash\"",
        "",
        &format!("[{BASE}\\Subkey3a\\Subkey3b]"),
        "",
        &format!("[{BASE}\\Subkey3a\\Subkey3b\\Subkey3c]"),
        "\"String expansion\"=hex(2):25,00,48,00,4f,00,4d,00,45,00,25,00,5c,00,25,00,50,\\",
        "  00,41,00,54,00,48,00,25,00,00,00",
        "\"Zero data type\"=hex(0):56,61,6c,75,65,00",
        "",
        &format!("[{BASE}\\Subkey4]"),
        "@=dword:12345678",
        "\"43981\"=hex(abcd):56,61,6c,75,65,00",
        "",
        "",
    ]
    .join("\r\n")
}

#[test]
fn format_matches_what_windows_writes() {
    let text = format_reg(RegVersion::Regedit5, &wine_complex_keys()).unwrap();
    assert_eq!(text, wine_complex_text());
}

#[test]
fn parse_of_what_windows_writes_gives_the_tree_back() {
    let file = parse_reg(&wine_complex_text()).unwrap();
    assert_eq!(file.version, RegVersion::Regedit5);
    let mut expected = Vec::new();
    for (path, values) in wine_complex_keys() {
        expected.push(Op::Key(path));
        for val in values {
            expected.push(Op::Set(val.name, val.kind, val.data));
        }
    }
    assert_eq!(strip(&file.ops), expected);
    // Line numbers point at the lines the ops come from.
    let text = wine_complex_text();
    let lines: Vec<&str> = text.split("\r\n").collect();
    for op in &file.ops {
        let line = lines[op.line() - 1];
        match op {
            RegOp::Key { path, .. } => assert_eq!(line, format!("[{path}]")),
            RegOp::SetValue { name, .. } if name.is_empty() => assert!(line.starts_with("@=")),
            _ => assert!(line.starts_with('"')),
        }
    }
}

#[test]
fn parse_handles_deletions_comments_continuations_and_spacing() {
    let text = "\u{feff}Windows Registry Editor Version 5.00\n\
                ; a comment\n\
                \n\
                [-HKEY_LOCAL_MACHINE\\SOFTWARE\\Old]\n\
                [HKEY_LOCAL_MACHINE\\SOFTWARE\\New]\n\
                \"gone\"=-\n\
                @=-\n\
                \"bin\" = hex:01, 02 ,\\\n\
                \x20   03,ff \\\n\
                \t, AB\n\
                \"empty\"=hex(7):\n\
                \"DW\"=DWORD:1a\n\
                \"q\"=hex(b):01,00,00,00,00,00,00,00\r\n\
                \"quoted \\\\ and \\\"\"=\"a \\\"b\\\" \\\\c\"\n";
    let file = parse_reg(text).unwrap();
    assert_eq!(
        strip(&file.ops),
        vec![
            Op::DeleteKey("HKEY_LOCAL_MACHINE\\SOFTWARE\\Old".into()),
            Op::Key("HKEY_LOCAL_MACHINE\\SOFTWARE\\New".into()),
            Op::Delete("gone".into()),
            Op::Delete(String::new()),
            Op::Set("bin".into(), REG_BINARY, vec![1, 2, 3, 0xff, 0xab]),
            Op::Set("empty".into(), REG_MULTI_SZ, vec![]),
            Op::Set("DW".into(), REG_DWORD, vec![0x1a, 0, 0, 0]),
            Op::Set("q".into(), 11, vec![1, 0, 0, 0, 0, 0, 0, 0]),
            Op::Set("quoted \\ and \"".into(), REG_SZ, utf16z("a \"b\" \\c")),
        ]
    );
    let lines: Vec<usize> = file.ops.iter().map(RegOp::line).collect();
    assert_eq!(lines, vec![4, 5, 6, 7, 8, 11, 12, 13, 14]);
}

#[test]
fn regedit4_strings_are_utf16_in_the_hive_and_hex_string_types_are_ansi() {
    let text = "REGEDIT4\r\n\r\n[HKEY_LOCAL_MACHINE\\S]\r\n\
                \"s\"=\"caf\u{e9} \u{20ac}\"\r\n\
                \"e\"=hex(2):25,80,e9,00\r\n\
                \"b\"=hex:80,e9\r\n";
    let file = parse_reg(text).unwrap();
    assert_eq!(file.version, RegVersion::Regedit4);
    assert_eq!(
        strip(&file.ops)[1..],
        [
            Op::Set("s".into(), REG_SZ, utf16z("caf\u{e9} \u{20ac}")),
            Op::Set("e".into(), REG_EXPAND_SZ, utf16z("%\u{20ac}\u{e9}")),
            Op::Set("b".into(), REG_BINARY, vec![0x80, 0xe9]),
        ]
    );
}

#[test]
fn format_regedit4_writes_ansi_and_refuses_what_code_page_1252_lacks() {
    let keys = vec![(
        "HKEY_LOCAL_MACHINE\\S".to_string(),
        vec![
            ValueSpec::sz("s", "caf\u{e9}"),
            v("e", REG_EXPAND_SZ, &utf16z("%\u{20ac}")),
        ],
    )];
    let text = format_reg(RegVersion::Regedit4, &keys).unwrap();
    assert_eq!(
        text,
        "REGEDIT4\r\n\r\n[HKEY_LOCAL_MACHINE\\S]\r\n\"s\"=\"caf\u{e9}\"\r\n\"e\"=hex(2):25,80,00\r\n\r\n"
    );
    let bytes = encode_reg_text(RegVersion::Regedit4, &text).unwrap();
    assert!(
        bytes.contains(&0xe9) && !bytes.contains(&0xc3),
        "ANSI, not UTF-8"
    );
    assert_eq!(decode_reg_bytes(&bytes).unwrap(), text);

    for bad in [
        ("HKEY_LOCAL_MACHINE\\\u{416}", ValueSpec::dword("d", 1)),
        ("HKEY_LOCAL_MACHINE\\S", ValueSpec::dword("\u{416}", 1)),
        ("HKEY_LOCAL_MACHINE\\S", ValueSpec::sz("s", "\u{416}")),
        ("HKEY_LOCAL_MACHINE\\S", v("m", REG_MULTI_SZ, &[0x41])),
    ] {
        let err = format_reg(
            RegVersion::Regedit4,
            &[(bad.0.to_string(), vec![bad.1.clone()])],
        )
        .unwrap_err();
        assert!(err.expected.contains("1252"), "{err}");
        // Regedit 5 holds all of them.
        let text = format_reg(RegVersion::Regedit5, &[(bad.0.to_string(), vec![bad.1])]).unwrap();
        parse_reg(&text).unwrap();
    }
}

#[test]
fn format_refuses_what_a_line_based_file_cannot_hold() {
    let cases = [
        (
            "HKEY_LOCAL_MACHINE\\a\nb",
            ValueSpec::dword("d", 1),
            "line break",
        ),
        ("", ValueSpec::dword("d", 1), "non-empty"),
        ("-HKEY_LOCAL_MACHINE", ValueSpec::dword("d", 1), "`-`"),
        (
            "HKEY_LOCAL_MACHINE",
            ValueSpec::dword("a\rb", 1),
            "line break",
        ),
    ];
    for (path, val, what) in cases {
        let err = format_reg(RegVersion::Regedit5, &[(path.to_string(), vec![val])]).unwrap_err();
        assert!(err.expected.contains(what), "{err}");
    }
}

#[test]
fn strings_that_text_would_not_reproduce_are_written_as_hex1() {
    let cases: Vec<Vec<u8>> = vec![
        vec![],                              // empty: `""` would give a lone NUL
        utf16("no terminator"),              // no NUL
        [utf16z("a"), utf16z("b")].concat(), // embedded NUL
        utf16z("line\r\nbreak"),             // not one line
        vec![0x41, 0x00, 0x00],              // odd length
        vec![0x00, 0xd8, 0x00, 0x00],        // unpaired surrogate
    ];
    for data in cases {
        let text = format_reg(
            RegVersion::Regedit5,
            &[("K".into(), vec![v("s", REG_SZ, &data)])],
        )
        .unwrap();
        assert!(text.contains("\"s\"=hex(1):"), "{text}");
        let ops = strip(&parse_reg(&text).unwrap().ops);
        assert_eq!(ops[1], Op::Set("s".into(), REG_SZ, data));
    }
}

/// Each malformed input, the line the error must name, and a word its `expected` must contain.
#[test]
fn malformed_lines_are_refused_with_line_expected_and_found() {
    let h = "Windows Registry Editor Version 5.00\n";
    let k = "[HKEY_LOCAL_MACHINE\\K]\n";
    let cases: Vec<(String, usize, &str)> = vec![
        ("Windows Registry Editor Version 4.00\n".into(), 1, "header"),
        (String::new(), 1, "header"),
        (format!("{h}\"a\"=dword:1\n"), 2, "key line"),
        (format!("{h}{k}\"a\"=\"unterminated\n"), 3, "closing"),
        (format!("{h}{k}\"a\"=dword:123456789\n"), 3, "hex digits"),
        (format!("{h}{k}\"a\"=dword:\n"), 3, "hex digits"),
        (format!("{h}{k}\"a\"=dword:12g4\n"), 3, "hex digits"),
        (format!("{h}{k}\"a\"=hex:01,,02\n"), 3, "hex byte"),
        (format!("{h}{k}\"a\"=hex:01,\n"), 3, "hex byte"),
        (format!("{h}{k}\"a\"=hex:zz\n"), 3, "hex byte"),
        (format!("{h}{k}\"a\"=hex:123\n"), 3, "hex byte"),
        (format!("{h}{k}\"a\"=hex(1ffffffff):00\n"), 3, "type"),
        (format!("{h}{k}\"a\"=hex():00\n"), 3, "type"),
        (format!("{h}{k}\"a\"=hex(2:00\n"), 3, "hex(t)"),
        (format!("{h}{k}\"a\" \"b\"\n"), 3, "`=`"),
        (format!("{h}{k}\"a\\q\"=\"b\"\n"), 3, "escape"),
        (
            format!("{h}{k}\"a\"=\"b\" trailing\n"),
            3,
            "end of the line",
        ),
        (format!("{h}{k}\"a\"=str:x\n"), 3, "value data"),
        (format!("{h}{k}\"a\"=\n"), 3, "value data"),
        (format!("{h}[HKEY_LOCAL_MACHINE\\K\n"), 2, "`]`"),
        (format!("{h}[]\n"), 2, "key path"),
        (format!("{h}[-]\n"), 2, "key path"),
        (format!("{h}garbage\n"), 2, "key line"),
        (format!("{h}{k}\n\n\"a\"=hex:00,\\"), 5, "continuation"),
        (
            format!("{h}[-HKEY_LOCAL_MACHINE\\K]\n\"a\"=-\n"),
            3,
            "deletion",
        ),
        (
            format!("{h}{k}\"a\"=hex:00,\\\n  01,\\\n  zz\n"),
            3,
            "hex byte",
        ),
    ];
    for (text, line, word) in cases {
        let err = parse_reg(&text).unwrap_err();
        assert_eq!(err.line, line, "{text:?}: {err}");
        assert!(err.expected.contains(word), "{text:?}: {err}");
        assert!(!err.found.is_empty(), "{text:?}: {err}");
        assert!(err
            .to_string()
            .starts_with(&format!("line {line}: expected ")));
    }
}

#[test]
fn decode_handles_utf16le_utf8_and_regedit4_ansi() {
    let text = "Windows Registry Editor Version 5.00\r\n[K\u{416}\u{10410}]\r\n";
    let mut utf16le = vec![0xff, 0xfe];
    utf16le.extend(utf16(text));
    assert_eq!(decode_reg_bytes(&utf16le).unwrap(), text);
    assert_eq!(
        encode_reg_text(RegVersion::Regedit5, text).unwrap(),
        utf16le
    );
    let mut utf8_bom = vec![0xef, 0xbb, 0xbf];
    utf8_bom.extend(text.as_bytes());
    assert_eq!(decode_reg_bytes(&utf8_bom).unwrap(), text);
    assert_eq!(decode_reg_bytes(text.as_bytes()).unwrap(), text);
    // NT4 regedit: code page 1252.
    let ansi = b"REGEDIT4\r\n[K\x80\xe9\x81]\r\n";
    assert_eq!(
        decode_reg_bytes(ansi).unwrap(),
        "REGEDIT4\r\n[K\u{20ac}\u{e9}\u{81}]\r\n"
    );
}

#[test]
fn decode_refuses_what_is_not_text_naming_where() {
    assert_eq!(
        decode_reg_bytes(&[0xff, 0xfe, 0x41]),
        Err(RegDecodeError::OddUtf16Length { len: 1 })
    );
    assert_eq!(
        decode_reg_bytes(&[0xff, 0xfe, 0x41, 0x00, 0x00, 0xdc, 0x41, 0x00]),
        Err(RegDecodeError::UnpairedSurrogate {
            offset: 4,
            unit: 0xdc00
        })
    );
    assert_eq!(
        decode_reg_bytes(b"Windows\xff"),
        Err(RegDecodeError::InvalidUtf8 {
            offset: 7,
            found: 0xff
        })
    );
    assert!(matches!(
        decode_reg_bytes(&[0xfe, 0xff, 0, 0x41]),
        Err(RegDecodeError::UnsupportedEncoding { .. })
    ));
    assert!(matches!(
        decode_reg_bytes(&utf16("Windows")),
        Err(RegDecodeError::UnsupportedEncoding { .. })
    ));
    assert!(matches!(
        encode_reg_text(RegVersion::Regedit4, "a\u{416}"),
        Err(RegEncodeError { index: 1, .. })
    ));
}

/// xorshift64*: a small deterministic generator for the property tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Characters for names and strings: ASCII, the format's own punctuation, Latin-1,
/// code page 1252 extras, NUL, and (Unicode only) Cyrillic and a non-BMP character.
const CHARS_CP1252: &[char] = &[
    'a', 'Z', '0', ' ', '"', '\\', '@', '=', '[', ']', ';', '-', ',', ':', '\t', '\u{e9}',
    '\u{df}', '\u{20ac}', '\u{2122}', '\u{81}', '\u{ff}',
];
const CHARS_UNICODE_ONLY: &[char] = &['\u{416}', '\u{10410}', '\u{0}', '\u{ff21}'];

fn random_text(rng: &mut Rng, version: RegVersion, max: usize) -> String {
    let len = rng.below(max + 1);
    (0..len)
        .map(|_| {
            if version == RegVersion::Regedit5 && rng.below(4) == 0 {
                rng.pick(CHARS_UNICODE_ONLY)
            } else {
                rng.pick(CHARS_CP1252)
            }
        })
        .collect()
}

fn random_value(rng: &mut Rng, version: RegVersion) -> ValueSpec {
    let name = if rng.below(5) == 0 {
        String::new()
    } else {
        random_text(rng, version, 12)
    };
    let kind = rng.pick(&[0, 1, 1, 2, 3, 3, 4, 4, 5, 7, 11, 0x100, u32::MAX, 0xabcd]);
    let string_like = matches!(kind, 1 | 2 | 7);
    let ansi_only = string_like && version == RegVersion::Regedit4;
    let data = match rng.below(4) {
        0 => utf16z(&random_text(rng, version, 30)),
        1 if !ansi_only => (rng.next() as u32).to_le_bytes().to_vec(),
        _ if ansi_only => {
            // ANSI-representable UTF-16, of any shape (no terminator, embedded NULs).
            let len = rng.below(60);
            (0..len)
                .flat_map(|_| {
                    let c = if rng.below(8) == 0 {
                        '\0'
                    } else {
                        rng.pick(CHARS_CP1252)
                    };
                    let mut u = [0u16; 1];
                    c.encode_utf16(&mut u);
                    u[0].to_le_bytes()
                })
                .collect()
        }
        _ => {
            let len = rng.pick(&[0, 1, 2, 3, 5, 16, 17, 25, 26, 100, 300]);
            (0..len).map(|_| rng.next() as u8).collect()
        }
    };
    ValueSpec { name, kind, data }
}

fn random_model(rng: &mut Rng, version: RegVersion) -> Vec<(String, Vec<ValueSpec>)> {
    (0..1 + rng.below(4))
        .map(|_| {
            let mut path = String::from("HKEY_LOCAL_MACHINE");
            for _ in 0..rng.below(4) {
                path.push('\\');
                path.push_str(&random_text(rng, version, 10));
            }
            let values = (0..rng.below(6))
                .map(|_| random_value(rng, version))
                .collect();
            (path, values)
        })
        .collect()
}

#[test]
fn random_models_survive_format_then_parse() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for version in [RegVersion::Regedit5, RegVersion::Regedit4] {
        for round in 0..400 {
            let model = random_model(&mut rng, version);
            let text = format_reg(version, &model)
                .unwrap_or_else(|e| panic!("{version:?} round {round}: {e}\n{model:?}"));
            let file = parse_reg(&text)
                .unwrap_or_else(|e| panic!("{version:?} round {round}: {e}\n{text}"));
            assert_eq!(file.version, version);
            let mut expected = Vec::new();
            for (path, values) in &model {
                expected.push(Op::Key(path.clone()));
                for val in values {
                    expected.push(Op::Set(val.name.clone(), val.kind, val.data.clone()));
                }
            }
            assert_eq!(
                strip(&file.ops),
                expected,
                "{version:?} round {round}:\n{text}"
            );
            // The bytes regedit would write decode back to the same text.
            let bytes = encode_reg_text(version, &text).unwrap();
            assert_eq!(decode_reg_bytes(&bytes).unwrap(), text);
            check_wrapping(&text);
        }
    }
}

/// Hex lists wrap like Windows': a line ending in `\` has reached 77 characters before the
/// `\`, and a continuation line holds at most 25 bytes (77 characters + `\`).
fn check_wrapping(text: &str) {
    let mut continued = false;
    for line in text.split("\r\n") {
        let units = line.encode_utf16().count();
        if continued {
            assert!(line.starts_with("  "), "{line:?}");
            assert!(units <= 78, "{line:?}");
        }
        continued = line.ends_with('\\') && !line.starts_with('[');
        if continued {
            assert!(units > 77, "{line:?}"); // 77 before the `\`
            assert!(line.ends_with(",\\"), "{line:?}");
        }
    }
}
