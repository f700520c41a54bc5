//! Printing command results: JSON on stdout with `--json`, plain lines otherwise.

use std::io::Read;

use secrecy::{ExposeSecret as _, SecretString};
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

/// Reads a person's password from standard input and holds it to the policy the API applies
/// (`tenantry_core::password`), so a weak one is refused before anything is written.
pub fn password_from_stdin(flag: &str) -> Result<SecretString, CliError> {
    let password = secret_from_stdin(flag)?;
    tenantry_core::password::check(password.expose_secret())
        .map_err(|e| CliError::usage(flag, e))?;
    Ok(password)
}

/// `actor` column of audit rows written by the CLI.
pub fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// Hashes a password with argon2id (default cost) off the async executor: it takes tens of ms.
pub async fn hash_password(password: &SecretString) -> Result<String, CliError> {
    let password = password.clone();
    tokio::task::spawn_blocking(move || tenantry_core::vault::hash_password(&password))
        .await
        .map_err(|e| CliError::Failed(format!("password hashing stopped: {e}")))?
        .map_err(|e| CliError::Failed(format!("password hashing failed: {e}")))
}
