fn main() {
    // The grammar-file parsers (`src/**/*.lalrpop`) are generated into OUT_DIR.
    lalrpop::Configuration::new()
        .use_cargo_dir_conventions()
        .emit_rerun_directives(true)
        .process()
        .expect("lalrpop failed to generate the grammar-file parsers");
}
