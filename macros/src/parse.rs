//! The attribute's arguments and the annotated function, as syn sees them.

use proc_macro2::TokenStream;
use syn::parse::Parser;

/// What `#[chime::operator]` was put on.
pub struct Parsed {
    /// `name = "..."`, when given.
    pub name: Option<syn::LitStr>,
    pub func: syn::ItemFn,
}

pub fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Parsed> {
    let mut name = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            name = Some(meta.value()?.parse::<syn::LitStr>()?);
            Ok(())
        } else {
            Err(meta.error("unknown argument; the only one is `name = \"...\"`"))
        }
    });
    parser.parse2(args)?;
    let func: syn::ItemFn = syn::parse2(item)?;
    Ok(Parsed { name, func })
}
