//! `tether-bench-report RESULTS_DIR OUT.md`: writes the benchmark report from the files that
//! `bench/run.sh` left in `RESULTS_DIR`. See [`tether_bench::report`].

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, out] = args.as_slice() else {
        eprintln!("usage: tether-bench-report RESULTS_DIR OUT.md");
        return ExitCode::from(2);
    };
    let inputs = tether_bench::report::Inputs::read(Path::new(dir));
    let text = tether_bench::report::render(&inputs);
    match std::fs::write(out, text) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tether-bench-report: cannot write {out}: {error}");
            ExitCode::FAILURE
        }
    }
}
