//! `#[derive(Module)]` for descent: the `visit` of a model struct, generated
//! from its fields, so that no child can be left out of it.
//!
//! Use it through `descent::nn::Module` (or `descent_nn::Module`): the derive
//! and the trait share the name, as serde's do, so one `use` brings both. The
//! documentation with examples is on the trait's re-export in `descent_nn`.
//!
//! # What the derive generates
//!
//! `impl Module for Model`, with
//! - `forward`, which calls the struct's own (inherent) `forward` method, as
//!   burn models define it: `impl Model { fn forward<'t>(&self, x: Var<'t>)
//!   -> Var<'t> { … } }`;
//! - `visit`, which hands every field to the visitor in field order, under the
//!   field's name:
//!   - a `Parameter` field is a parameter, or a buffer if marked
//!     `#[module(buffer)]`; an `Option<Parameter>` is one when present;
//!   - a `Generator` field is a random generator (as `Dropout` owns);
//!   - a `Vec<M>` field is a list of children named `name.0`, `name.1`, …
//!     as PyTorch's `ModuleList` names them;
//!   - an `Option<M>` field is a child when present;
//!   - a field marked `#[module(skip)]` is left out (sizes, configuration);
//!   - any other field is a child module.
//!
//! # Why every other field must be a module
//!
//! A macro sees the field's type as written, not whether it implements
//! `Module`. So the rule is: what the derive does not recognise as a
//! parameter, a generator, a list or an option is a child, and the generated
//! code hands it to `Visitor::module`, which requires `Module`. A field of
//! another type is then a compile error at that field (with the advice on the
//! `Module` trait's `#[diagnostic::on_unimplemented]`), never a silently
//! missing child. Types that are plainly data (numbers, strings, references,
//! arrays, tuples, cells) are refused by the derive itself, naming the field.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{
    parse_macro_input, Data, DeriveInput, Field, GenericArgument, Ident, Path, PathArguments, Type,
};

/// Implements `Module` for a struct: `visit` from the fields, `forward` by
/// calling the struct's inherent `forward`. See the crate documentation.
#[proc_macro_derive(Module, attributes(module))]
pub fn derive_module(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// What a field holds, as far as the walk is concerned.
enum Role {
    Parameter,
    Buffer,
    Generator,
    Child,
}

/// How the field holds it.
enum Holder {
    Plain,
    Option,
    Vec,
}

/// One field to visit.
struct Visited<'a> {
    member: TokenStream2,
    name: String,
    role: Role,
    holder: Holder,
    /// The type that must implement `Module` (for children), spanned at the
    /// field so a compile error points there.
    child_type: Option<&'a Type>,
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let krate = crate_path(input)?;
    let fields = match &input.data {
        Data::Struct(data) => &data.fields,
        Data::Enum(data) => {
            return Err(syn::Error::new(
                data.enum_token.span(),
                "#[derive(Module)] works on structs: a model is a struct of layers",
            ))
        }
        Data::Union(data) => {
            return Err(syn::Error::new(
                data.union_token.span(),
                "#[derive(Module)] works on structs: a model is a struct of layers",
            ))
        }
    };
    let mut visited = Vec::new();
    let mut errors: Option<syn::Error> = None;
    for (index, field) in fields.iter().enumerate() {
        match classify(field, index) {
            Ok(Some(field)) => visited.push(field),
            Ok(None) => {}
            Err(error) => match &mut errors {
                Some(errors) => errors.combine(error),
                None => errors = Some(error),
            },
        }
    }
    if let Some(errors) = errors {
        return Err(errors);
    }

    let calls = visited.iter().map(|field| visit_call(field, &krate));
    let name = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    // Children whose type involves a type parameter need `Module` on it; the
    // bound is added here, as serde adds `Serialize` bounds, so that a generic
    // model needs no where clause of its own.
    let type_parameters: Vec<&Ident> = input
        .generics
        .type_params()
        .map(|parameter| &parameter.ident)
        .collect();
    let mut bounds: Vec<TokenStream2> = where_clause
        .map(|clause| {
            clause
                .predicates
                .iter()
                .map(|p| p.to_token_stream())
                .collect()
        })
        .unwrap_or_default();
    for field in &visited {
        if let Some(child) = field.child_type {
            if mentions_any(child.to_token_stream(), &type_parameters) {
                bounds.push(quote_spanned!(child.span()=> #child: #krate::Module));
            }
        }
    }
    let where_clause = if bounds.is_empty() {
        quote!()
    } else {
        quote!(where #(#bounds),*)
    };
    let forward = forward_method(name, &krate);
    let visitor = if visited.is_empty() {
        quote!(_visitor)
    } else {
        quote!(visitor)
    };

    Ok(quote! {
        impl #impl_generics #krate::Module for #name #type_generics #where_clause {
            #forward

            fn visit(&self, #visitor: &mut dyn #krate::Visitor) {
                #(#calls)*
            }
        }
    })
}

/// `Module::forward`, calling the struct's own `forward`.
///
/// Without an inherent `forward`, `Name::forward` would name this very
/// method; the denied lint turns that endless recursion into a compile
/// error. The method carries the struct name's span, not the macro's: the
/// compiler does not report lints inside another crate's macro expansion.
fn forward_method(name: &Ident, krate: &TokenStream2) -> TokenStream2 {
    quote_spanned! {name.span()=>
        #[deny(unconditional_recursion)]
        fn forward<'__tape>(
            &self,
            input: #krate::__derive::Var<'__tape>,
        ) -> #krate::__derive::Var<'__tape> {
            #name::forward(self, input)
        }
    }
}

