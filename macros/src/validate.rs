//! Checks the signature: `[async] fn NAME(ctx: &TaskContext[, params: P]) -> chime::Result<Output>`.
//! Each mistake is an error on the tokens at fault.

use syn::spanned::Spanned;
use syn::{FnArg, ReturnType, Type};

use crate::parse::Parsed;

/// A valid operator.
pub struct Operator {
    pub name: String,
    pub func: syn::ItemFn,
    /// The parameters' type, if the function takes parameters.
    pub params: Option<Type>,
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) => p.path.segments.last(),
        _ => None,
    }
}

pub fn validate(parsed: Parsed) -> syn::Result<Operator> {
    let func = parsed.func;
    let sig = &func.sig;
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            "an operator cannot be generic: chime calls it with one concrete parameters type",
        ));
    }
    let mut inputs = sig.inputs.iter();
    let ctx = match inputs.next() {
        Some(FnArg::Receiver(r)) => {
            return Err(syn::Error::new_spanned(
                r,
                "an operator is a free function, not a method: remove `self`",
            ));
        }
        Some(FnArg::Typed(t)) => t,
        None => {
            return Err(syn::Error::new(
                sig.paren_token.span.join(),
                "an operator takes the task's context first: `ctx: &TaskContext`",
            ));
        }
    };
    let is_ctx = match &*ctx.ty {
        Type::Reference(r) => {
            r.mutability.is_none()
                && last_segment(&r.elem).is_some_and(|s| s.ident == "TaskContext")
        }
        _ => false,
    };
    if !is_ctx {
        return Err(syn::Error::new_spanned(
            &ctx.ty,
            "the first parameter of an operator is the task's context: `ctx: &TaskContext`",
        ));
    }
    let params = match inputs.next() {
        None => None,
        Some(FnArg::Typed(t)) => Some((*t.ty).clone()),
        Some(FnArg::Receiver(r)) => {
            return Err(syn::Error::new_spanned(r, "an operator cannot take `self`"));
        }
    };
    if let Some(extra) = inputs.next() {
        return Err(syn::Error::new_spanned(
            extra,
            "an operator takes at most two parameters: the context and a parameters struct",
        ));
    }
    if let Some(Type::Reference(r)) = &params {
        return Err(syn::Error::new_spanned(
            r,
            "take the parameters by value: a struct that derives `Deserialize`",
        ));
    }
    let returns_result = match &sig.output {
        ReturnType::Type(_, ty) => last_segment(ty).is_some_and(|s| s.ident == "Result"),
        ReturnType::Default => false,
    };
    if !returns_result {
        let span = match &sig.output {
            ReturnType::Type(_, ty) => ty.span(),
            ReturnType::Default => sig.ident.span(),
        };
        return Err(syn::Error::new(
            span,
            "an operator returns `chime::Result<Output>`",
        ));
    }
    let name = parsed
        .name
        .map_or_else(|| sig.ident.to_string(), |n| n.value());
    Ok(Operator { name, func, params })
}
