//! From the annotated trait to the [`model`](crate::model): every check, every error with its
//! span. Errors are collected, not returned at the first one, so a user sees them all at once.

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{
    Attribute, Expr, FnArg, GenericArgument, ItemTrait, Lit, Meta, Pat, PathArguments,
    ReceiverKind, ReturnType, Safety, TraitItem, TraitItemFn, Type,
};

use crate::model::{camel_case, Interface, Kind, Member, Output, Param};

/// Collects errors; combines them into one at the end.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, span: Span, message: impl std::fmt::Display) {
        let error = syn::Error::new(span, message);
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn finish<T>(self, value: T) -> syn::Result<T> {
        match self.0 {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }
}

/// Names of the generated client's own methods: an interface member may not take them.
const RESERVED: &[&str] = &["serve", "from_stub", "stub", "into_stub"];

/// Parses the attribute's arguments (none are accepted) and the trait.
pub(crate) fn interface(args: TokenStream, item: ItemTrait) -> syn::Result<Interface> {
    let mut errors = Errors::default();
    if !args.is_empty() {
        errors.push(args.span(), "`#[tether::interface]` takes no arguments");
    }
    if let Some(unsafety) = &item.unsafety {
        errors.push(unsafety.span(), "an interface cannot be an `unsafe trait`");
    }
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        errors.push(
            item.generics.span(),
            "an interface cannot be generic: its methods must have one wire signature",
        );
    }
    let mut members = Vec::new();
    let mut js_names: HashMap<String, Span> = HashMap::new();
    for trait_item in item.items {
        match trait_item {
            TraitItem::Fn(function) => {
                if let Some(member) = member(function, &mut errors) {
                    if member.kind != Kind::Dispose {
                        if js_names.contains_key(&member.js_name) {
                            errors.push(
                                member.ident.span(),
                                format!(
                                    "two members of this interface are called `{}` in JavaScript; use #[rename = \"...\"] on one",
                                    member.js_name
                                ),
                            );
                        }
                        js_names.insert(member.js_name.clone(), member.ident.span());
                    }
                    members.push(member);
                }
            }
            other => errors.push(
                other.span(),
                "an interface may only contain methods (`async fn` or `fn`)",
            ),
        }
    }
    let disposers: Vec<_> = members.iter().filter(|m| m.kind == Kind::Dispose).collect();
    if let Some(second) = disposers.get(1) {
        errors.push(
            second.ident.span(),
            "an interface has at most one #[dispose] method",
        );
    }
    errors.finish(Interface {
        attrs: item.attrs,
        vis: item.vis,
        ident: item.ident,
        supertraits: item.supertraits.into_iter().collect(),
        members,
    })
}

/// The interface's own attributes on one method.
#[derive(Default)]
struct MemberAttrs {
    getter: Option<Span>,
    dispose: Option<Span>,
    rename: Option<String>,
    others: Vec<Attribute>,
}

fn member_attrs(attrs: Vec<Attribute>, errors: &mut Errors) -> MemberAttrs {
    let mut out = MemberAttrs::default();
    for attr in attrs {
        let path = attr.path();
        if path.is_ident("getter") || path.is_ident("dispose") {
            if !matches!(attr.meta, Meta::Path(_)) {
                errors.push(
                    attr.span(),
                    "write `#[getter]` or `#[dispose]`, without arguments",
                );
            }
            if path.is_ident("getter") {
                out.getter = Some(attr.span());
            } else {
                out.dispose = Some(attr.span());
            }
        } else if path.is_ident("rename") {
            if let Some(name) = rename(&attr, errors) {
                out.rename = Some(name);
            }
        } else {
            out.others.push(attr);
        }
    }
    out
}

/// The JavaScript name of `#[rename = "jsName"]`.
fn rename(attr: &Attribute, errors: &mut Errors) -> Option<String> {
    match &attr.meta {
        Meta::NameValue(nv) => match &nv.value {
            Expr::Lit(lit) => match &lit.lit {
                Lit::Str(s) if !s.value().is_empty() => return Some(s.value()),
                _ => errors.push(
                    nv.value.span(),
                    "the JavaScript name must be a non-empty string",
                ),
            },
            other => errors.push(other.span(), "write `#[rename = \"jsName\"]`"),
        },
        _ => errors.push(attr.span(), "write `#[rename = \"jsName\"]`"),
    }
    None
}

/// One parameter: `name: T` or `name: &T`, optionally `#[rename = "jsName"]` (used in error
/// messages).
fn param(pat_type: &syn::PatType, errors: &mut Errors) -> Option<Param> {
    let mut label = None;
    for attr in &pat_type.attrs {
        if attr.path().is_ident("rename") {
            label = rename(attr, errors);
        } else {
            errors.push(
                attr.span(),
                "a parameter of an interface method takes only `#[rename = \"jsName\"]`",
            );
        }
    }
    let ident = match &*pat_type.pat {
        Pat::Ident(pat)
            if pat.by_ref.is_none() && pat.mutability.is_none() && pat.subpat.is_none() =>
        {
            pat.ident.clone()
        }
        other => {
            errors.push(
                other.span(),
                "interface parameters must be plain names: the name is used in error messages",
            );
            return None;
        }
    };
    let ty = (*pat_type.ty).clone();
    let (owned, by_ref) = match &ty {
        Type::Reference(reference) => {
            if let Some(mutability) = &reference.mutability {
                errors.push(
                    mutability.span(),
                    "a parameter cannot be `&mut`: take it by value to own it, or by `&` to borrow it for the call",
                );
            }
            (owned_type(&reference.elem), true)
        }
        _ => (ty.clone(), false),
    };
    Some(Param {
        label: label.unwrap_or_else(|| ident.to_string().trim_start_matches("r#").to_owned()),
        ident,
        optional: is_option(&owned),
        owned,
        by_ref,
        ty,
    })
}

