//! Entry point: parse flags, run, map the outcome to an exit code.
fn main() {
    let cli = hf_cache_exporter::cli::Cli::from_env();
    let code = match hf_cache_exporter::app::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hf-cache-exporter: {e:#}");
            1
        }
    };
    std::process::exit(code);
}
