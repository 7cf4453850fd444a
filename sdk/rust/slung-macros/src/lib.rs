//! slung-macros - the `#[main]` attribute of the Slung guest SDK.
//!
//! `#[main] fn NAME() -> slung::Result<()> { ... }` keeps the function as written and
//! adds the module's entry point, the export `call: () -> i32` that the host calls once
//! when the workflow starts (shared/spec/workflows.md, "Guest exports"). `call` returns
//! 0 when the function returns `Ok(())`; on `Err(e)` it prints `e` to stderr (the
//! workflow's log on wasm32-wasi) and returns 1.
//!
//! Written without syn so the SDK builds from Debian's packaged crates in seconds:
//! the attribute only needs the function's name, which follows the `fn` keyword.

use proc_macro::{TokenStream, TokenTree};

/// Marks the workflow's entry function; see the crate documentation.
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return compile_error("#[main] takes no arguments");
    }
    let mut name: Option<String> = None;
    let mut saw_fn = false;
    for tt in item.clone() {
        match tt {
            TokenTree::Ident(id) if saw_fn => {
                name = Some(id.to_string());
                break;
            }
            TokenTree::Ident(id) if id.to_string() == "fn" => saw_fn = true,
            _ => {}
        }
    }
    let name = match name {
        Some(n) => n,
        None => return compile_error("#[main] must be placed on a function"),
    };
    let entry = format!(
        "#[no_mangle]\n\
         pub extern \"C\" fn call() -> i32 {{\n\
             ::slung::__private::run_main({})\n\
         }}",
        name
    );
    let mut out = item;
    out.extend(entry.parse::<TokenStream>().expect("generated entry point parses"));
    out
}

fn compile_error(msg: &str) -> TokenStream {
    format!("compile_error!({:?});", msg)
        .parse()
        .expect("compile_error! invocation parses")
}
