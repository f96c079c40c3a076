//! Training on small generated data: it learns, it is deterministic, and a resumed run ends bit-identical.

mod common;

use std::fs;

use common::write_mnist_like;
use lcr_verify::train::{self, Metrics, RawConfig, TrainConfig, TrainOptions};

/// A small MLP configuration on `data`; `extra` (TOML) overrides any key.
fn config(data: &std::path::Path, extra: &str) -> TrainConfig {
    let base = format!(
        "data_dir = {:?}\nwidths = [64, 64, 64]\nepochs = 3\nbatch_size = 50\nseed = 3\n",
        data.display().to_string()
    );
    let base: RawConfig = toml::from_str(&base).unwrap();
    base.merged(toml::from_str(extra).unwrap()).check().unwrap()
}

fn run(cfg: &TrainConfig, out: &std::path::Path, stop_after: Option<usize>, resume: bool) -> Metrics {
    let opts = TrainOptions { resume, stop_after, progress: false, label: String::new() };
    train::train(cfg, out, &opts).unwrap().metrics
}

#[test]
fn the_mlp_learns_a_separable_task() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 600, 200, 11);
    let m = run(&config(&data, ""), &root.path().join("run"), None, false);
    let f = m.final_.as_ref().unwrap();
    assert!(f.test_accuracy >= 0.9, "test accuracy {}", f.test_accuracy);
    assert_eq!(f.test_total, 200);
    assert_eq!(m.epochs.len(), 3);
    assert!(m.epochs.iter().all(|e| e.lcr.is_none()), "λ = 0 computes no training LCR term");
    assert!(
        m.epochs[0].flip_ratio.contains_key("fc1.weight")
            && m.epochs[0].flip_ratio.contains_key("fc2.weight")
    );
    // The reported accuracy is the one `eval` computes from the saved model.
    let run_dir = lcr_verify::run_dir::RunDir::new(root.path().join("run"));
    let report = lcr_verify::eval::evaluate_run(&run_dir, None).unwrap();
    assert_eq!(report.accuracy, f.test_accuracy);
}

#[test]
fn lcr_is_logged_and_positive_when_on() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 300, 100, 12);
    for variant in ["layer", "stage"] {
        let cfg = config(&data, &format!("epochs = 1\nlcr_weight = 0.01\nlcr_variant = \"{variant}\"\n"));
        let m = run(&cfg, &root.path().join(variant), None, false);
        let lcr = m.epochs[0].lcr.expect("logged");
        assert!(lcr > 0.0 && lcr.is_finite(), "{variant}: {lcr}");
        assert!(m.epochs[0].lcr_eval > 0.0);
    }
}

#[test]
fn same_seed_same_bytes_and_resume_is_bit_identical() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 200, 60, 13);
    let cfg = config(&data, "lcr_weight = 0.001\n");
    let a = root.path().join("a");
    let b = root.path().join("b");
    let c = root.path().join("c");
    run(&cfg, &a, None, false);
    run(&cfg, &b, None, false);
    let model = |d: &std::path::Path| fs::read(d.join("model.safetensors")).unwrap();
    assert_eq!(model(&a), model(&b), "same seed, same model bytes");
    // Interrupted after one epoch, then resumed.
    let partial = run(&cfg, &c, Some(1), false);
    assert!(partial.final_.is_none() && partial.epochs.len() == 1);
    assert!(c.join("checkpoint.safetensors").exists() && !c.join("model.safetensors").exists());
    let resumed = run(&cfg, &c, None, true);
    assert_eq!(model(&a), model(&c), "resumed run ends with the same bytes");
    assert!(!c.join("checkpoint.safetensors").exists());
    assert_eq!(resumed.epochs.len(), 3);
    // A different seed gives a different model.
    let mut other = cfg.clone();
    other.seed = 4;
    let d = root.path().join("d");
    run(&other, &d, None, false);
    assert_ne!(model(&a), model(&d));
}

#[test]
fn a_finished_run_is_not_overwritten_and_resume_needs_the_same_config() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 100, 20, 14);
    let cfg = config(&data, "epochs = 2\n");
    let out = root.path().join("run");
    run(&cfg, &out, Some(1), false);
    let err = train::train(&cfg, &out, &TrainOptions::default()).err().unwrap().to_string();
    assert!(err.contains("unfinished run") && err.contains("--resume"), "{err}");
    let changed = TrainConfig { lr: 0.5, ..cfg.clone() };
    let err =
        train::train(&changed, &out, &TrainOptions { resume: true, ..Default::default() }).err().unwrap();
    assert!(err.to_string().contains("configuration differs"), "{err}");
    run(&cfg, &out, None, true);
    let err = train::train(&cfg, &out, &TrainOptions::default()).err().unwrap().to_string();
    assert!(err.contains("already holds a trained model"), "{err}");
}

#[test]
fn cnn_and_resnet_train_on_tiny_data() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 100, 40, 15);
    for (arch, widths) in [("cnn", "[4, 8]"), ("resnet", "[4, 8]")] {
        let text = format!(
            "data_dir = {:?}\narch = \"{arch}\"\nwidths = {widths}\nblocks = 1\nepochs = 1\nbatch_size = 25\nlcr_weight = 0.01\n",
            data.display().to_string()
        );
        let cfg = toml::from_str::<RawConfig>(&text).unwrap().check().unwrap();
        let m = run(&cfg, &root.path().join(arch), None, false);
        assert!(m.epochs[0].lcr.unwrap() > 0.0, "{arch}");
        assert!(m.final_.unwrap().test_accuracy > 0.0);
    }
}

/// Convolutional training splits its work over threads (images, groups of images, channels); the model it ends
/// with is the same bytes on one, two or three threads, and run after run.
#[test]
fn cnn_and_resnet_models_are_the_same_bytes_on_any_thread_count() {
    let root = tempfile::tempdir().unwrap();
    let data = write_mnist_like(&root.path().join("data"), 60, 20, 16);
    for arch in ["cnn", "resnet"] {
        let text = format!(
            "data_dir = {:?}\narch = \"{arch}\"\nwidths = [4, 8]\nblocks = 1\nepochs = 1\nbatch_size = 20\nlcr_weight = 0.01\n",
            data.display().to_string()
        );
        let cfg = toml::from_str::<RawConfig>(&text).unwrap().check().unwrap();
        let model = |threads: usize, name: &str| {
            let out = root.path().join(format!("{arch}-{name}"));
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| run(&cfg, &out, None, false));
            fs::read(out.join("model.safetensors")).unwrap()
        };
        let one = model(1, "one");
        assert_eq!(one, model(1, "again"), "{arch}: two runs differ");
        assert_eq!(one, model(2, "two"), "{arch}: two threads differ from one");
        assert_eq!(one, model(3, "three"), "{arch}: three threads differ from one");
    }
}
