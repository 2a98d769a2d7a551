//! From the [`model`](crate::model) to code: the trait, the server adapter and the typed client.
//!
//! Everything the generated code needs at run time lives in `tether::typed`; the code here only
//! wires names and types to it, so the expansion (print it with `TETHER_MACROS_DEBUG=1`) stays
//! readable.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

use crate::model::{Interface, Member};

/// The expansion of one interface.
pub(crate) struct Expansion<'a>(pub(crate) &'a Interface);

impl ToTokens for Expansion<'_> {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(trait_definition(self.0));
        tokens.extend(server(self.0));
        tokens.extend(client(self.0));
        tokens.extend(type_checks(self.0));
    }
}

/// The trait as written, with `async fn` desugared to `Send` futures, and its implementation
/// for `Arc<T>`.
fn trait_definition(interface: &Interface) -> TokenStream {
    let Interface {
        attrs,
        vis,
        ident,
        supertraits,
        ..
    } = interface;
    let members = interface.members.iter().map(|member| {
        let attrs = &member.attrs;
        let signature = signature(member);
        match &member.default {
            Some(body) if member.asyncness => quote! {
                #(#attrs)*
                #signature { async move #body }
            },
            Some(body) => quote! {
                #(#attrs)*
                #signature #body
            },
            None => quote! {
                #(#attrs)*
                #signature;
            },
        }
    });
    // `Arc<T>` serves as `T`: `{Trait}Client::serve(Arc::clone(&shared))` hands out one object
    // as a new lineage each time (rule L4), its disposer running once per lineage.
    let delegates = interface.members.iter().map(|member| {
        let signature = signature(member);
        let method = &member.ident;
        let names = member.params.iter().map(|p| &p.ident);
        quote! {
            #signature {
                <__T as #ident>::#method(self #(, #names)*)
            }
        }
    });
    quote! {
        #(#attrs)*
        #vis trait #ident: #(#supertraits +)* ::core::marker::Send + ::core::marker::Sync + 'static {
            #(#members)*
        }

        impl<__T: #ident> #ident for ::std::sync::Arc<__T>
        where
            ::std::sync::Arc<__T>: #(#supertraits +)* ::core::marker::Send,
        {
            #(#delegates)*
        }
    }
}

