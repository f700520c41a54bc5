//! The proc macro behind `tenantry_migrate::embed!`. Use that macro, not this crate.
//!
//! `include_dir!` only accepts a single string literal, and a `macro_rules!` macro cannot
//! build one from `CARGO_MANIFEST_DIR` and a caller's relative path. So this macro resolves
//! the path itself, against the manifest dir of the crate being compiled (the caller), and
//! embeds each file with `include_str!`, which also makes cargo rebuild when a file changes.

use proc_macro::{Delimiter, TokenStream, TokenTree};
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use std::path::{Path, PathBuf};

/// The dialect subdirectories a migrations directory may hold.
const DIALECT_DIRS: [&str; 2] = ["postgres", "sqlite"];

/// `embed_migrations!(<path to tenantry_migrate>, "relative/dir")`.
#[proc_macro]
pub fn embed_migrations(input: TokenStream) -> TokenStream {
    match expand(input) {
        Ok(tokens) => tokens.into(),
        Err(message) => quote! { ::core::compile_error!(#message) }.into(),
    }
}

fn expand(input: TokenStream) -> Result<TokenStream2, String> {
    let (krate, relative) = split_input(input)?;
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")
        .map_err(|_| "CARGO_MANIFEST_DIR is not set; build with cargo".to_string())?;
    let root = Path::new(&manifest_dir).join(&relative);
    if !root.is_dir() {
        return Err(format!(
            "migrations directory {} not found (the path is relative to the calling crate's Cargo.toml directory)",
            root.display()
        ));
    }
    let mut dialects = Vec::new();
    for dialect in DIALECT_DIRS {
        let dir = root.join(dialect);
        dialects.push(if dir.is_dir() {
            let files = dialect_files(&krate, &dir)?;
            quote! { ::core::option::Option::Some({
                const FILES: &[#krate::__private::EmbeddedFile] = &[#(#files),*];
                FILES
            }) }
        } else {
            quote! { ::core::option::Option::None }
        });
    }
    let [postgres, sqlite] = [&dialects[0], &dialects[1]];
    Ok(quote! { #krate::MigrationSource::__embedded(#relative, #postgres, #sqlite) })
}

/// Splits `<crate path tokens> , "literal"`.
fn split_input(input: TokenStream) -> Result<(TokenStream2, String), String> {
    let mut tokens: Vec<TokenTree> = input.into_iter().collect();
    let usage = "usage: embed!(\"path/relative/to/Cargo.toml/dir\")";
    let literal = match tokens.pop().map(unwrap_invisible_group) {
        Some(TokenTree::Literal(literal)) => literal.to_string(),
        _ => return Err(usage.to_string()),
    };
    match tokens.pop() {
        Some(TokenTree::Punct(p)) if p.as_char() == ',' => {}
        _ => return Err(usage.to_string()),
    }
    let path = literal
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .filter(|path| !path.is_empty() && !path.contains('\\'))
        .ok_or_else(|| format!("{usage}: a plain, non-empty string literal without escapes"))?;
    let krate: TokenStream = tokens.into_iter().collect();
    Ok((krate.into(), path.to_string()))
}

/// A `$path:literal` forwarded by `macro_rules!` arrives wrapped in an invisible group.
fn unwrap_invisible_group(token: TokenTree) -> TokenTree {
    match token {
        TokenTree::Group(group) if group.delimiter() == Delimiter::None => {
            let mut inner = group.stream().into_iter();
            match (inner.next(), inner.next()) {
                (Some(only), None) => only,
                _ => TokenTree::Group(group),
            }
        }
        other => other,
    }
}

/// One `EmbeddedFile` expression per file, sorted by name; dotfiles (`.gitkeep`) are skipped.
fn dialect_files(krate: &TokenStream2, dir: &Path) -> Result<Vec<TokenStream2>, String> {
    let read_err = |e: std::io::Error| format!("cannot read {}: {e}", dir.display());
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read_err)?;
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("non UTF-8 file name in {}", dir.display()))?;
        if name.starts_with('.') {
            continue;
        }
        if !path.is_file() {
            return Err(format!(
                "{} is not a file: migrations must sit directly in {}",
                path.display(),
                dir.display()
            ));
        }
        let absolute = path
            .canonicalize()
            .map_err(|e| format!("cannot resolve {}: {e}", path.display()))?;
        let absolute = absolute
            .to_str()
            .ok_or_else(|| format!("non UTF-8 path {}", absolute.display()))?;
        let absolute = proc_macro2::Literal::string(absolute);
        let name = proc_macro2::Literal::string(name);
        files.push(quote! {
            #krate::__private::EmbeddedFile { name: #name, sql: ::core::include_str!(#absolute) }
        });
    }
    Ok(files)
}
