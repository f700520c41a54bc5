//! Unit tests of the file-name helpers.

use std::path::{Path, PathBuf};

use super::files::{url_path, with_suffix};

#[test]
fn url_paths_survive_sqlx_percent_decoding() {
    assert_eq!(
        url_path(Path::new("/data/a%b?c#d/t.db")),
        "/data/a%25b%3Fc%23d/t.db"
    );
    assert_eq!(
        with_suffix(Path::new("/d/t_x.db"), "-wal"),
        PathBuf::from("/d/t_x.db-wal")
    );
}