/// A member's signature in the trait: an `async fn` returns a `Send` future.
fn signature(member: &Member) -> TokenStream {
    let ident = &member.ident;
    let names = member.params.iter().map(|p| &p.ident);
    let types = member.params.iter().map(|p| &p.ty);
    let ty = &member.output.ty;
    if member.asyncness {
        quote_spanned! {ident.span()=>
            fn #ident(&self #(, #names: #types)*)
                -> impl ::core::future::Future<Output = #ty> + ::core::marker::Send
        }
    } else {
        quote_spanned! {ident.span()=> fn #ident(&self #(, #names: #types)*) -> #ty }
    }
}

/// The code that turns a member's `__out` into the call's result.
fn encode(member: &Member) -> TokenStream {
    let js_name = &member.js_name;
    let private = quote!(::tether::typed::__private);
    if member.output.fallible {
        quote! {
            match __out {
                ::core::result::Result::Ok(__ok) => #private::encode_result(#js_name, __ok),
                ::core::result::Result::Err(__err) => ::core::result::Result::Err(#private::reject(__err)),
            }
        }
    } else {
        quote!(#private::encode_result(#js_name, __out))
    }
}

/// The call of `member` on `__T` with `args` (the receiver first), awaited if it is `async`.
fn call(trait_ident: &syn::Ident, member: &Member, args: TokenStream) -> TokenStream {
    let ident = &member.ident;
    if member.asyncness {
        quote!(<__T as #trait_ident>::#ident(#args).await)
    } else {
        quote!(<__T as #trait_ident>::#ident(#args))
    }
}

/// `{Trait}Server<T>`: a `tether::Target` dispatching by JavaScript name to a `T: Trait`.
fn server(interface: &Interface) -> TokenStream {
    let vis = &interface.vis;
    let trait_ident = &interface.ident;
    let server = interface.server_ident();
    let client = interface.client_ident();
    let private = quote!(::tether::typed::__private);
    let doc = format!(
        "Serves an implementation of [`{trait_ident}`] as a `tether::Target`: dispatches calls by \
         JavaScript name, checks arguments before the method runs, and encodes results.\n\n\
         Wrap it in a stub with `tether::Stub::new`, or use [`{client}::serve`]."
    );

    let methods = interface.methods().map(|member| {
        let js_name = &member.js_name;
        // Each check is spanned at its parameter's type, where a type error belongs.
        let takes = member.params.iter().map(|p| {
            let (name, owned, label) = (&p.ident, &p.owned, &p.label);
            quote_spanned!(p.ty.span()=> let #name: #owned = __params.take(#label)?;)
        });
        // A parameter taken by reference is lent for the call and dropped with the future.
        let args = member.params.iter().map(|p| {
            let name = &p.ident;
            if p.by_ref {
                quote!(&#name)
            } else {
                quote!(#name)
            }
        });
        let call = call(trait_ident, member, quote!(&self.inner #(, #args)*));
        let encode = encode(member);
        let params = if member.params.is_empty() {
            quote!(let _ = __args;)
        } else {
            quote! {
                let mut __params = #private::Params::new(#js_name, __args);
                #(#takes)*
            }
        };
        quote! {
            #js_name => ::std::boxed::Box::pin(async move {
                #params
                let __out = #call;
                #encode
            }),
        }
    });

    let getters = interface.getters().map(|member| {
        let js_name = &member.js_name;
        let encode = encode(member);
        let call = call(trait_ident, member, quote!(&self.inner));
        quote! {
            #js_name => ::std::boxed::Box::pin(async move {
                let __out = #call;
                #encode
            }),
        }
    });

    let dispose = interface.disposer().map(|member| {
        let call = call(trait_ident, member, quote!(&self.inner));
        let result = if member.output.fallible {
            quote!(__out.map_err(#private::reject))
        } else {
            quote!({
                let () = __out;
                ::core::result::Result::Ok(())
            })
        };
        // A plain `fn` disposer runs in place, when the lineage's last stub goes: no task.
        let body = if member.asyncness {
            quote! {
                ::core::option::Option::Some(::std::boxed::Box::pin(async move {
                    let __out = #call;
                    #result
                }))
            }
        } else {
            quote! {
                #private::dispose_in_place(|| {
                    let __out = #call;
                    #result
                })
            }
        };
        quote! {
            fn dispose(
                self: ::std::sync::Arc<Self>,
            ) -> ::core::option::Option<::tether::BoxFuture<'static, ::tether::RpcResult<()>>> {
                #body
            }
        }
    });

    quote! {
        #[doc = #doc]
        #vis struct #server<__T> {
            inner: __T,
        }

        impl<__T: #trait_ident> #server<__T> {
            /// Wraps an implementation.
            #vis fn new(inner: __T) -> Self {
                Self { inner }
            }

            /// The implementation.
            #vis fn inner(&self) -> &__T {
                &self.inner
            }
        }

        impl<__T: #trait_ident> ::tether::Target for #server<__T> {
            fn call<'__a>(
                &'__a self,
                __method: &'__a str,
                __args: ::std::vec::Vec<::tether::Value>,
            ) -> ::tether::BoxFuture<'__a, ::tether::RpcResult> {
                match __method {
                    #(#methods)*
                    _ => ::std::boxed::Box::pin(async move {
                        ::core::result::Result::Err(::tether::RpcError::not_a_function(__method))
                    }),
                }
            }

            fn get<'__a>(&'__a self, __name: &'__a str) -> ::tether::BoxFuture<'__a, ::tether::RpcResult> {
                match __name {
                    #(#getters)*
                    _ => ::std::boxed::Box::pin(async { ::core::result::Result::Ok(::tether::Value::Undefined) }),
                }
            }

            #dispose
        }
    }
}

