//! Builds the small C helper for `long double` arithmetic (see csrc/longdouble.c).
fn main() {
    println!("cargo:rerun-if-changed=csrc/longdouble.c");
    cc::Build::new()
        .file("csrc/longdouble.c")
        .opt_level(2)
        .warnings(true)
        .compile("tessera_longdouble");
}
