//! The model of an interface: plain data, checked, with every decision about names and kinds
//! already made. `parse` builds it from the trait; `generate` turns it into code.

use proc_macro2::Span;
use syn::{Attribute, Block, Ident, Type, Visibility};

/// An interface: one trait, its methods and getters.
pub(crate) struct Interface {
    /// Attributes of the trait (documentation and the like), passed through.
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) ident: Ident,
    /// Supertraits as written; the generated trait adds `Send + Sync + 'static`.
    pub(crate) supertraits: Vec<syn::TypeParamBound>,
    pub(crate) members: Vec<Member>,
}

impl Interface {
    /// `{Trait}Client`.
    pub(crate) fn client_ident(&self) -> Ident {
        Ident::new(&format!("{}Client", self.ident), self.ident.span())
    }

    /// `{Trait}Server`.
    pub(crate) fn server_ident(&self) -> Ident {
        Ident::new(&format!("{}Server", self.ident), self.ident.span())
    }

    /// The methods reached through `call`.
    pub(crate) fn methods(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.kind == Kind::Method)
    }

    /// The properties reached through `get`.
    pub(crate) fn getters(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.kind == Kind::Getter)
    }

    /// The disposer, if one is declared.
    pub(crate) fn disposer(&self) -> Option<&Member> {
        self.members.iter().find(|m| m.kind == Kind::Dispose)
    }
}

/// How a member is reached from the other side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A method: `stub.call(js_name, args)`.
    Method,
    /// A property: `stub.get(js_name)`; calling it as a method is a `TypeError`.
    Getter,
    /// The disposer: runs when the last stub of a lineage is released; not reachable remotely.
    Dispose,
}

/// One method of the trait (`async fn` or `fn`).
pub(crate) struct Member {
    /// Attributes other than the interface's own (`getter`, `rename`, `dispose`).
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) ident: Ident,
    /// The JavaScript name: camelCase of the Rust name unless renamed.
    pub(crate) js_name: String,
    pub(crate) kind: Kind,
    /// `async fn` (the trait method returns a `Send` future) or plain `fn` (it returns the
    /// value; the server adapter calls it in place).
    pub(crate) asyncness: bool,
    pub(crate) params: Vec<Param>,
    pub(crate) output: Output,
    /// A default body, if the trait gives one.
    pub(crate) default: Option<Block>,
}

impl Member {
    /// The `#[doc]` attributes, to copy onto the client method.
    pub(crate) fn docs(&self) -> impl Iterator<Item = &Attribute> {
        self.attrs.iter().filter(|a| a.path().is_ident("doc"))
    }
}

/// One parameter.
pub(crate) struct Param {
    pub(crate) ident: Ident,
    /// The type as written (`T` or `&T`).
    pub(crate) ty: Type,
    /// What crosses the wire: `T` for `T` and `&T`, `String` for `&str`, `Vec<T>` for `&[T]`.
    pub(crate) owned: Type,
    /// Taken by reference: the server adapter owns the argument and lends it to the method for
    /// the call; it is dropped (stubs in it released) when the call returns.
    pub(crate) by_ref: bool,
    /// `Option<_>`: missing, `undefined` and `null` are `None`; the client sends `None` as
    /// `undefined` so a JavaScript default applies.
    pub(crate) optional: bool,
    /// The name in error messages: the Rust name, or `#[rename = "..."]`.
    pub(crate) label: String,
}

/// What a member returns.
pub(crate) struct Output {
    /// The type as written (`()` when omitted).
    pub(crate) ty: Type,
    /// The success type: the type itself, or `T` of `Result<T, E>`.
    pub(crate) ok: Type,
    /// `Result<T, E>` (or an alias named `Result`/`RpcResult`): `Err` rejects the call.
    pub(crate) fallible: bool,
    pub(crate) span: Span,
}

/// The JavaScript name of a Rust method name: `make_counter` is `makeCounter`. Leading
/// underscores are kept; a raw identifier loses its `r#`.
pub(crate) fn camel_case(rust_name: &str) -> String {
    let name = rust_name.trim_start_matches("r#");
    let body = name.trim_start_matches('_');
    let mut out = name[..name.len() - body.len()].to_owned();
    let mut upper = false;
    for c in body.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::camel_case;

    #[test]
    fn snake_case_becomes_camel_case() {
        assert_eq!(camel_case("make_counter"), "makeCounter");
        assert_eq!(camel_case("square"), "square");
        assert_eq!(camel_case("get_a_b"), "getAB");
        assert_eq!(camel_case("_private_thing"), "_privateThing");
        assert_eq!(camel_case("r#type"), "type");
        assert_eq!(camel_case("x2_y"), "x2Y");
    }
}