/// `{Trait}Client`: a typed stub whose methods return typed promises.
fn client(interface: &Interface) -> TokenStream {
    let vis = &interface.vis;
    let trait_ident = &interface.ident;
    let trait_name = trait_ident.to_string();
    let server = interface.server_ident();
    let client = interface.client_ident();
    let private = quote!(::tether::typed::__private);
    let doc = format!(
        "A typed stub for a remote (or local) [`{trait_name}`]: each method sends a call and \
         returns a `tether::typed::TypedPromise`. Like any stub, `Clone` duplicates it and \
         dropping it releases it; build one from any `tether::Stub` with `From`."
    );

    let methods = interface.methods().map(|member| {
        let js_name = &member.js_name;
        let ident = &member.ident;
        let ok = &member.output.ok;
        let names = member.params.iter().map(|p| &p.ident);
        let types = member.params.iter().map(|p| &p.ty);
        let pushes = member.params.iter().map(push);
        let docs = member_docs(member, &format!("Calls `{js_name}` on the target."));
        quote! {
            #docs
            #vis fn #ident(&self #(, #names: #types)*) -> ::tether::typed::TypedPromise<#ok> {
                let mut __args = #private::ArgList::new(#js_name);
                #(#pushes)*
                __args.call(&self.stub)
            }
        }
    });

    // The same methods on the `with_promises()` view, where each argument may also be a
    // `TypedPromise` (`impl IntoArg<T>`). Kept apart so the plain methods' parameters stay
    // concrete types, and `"text".into()` still infers.
    let promise_methods = interface.methods().map(|member| {
        let js_name = &member.js_name;
        let ident = &member.ident;
        let ok = &member.output.ok;
        let names = member.params.iter().map(|p| &p.ident);
        // A borrowed parameter stays a reference (an argument of a client type can be a
        // promise through its `Deref`: `&*promise`).
        let types = member.params.iter().map(|p| {
            let ty = &p.ty;
            if p.by_ref {
                quote!(#ty)
            } else {
                quote!(impl ::tether::typed::IntoArg<#ty>)
            }
        });
        let pushes = member.params.iter().map(|p| {
            let (name, label, ty) = (&p.ident, &p.label, &p.ty);
            let arg = quote!(<_ as ::tether::typed::IntoArg<#ty>>::into_arg(#name));
            if p.by_ref {
                push(p)
            } else if p.optional {
                quote_spanned!(p.ty.span()=> __args.push_optional_arg(#label, #arg);)
            } else {
                quote_spanned!(p.ty.span()=> __args.push_arg(#label, #arg);)
            }
        });
        let doc = format!(
            "Calls `{js_name}` on the target; each argument taken by value may be a value or a \
             `tether::typed::TypedPromise` of one."
        );
        quote! {
            #[doc = #doc]
            #vis fn #ident(&self #(, #names: #types)*) -> ::tether::typed::TypedPromise<#ok> {
                let mut __args = #private::ArgList::new(#js_name);
                #(#pushes)*
                __args.call(&self.client.stub)
            }
        }
    });
    let view = format_ident!("{}WithPromises", trait_ident);
    let view_doc = format!(
        "The methods of [`{client}`] with arguments that may be promises (`impl \
         tether::typed::IntoArg<T>`: a `T` or a `tether::typed::TypedPromise<T>`): a promise \
         argument is pipelined, and inside a `TypedPromise::map` mapper the element \
         placeholder is passed this way. From [`{client}::with_promises`]."
    );

    let getters = interface.getters().map(|member| {
        let js_name = &member.js_name;
        let ident = &member.ident;
        let ok = &member.output.ok;
        let docs = member_docs(
            member,
            &format!("Reads property `{js_name}` of the target."),
        );
        quote! {
            #docs
            #vis fn #ident(&self) -> ::tether::typed::TypedPromise<#ok> {
                #private::get(&self.stub, #js_name)
            }
        }
    });

    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug)]
        #vis struct #client {
            stub: ::tether::Stub,
        }

        impl #client {
            /// Serves `implementation` locally: a new target (one new lineage), and a client for it.
            /// Pass the client (or `tether::Stub::from(client)`) to a session or to another call.
            #vis fn serve(implementation: impl #trait_ident) -> Self {
                Self::from_stub(::tether::Stub::new(#server::new(implementation)))
            }

            /// Uses `stub` as this interface.
            #vis fn from_stub(stub: ::tether::Stub) -> Self {
                Self { stub }
            }

            /// The untyped stub.
            #vis fn stub(&self) -> &::tether::Stub {
                &self.stub
            }

            /// Unwraps the untyped stub.
            #vis fn into_stub(self) -> ::tether::Stub {
                self.stub
            }

            /// The methods with arguments that may be promises (a `T` or a
            /// `tether::typed::TypedPromise<T>`), e.g. the element placeholder inside a
            /// `TypedPromise::map` mapper: `ids.map(|id| api.with_promises().name_of(id))`.
            #[allow(dead_code)]
            #vis fn with_promises(&self) -> #view<'_> {
                #view { client: self }
            }

            #(#methods)*
            #(#getters)*
        }

        #[doc = #view_doc]
        #[derive(Clone, Copy, Debug)]
        #[allow(dead_code)]
        #vis struct #view<'__a> {
            client: &'__a #client,
        }

        #[allow(dead_code)]
        impl #view<'_> {
            #(#promise_methods)*
        }

        impl ::tether::typed::Client for #client {
            const INTERFACE: &'static str = #trait_name;

            fn from_stub(stub: ::tether::Stub) -> Self {
                Self { stub }
            }

            fn stub(&self) -> &::tether::Stub {
                &self.stub
            }

            fn into_stub(self) -> ::tether::Stub {
                self.stub
            }
        }

        impl ::core::convert::From<::tether::Stub> for #client {
            fn from(stub: ::tether::Stub) -> Self {
                Self { stub }
            }
        }

        impl ::core::convert::From<#client> for ::tether::Stub {
            fn from(client: #client) -> Self {
                client.stub
            }
        }

        impl ::core::convert::From<#client> for ::tether::Value {
            fn from(client: #client) -> Self {
                ::tether::Value::Stub(client.stub)
            }
        }

        impl #private::serde::Serialize for #client {
            fn serialize<__S: #private::serde::Serializer>(
                &self,
                serializer: __S,
            ) -> ::core::result::Result<__S::Ok, __S::Error> {
                #private::serde::Serialize::serialize(&self.stub, serializer)
            }
        }

        impl<'__de> #private::serde::Deserialize<'__de> for #client {
            fn deserialize<__D: #private::serde::Deserializer<'__de>>(
                deserializer: __D,
            ) -> ::core::result::Result<Self, __D::Error> {
                <::tether::Stub as #private::serde::Deserialize<'__de>>::deserialize(deserializer)
                    .map(Self::from_stub)
            }
        }
    }
}

