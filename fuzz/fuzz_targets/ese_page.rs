//! One ESE database page: header, tags, nodes, records, checksum. The input is the page; it is
//! cut to the largest page size it holds (4, 8, 16 or 32 KiB), or padded with zeros to 4 KiB.
#![no_main]

mod common;

use coldpatch::bytes::Bytes;
use coldpatch::ese::checksum::check_page;
use coldpatch::ese::node::Node;
use coldpatch::ese::page::Page;
use coldpatch::ese::record::Record;
use libfuzzer_sys::fuzz_target;

const PAGE_SIZES: [usize; 4] = [32768, 16384, 8192, 4096];

fuzz_target!(|data: &[u8]| {
    let mut page = data.to_vec();
    let size = PAGE_SIZES
        .into_iter()
        .find(|&s| s <= page.len())
        .unwrap_or(4096);
    page.resize(size, 0);
    // The page number the checksum mixes in: taken from the page's own field when it fits.
    let pgno = 1;
    let _ = check_page(&page, pgno);
    let Ok(p) = Page::parse(Bytes::new(&page, 0), pgno) else {
        return;
    };
    let _ = p.header_len();
    for itag in 0..p.tag_count() {
        let _ = p.tag(itag);
        let _ = p.tag_data(itag);
    }
    for itag in p.line_tags() {
        let Ok(node) = Node::parse(&p, itag) else {
            continue;
        };
        let _ = node.key();
        let _ = node.data_offset_in_page(&p);
        if let Ok(rec) = Record::parse(node.data, p.record_form()) {
            common::read_record(&rec, None);
        }
    }
});
