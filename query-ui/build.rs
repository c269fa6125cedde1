//! Makes sure `dist/` exists so the embed compiles even when the UI was not built;
//! the binary then reports that the UI is missing and how to build it.
fn main() {
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dist");
    if !dist.exists() {
        let _ = std::fs::create_dir_all(&dist);
    }
    println!("cargo:rerun-if-changed=dist");
    println!("cargo:rerun-if-changed=build.rs");
}
