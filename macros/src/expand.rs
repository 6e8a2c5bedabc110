//! The function as written, plus its descriptor for the generated pipeline.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::validate::Operator;

pub fn expand(op: &Operator) -> TokenStream {
    let func = &op.func;
    let ident = &func.sig.ident;
    let vis = &func.vis;
    let descriptor = format_ident!("__chime_operator_{}", ident);
    let name = &op.name;
    let (bind, call_args) = match &op.params {
        Some(ty) => (
            quote!(let p: #ty = ::chime::__private::params(params)?;),
            quote!(&ctx, p),
        ),
        None => (quote!(let _ = params;), quote!(&ctx)),
    };
    let call = if func.sig.asyncness.is_some() {
        quote!(::chime::__private::finish(#ident(#call_args).await))
    } else {
        // A plain function runs on a blocking thread, off the async workers.
        quote!(::chime::__private::blocking(move || #ident(#call_args)).await)
    };
    quote! {
        #func

        #[doc(hidden)]
        #vis fn #descriptor() -> ::chime::__private::Registered {
            ::chime::__private::Registered {
                name: #name,
                instant: false,
                run: |ctx, params| {
                    ::std::boxed::Box::pin(async move {
                        #bind
                        #call
                    })
                },
            }
        }
    }
}