/// What the server reads for a parameter borrowed as `&elem`: `String` for `str`, `Vec<T>` for
/// `[T]`, `elem` otherwise.
fn owned_type(elem: &Type) -> Type {
    match elem {
        Type::Slice(slice) => {
            let item = &slice.elem;
            syn::parse_quote!(::std::vec::Vec<#item>)
        }
        _ if last_segment(elem).is_some_and(|s| s.ident == "str" && s.arguments.is_none()) => {
            syn::parse_quote!(::std::string::String)
        }
        _ => elem.clone(),
    }
}

fn member(function: TraitItemFn, errors: &mut Errors) -> Option<Member> {
    let attrs = member_attrs(function.attrs, errors);
    let sig = function.sig;
    let ident = sig.ident.clone();
    let rust_name = ident.to_string();
    if RESERVED.contains(&rust_name.as_str()) {
        errors.push(
            ident.span(),
            format!("`{rust_name}` is a method of the generated client; name this member differently and use #[rename = \"{rust_name}\"] to keep its JavaScript name"),
        );
    }
    if let Some(constness) = &sig.constness {
        errors.push(constness.span(), "interface methods cannot be `const`");
    }
    if let Safety::Unsafe(unsafety) = &sig.safety {
        errors.push(unsafety.span(), "interface methods cannot be `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        errors.push(abi.span(), "interface methods cannot have an ABI");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(
            sig.generics.span(),
            "interface methods cannot be generic: each has one wire signature",
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(variadic.span(), "interface methods cannot be variadic");
    }
    match sig.receiver() {
        Some(receiver)
            if matches!(receiver.kind, ReceiverKind::Reference(_, _, None))
                && receiver.mutability.is_none() => {}
        Some(receiver) => errors.push(
            receiver.span(),
            "interface methods take `&self`: a target is shared by every stub that points at it",
        ),
        None => errors.push(
            sig.paren_token.span.join(),
            "interface methods take `&self` as their first parameter",
        ),
    }
    let mut params = Vec::new();
    for input in sig.inputs.iter().skip(1) {
        match input {
            FnArg::Typed(pat_type) => params.extend(param(pat_type, errors)),
            FnArg::Receiver(receiver) => errors.push(receiver.span(), "unexpected `self`"),
        }
    }
    let kind = match (attrs.getter, attrs.dispose) {
        (Some(span), Some(_)) => {
            errors.push(span, "a member cannot be both #[getter] and #[dispose]");
            Kind::Method
        }
        (Some(_), None) => Kind::Getter,
        (None, Some(_)) => Kind::Dispose,
        (None, None) => Kind::Method,
    };
    if kind != Kind::Method && !params.is_empty() {
        errors.push(
            sig.inputs.span(),
            "a #[getter] or #[dispose] member takes no parameters besides `&self`",
        );
    }
    if kind == Kind::Dispose && attrs.rename.is_some() {
        errors.push(
            ident.span(),
            "a #[dispose] member has no JavaScript name to rename",
        );
    }
    let output = output(&sig.output);
    let js_name = attrs.rename.unwrap_or_else(|| camel_case(&rust_name));
    Some(Member {
        attrs: attrs.others,
        ident,
        js_name,
        kind,
        asyncness: sig.asyncness.is_some(),
        params,
        output,
        default: function.default,
    })
}

/// The last path segment of a type, with its generic arguments, if the type is a path.
fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        Type::Group(group) => last_segment(&group.elem),
        Type::Paren(paren) => last_segment(&paren.elem),
        _ => None,
    }
}

fn first_type_argument(segment: &syn::PathSegment) -> Option<&Type> {
    match &segment.arguments {
        PathArguments::AngleBracketed(args) => args.args.iter().find_map(|arg| match arg {
            GenericArgument::Type(ty) => Some(ty),
            _ => None,
        }),
        _ => None,
    }
}

fn is_option(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|s| s.ident == "Option" && first_type_argument(s).is_some())
}

fn output(output: &ReturnType) -> Output {
    let (ty, span) = match output {
        ReturnType::Default => (syn::parse_quote!(()), output.span()),
        ReturnType::Type(_, ty) => ((**ty).clone(), ty.span()),
    };
    let ok = last_segment(&ty)
        .filter(|s| s.ident == "Result" || s.ident == "RpcResult")
        .and_then(|s| {
            if s.ident == "RpcResult" && first_type_argument(s).is_none() {
                // `RpcResult` alone is `Result<Value, RpcError>`.
                return Some(syn::parse_quote!(::tether::Value));
            }
            first_type_argument(s).cloned()
        });
    let fallible = ok.is_some() || last_segment(&ty).is_some_and(|s| s.ident == "RpcResult");
    Output {
        ok: ok.unwrap_or_else(|| ty.clone()),
        ty,
        fallible,
        span,
    }
}
