//! Builds the libnetfilter_conntrack peer (Debian: libnetfilter-conntrack-dev).

fn main() {
    println!("cargo:rerun-if-changed=c/nfct_peer.c");
    cc::Build::new()
        .file("c/nfct_peer.c")
        .warnings(true)
        .compile("nfct_peer");
    println!("cargo:rustc-link-lib=netfilter_conntrack");
    println!("cargo:rustc-link-lib=nfnetlink");
}