fn visit_call(field: &Visited<'_>, krate: &TokenStream2) -> TokenStream2 {
    let member = &field.member;
    let name = &field.name;
    let method = match field.role {
        Role::Parameter => quote!(parameter),
        Role::Buffer => quote!(buffer),
        Role::Generator => quote!(generator),
        Role::Child => quote!(module),
    };
    let span = field.child_type.map_or_else(Span::call_site, Spanned::span);
    match field.holder {
        Holder::Plain => match field.role {
            Role::Child => quote_spanned!(span=> visitor.module(#name, &self.#member);),
            _ => quote!(visitor.#method(#name, &self.#member);),
        },
        Holder::Option => quote_spanned! {span=>
            if let ::core::option::Option::Some(item) = &self.#member {
                visitor.#method(#name, item);
            }
        },
        Holder::Vec => quote_spanned! {span=>
            visitor.module(#name, &#krate::__derive::ModuleList(&self.#member));
        },
    }
}

/// The field's role from its attributes and type, `None` for a skipped field.
fn classify(field: &Field, index: usize) -> syn::Result<Option<Visited<'_>>> {
    let mut skip = false;
    let mut buffer = false;
    for attribute in &field.attrs {
        if !attribute.path().is_ident("module") {
            continue;
        }
        attribute.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") {
                skip = true;
                Ok(())
            } else if meta.path.is_ident("buffer") {
                buffer = true;
                Ok(())
            } else {
                Err(meta.error("unknown #[module(…)] option on a field: use `skip` or `buffer`"))
            }
        })?;
    }
    let (member, name) = match &field.ident {
        Some(ident) => {
            let name = ident.to_string();
            let name = name.strip_prefix("r#").unwrap_or(&name).to_owned();
            (ident.to_token_stream(), name)
        }
        None => {
            let index = syn::Index::from(index);
            (index.to_token_stream(), index.index.to_string())
        }
    };
    if skip {
        if buffer {
            return Err(syn::Error::new(
                field.span(),
                format!(
                    "field `{name}`: #[module(skip)] and #[module(buffer)] contradict each other"
                ),
            ));
        }
        return Ok(None);
    }

    let (holder, inner) = match wrapper(&field.ty) {
        Some(("Option", inner)) => (Holder::Option, inner),
        Some(("Vec", inner)) => (Holder::Vec, inner),
        _ => (Holder::Plain, &field.ty),
    };
    let leaf = last_ident(inner);
    let role = match leaf.as_deref() {
        Some("Parameter") if buffer => Role::Buffer,
        Some("Parameter") => Role::Parameter,
        Some("Generator") if !buffer => Role::Generator,
        _ if buffer => {
            return Err(syn::Error::new(
                field.ty.span(),
                format!(
                    "field `{name}`: #[module(buffer)] marks a `Parameter` (or \
                     `Option<Parameter>`) field that is saved but not trained"
                ),
            ))
        }
        _ => Role::Child,
    };
    if matches!(holder, Holder::Vec) && !matches!(role, Role::Child) {
        return Err(syn::Error::new(
            field.ty.span(),
            format!(
                "field `{name}`: a `Vec` of parameters, buffers or generators has no \
                 names #[derive(Module)] can give; hold each in its own field, or in a \
                 child module, or mark the field #[module(skip)] and write `visit` by hand"
            ),
        ));
    }
    if matches!(role, Role::Child) {
        if let Some(kind) = plain_data(inner) {
            return Err(syn::Error::new(
                field.ty.span(),
                format!(
                    "#[derive(Module)] cannot classify field `{name}`: {kind}, not a \
                     module, a `Parameter` or a `Generator`. Mark plain data and \
                     configuration #[module(skip)] to leave it out of the model's state"
                ),
            ));
        }
    }
    let child_type = matches!(role, Role::Child).then_some(inner);
    Ok(Some(Visited {
        member,
        name,
        role,
        holder,
        child_type,
    }))
}

