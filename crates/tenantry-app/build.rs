// `embed!` makes Cargo watch the migration files it read, but not the directory: without this
// a new migration file would not trigger a rebuild.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations-tenant");
}
