//! Links the kernel's hot path together (`hot.ld`: why, and what is in it).

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bins=-T{dir}/hot.ld");
    println!("cargo:rerun-if-changed=hot.ld");
}
