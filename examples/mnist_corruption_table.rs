//! Times the full MNIST corruption tables with a stand-in classifier (nearest class mean):
//! 10k test images × 15 benchmark corruptions × 5 severities (CIFAR table), and MNIST-C.
//!
//! `cargo run --release --example mnist_corruption_table [SUITE...]` (default: cifar-c mnist-c)

use std::path::Path;
use std::time::Instant;

use lcr_verify::corrupt::Suite;
use lcr_verify::data::{self, DatasetKind};
use lcr_verify::robustness::{self, EvalOptions, LoadedModel, NearestClassMean, RobustnessRequest};
use lcr_verify::run_dir::RunDir;

fn main() -> lcr_verify::Result<()> {
    let ds = data::load(DatasetKind::Mnist, None)?;
    let model = NearestClassMean::fit(&ds.train)?;
    let test = ds.test.clone();
    let dataset = serde_json::json!({ "name": "mnist", "checksum": ds.checksum });
    let loader = |_: &Path| {
        Ok(LoadedModel { classifier: Box::new(model.clone()), test: test.clone(), dataset: dataset.clone() })
    };
    let run_dir = std::env::temp_dir().join("lcr-verify-mnist-table");
    lcr_verify::fsio::ensure_dir(&run_dir)?;
    let suites: Vec<String> = std::env::args().skip(1).collect();
    let suites = if suites.is_empty() { vec!["cifar-c".to_string(), "mnist-c".to_string()] } else { suites };
    for s in suites {
        let suite: Suite = s.parse()?;
        let req = RobustnessRequest {
            suite: Some(suite),
            corruptions: (suite != Suite::MnistC).then(|| "benchmark".to_string()),
            ..Default::default()
        };
        let t = Instant::now();
        let options = EvalOptions { chunk: 2000, progress: false };
        let report = robustness::run(&RunDir::new(&run_dir), &req, &loader, &options)?;
        print!("{}", robustness::summary(&report));
        let cells: usize = report.corruptions.iter().map(|c| c.errors.len()).sum();
        eprintln!(
            "{s}: {} images x {cells} corruption-severity cells in {:.1} s ({} threads)",
            test.len(),
            t.elapsed().as_secs_f64(),
            rayon::current_num_threads()
        );
    }
    Ok(())
}
