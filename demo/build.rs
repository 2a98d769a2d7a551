//! Embeds capnweb's browser build (the ESM `dist/index.js` of the npm package pinned in
//! `interop/package-lock.json`, installed by `npm ci` in `interop/`) into the demo binary.
//!
//! If it is not installed, the build still succeeds (so `cargo test --workspace` works without
//! Node), with a warning; the demo then serves a stand-in module that puts the instructions on
//! the page, and says so when it starts.

use std::path::PathBuf;

const MISSING: &str = r#"// capnweb was not installed when tether-demo was built.
const message =
  "capnweb was not found when tether-demo was built. Run `npm ci` in interop/, then " +
  "`cargo run -p tether-demo` again.";
const missing = () => { throw new Error(message); };
export const newWebSocketRpcSession = missing;
export const newHttpBatchRpcSession = missing;
export class RpcTarget {}
const banner = document.createElement("pre");
banner.id = "capnweb-missing";
banner.textContent = message;
document.body.prepend(banner);
"#;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let capnweb = manifest.join("../interop/node_modules/capnweb/dist/index.js");
    println!("cargo:rerun-if-changed={}", capnweb.display());
    println!("cargo:rerun-if-changed=build.rs");
    let (text, found) = match std::fs::read_to_string(&capnweb) {
        Ok(text) => (text, true),
        Err(error) => {
            println!(
                "cargo:warning=capnweb not found at {} ({error}): run `npm ci` in interop/ \
                 and rebuild; the demo page will say so",
                capnweb.display()
            );
            (MISSING.to_owned(), false)
        }
    };
    std::fs::write(out.join("capnweb.js"), text).expect("writing OUT_DIR/capnweb.js");
    if !found {
        println!("cargo:rustc-env=TETHER_DEMO_CAPNWEB_MISSING=1");
    }
}
