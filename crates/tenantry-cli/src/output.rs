//! Printing command results: JSON on stdout with `--json`, plain lines otherwise.

use std::io::Read;

use secrecy::SecretString;
use serde::Serialize;

use crate::error::CliError;

pub fn json<T: Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("command output serialises")
    );
}

/// Prints rows as aligned columns under a header.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Reads a secret from standard input, dropping one trailing newline. Empty input is refused.
pub fn secret_from_stdin(flag: &str) -> Result<SecretString, CliError> {
    let mut raw = String::new();
    std::io::stdin()
        .read_to_string(&mut raw)
        .map_err(|e| CliError::usage(flag, format!("cannot read standard input: {e}")))?;
    let trimmed = raw
        .strip_suffix('\n')
        .map(|s| s.strip_suffix('\r').unwrap_or(s))
        .unwrap_or(&raw);
    if trimmed.is_empty() {
        return Err(CliError::usage(flag, "standard input was empty"));
    }
    Ok(SecretString::from(trimmed.to_owned()))
}

/// A value's JSON text as a plain word (`active`, `tenant.create`), for tables and lines.
pub fn label<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
}

/// An optional value for a table cell: `-` when absent.
pub fn or_dash<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".into(), |v| v.to_string())
}
