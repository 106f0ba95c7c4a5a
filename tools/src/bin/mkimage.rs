//! `mkimage`: writes a complete synthetic Exchange 5.5 image (product.md, "Lab images").

fn main() {
    eprintln!("mkimage: not built yet");
    std::process::exit(2);
}