/// Adds parameter `p` (a value, or a reference to one) to the client's argument list `__args`.
fn push(p: &crate::model::Param) -> TokenStream {
    let (name, label) = (&p.ident, &p.label);
    let value = if p.by_ref {
        quote!(#name)
    } else {
        quote!(&#name)
    };
    if p.optional {
        quote_spanned!(p.ty.span()=> __args.push_optional(#label, #value);)
    } else {
        quote_spanned!(p.ty.span()=> __args.push(#label, #value);)
    }
}

/// The member's own docs, or `fallback` when it has none.
fn member_docs(member: &Member, fallback: &str) -> TokenStream {
    let docs: Vec<_> = member.docs().collect();
    if docs.is_empty() {
        quote!(#[doc = #fallback])
    } else {
        quote!(#(#docs)*)
    }
}

/// One check per result type, reported at that type: it must cross the wire. (Parameter types
/// are checked where the server reads them and the client writes them, spanned at the type.)
fn type_checks(interface: &Interface) -> TokenStream {
    let private = quote!(::tether::typed::__private);
    let checks = interface
        .members
        .iter()
        .filter(|member| member.kind != crate::model::Kind::Dispose)
        .map(|member| {
            let ok = &member.output.ok;
            quote_spanned!(member.output.span=> #private::assert_transferable::<#ok>();)
        });
    let name = format_ident!("__tether_check_{}", interface.ident);
    quote! {
        #[allow(non_snake_case, dead_code)]
        fn #name() {
            #(#checks)*
        }
    }
}
