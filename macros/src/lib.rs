//! `#[chime::operator]`: a custom operator as an annotated function.
//!
//! ```ignore
//! use chime::prelude::*;
//!
//! #[derive(Deserialize)]
//! pub struct Params { pub window_days: u32 }
//!
//! /// Builds lag features.
//! #[chime::operator]
//! pub async fn build_features(ctx: &TaskContext, p: Params) -> chime::Result<Output> { ... }
//! ```
//!
//! The function is kept as written; beside it the macro emits a descriptor
//! (`__chime_operator_<fn>()`) that the generated pipeline registers: the
//! operator's name, and how to call it with parameters deserialised from the
//! task's rendered `with:`. Parse, validate and expand are a file each.

use proc_macro::TokenStream;

mod expand;
mod parse;
mod validate;

/// Marks a function as a chime operator. `#[chime::operator(name = "x")]`
/// names it; by default the operator is called like the function.
#[proc_macro_attribute]
pub fn operator(args: TokenStream, item: TokenStream) -> TokenStream {
    let original: proc_macro2::TokenStream = item.clone().into();
    let result = parse::parse(args.into(), item.into())
        .and_then(validate::validate)
        .map(|op| expand::expand(&op));
    match result {
        Ok(tokens) => tokens.into(),
        // Keep the user's function so editors and the rest of the crate
        // still see it; the error points at the offending tokens.
        Err(err) => {
            let error = err.to_compile_error();
            quote::quote!(#original #error).into()
        }
    }
}
