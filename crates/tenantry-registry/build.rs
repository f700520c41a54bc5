fn main() {
    // New migration files must trigger a rebuild (see `tenantry_migrate::embed!`).
    println!("cargo:rerun-if-changed=../../migrations-master");
}