/// `Some((wrapper, inner))` for `Option<inner>` and `Vec<inner>`.
fn wrapper(ty: &Type) -> Option<(&'static str, &Type)> {
    let Type::Path(path) = ty else { return None };
    let segment = path.path.segments.last()?;
    let wrapper = match segment.ident.to_string().as_str() {
        "Option" => "Option",
        "Vec" => "Vec",
        _ => return None,
    };
    let PathArguments::AngleBracketed(arguments) = &segment.arguments else {
        return None;
    };
    match arguments.args.first() {
        Some(GenericArgument::Type(inner)) if arguments.args.len() == 1 => Some((wrapper, inner)),
        _ => None,
    }
}

fn last_ident(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(path) if path.qself.is_none() => {
            path.path.segments.last().map(|s| s.ident.to_string())
        }
        Type::Group(group) => last_ident(&group.elem),
        Type::Paren(paren) => last_ident(&paren.elem),
        _ => None,
    }
}

/// What `ty` is, if it is plainly not a module: numbers, text, references,
/// arrays, tuples, cells and other standard containers of data.
fn plain_data(ty: &Type) -> Option<String> {
    let written = ty.to_token_stream().to_string();
    let what = match ty {
        Type::Reference(_) | Type::Ptr(_) => "a reference",
        Type::Array(_) | Type::Slice(_) => "an array",
        Type::Tuple(_) => "a tuple",
        Type::BareFn(_) => "a function pointer",
        Type::Path(_) => {
            const DATA: &[&str] = &[
                "bool",
                "char",
                "str",
                "String",
                "u8",
                "u16",
                "u32",
                "u64",
                "u128",
                "usize",
                "i8",
                "i16",
                "i32",
                "i64",
                "i128",
                "isize",
                "f32",
                "f64",
                "Cell",
                "RefCell",
                "PhantomData",
                "PathBuf",
                "HashMap",
                "BTreeMap",
                "HashSet",
                "Tensor",
                "ArrayD",
                "Array1",
                "Array2",
            ];
            let ident = last_ident(ty)?;
            if !DATA.contains(&ident.as_str()) {
                return None;
            }
            "plain data"
        }
        _ => return None,
    };
    Some(format!("`{written}` is {what}"))
}

/// Whether `tokens` mention one of `idents` anywhere.
fn mentions_any(tokens: TokenStream2, idents: &[&Ident]) -> bool {
    tokens.into_iter().any(|token| match token {
        proc_macro2::TokenTree::Ident(ident) => idents.iter().any(|known| **known == ident),
        proc_macro2::TokenTree::Group(group) => mentions_any(group.stream(), idents),
        _ => false,
    })
}

/// The path to `descent_nn` in the crate being compiled.
///
/// A proc macro cannot see how the user named the crate, so it asks: an
/// explicit `#[module(crate = path)]` wins; otherwise `::descent_nn` for
/// descent-nn's own tests and for crates that depend on descent-nn but not on
/// descent (from their Cargo.toml), and `::descent::nn` for everyone else.
fn crate_path(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let mut explicit: Option<Path> = None;
    for attribute in &input.attrs {
        if !attribute.path().is_ident("module") {
            continue;
        }
        attribute.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                let value = meta.value()?;
                explicit = Some(if value.peek(syn::LitStr) {
                    value.parse::<syn::LitStr>()?.parse()?
                } else {
                    value.parse()?
                });
                Ok(())
            } else {
                Err(meta.error(
                    "unknown #[module(…)] option on a struct: use `crate = path::to::descent_nn`",
                ))
            }
        })?;
    }
    if let Some(path) = explicit {
        return Ok(path.to_token_stream());
    }
    let package = std::env::var("CARGO_PKG_NAME").unwrap_or_default();
    let uses_nn_alone = package == "descent-nn" || {
        let manifest = std::env::var("CARGO_MANIFEST_DIR")
            .ok()
            .and_then(|dir| std::fs::read_to_string(format!("{dir}/Cargo.toml")).ok())
            .unwrap_or_default();
        package != "descent"
            && declares_dependency(&manifest, "descent-nn")
            && !declares_dependency(&manifest, "descent")
    };
    Ok(if uses_nn_alone {
        quote!(::descent_nn)
    } else {
        quote!(::descent::nn)
    })
}

/// Whether a Cargo.toml has a line declaring the dependency `name`
/// (`name = …`, `name.workspace = true`, `[dependencies.name]`). A plain
/// text scan: the manifest is only a hint, overridden by
/// `#[module(crate = …)]`, and a TOML parser would be a dependency of every
/// build for this one lookup.
fn declares_dependency(manifest: &str, name: &str) -> bool {
    manifest.lines().any(|line| {
        let line = line.trim();
        let key = line
            .strip_prefix("[dependencies.")
            .or_else(|| line.strip_prefix("[dev-dependencies."))
            .unwrap_or(line);
        key.strip_prefix(name).is_some_and(|rest| {
            let rest = rest.trim_start();
            rest.starts_with('=') || rest.starts_with('.') || rest.starts_with(']')
        })
    })
}
