//! The example configurations in `configs/` parse, pass the checks, and say what they claim: `mlp.toml` spells out
//! every default, `cnn.toml` and `resnet.toml` are those architectures' defaults.

use std::path::PathBuf;

use lcr_verify::lcr::LcrVariant;
use lcr_verify::model::Arch;
use lcr_verify::train::RawConfig;

fn example(name: &str) -> RawConfig {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs").join(name);
    RawConfig::from_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn defaults_for(arch: Arch) -> RawConfig {
    RawConfig { arch: Some(arch), ..RawConfig::default() }
}

#[test]
fn every_example_passes_the_checks() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    assert_eq!(names, ["cnn.toml", "lcr-stage.toml", "mlp.toml", "resnet.toml"]);
    for name in &names {
        example(name).check().unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn the_mlp_example_lists_every_key_with_its_default() {
    let raw = example("mlp.toml");
    assert_eq!(raw, raw.clone().check().unwrap().to_raw(), "mlp.toml sets every key");
    assert_eq!(raw.check().unwrap(), RawConfig::default().check().unwrap());
}

#[test]
fn the_architecture_examples_are_their_defaults() {
    for (name, arch) in [("cnn.toml", Arch::Cnn), ("resnet.toml", Arch::Resnet)] {
        assert_eq!(example(name).check().unwrap(), defaults_for(arch).check().unwrap(), "{name}");
    }
    let stage = example("lcr-stage.toml").check().unwrap();
    assert_eq!((stage.lcr_variant, stage.lcr_weight), (LcrVariant::Stage, 0.001));
}
