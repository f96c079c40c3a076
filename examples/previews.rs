//! Writes the preview grids committed under `docs/img/`: an MNIST digit under the CIFAR-table suite (the
//! ImageNet-C-style table lcr-verify uses for MNIST) and under MNIST-C (both through the `corrupt` command's
//! code path), and a real CIFAR-10 test image under CIFAR-10-C.
//!
//! `cargo run --release --example previews`

use std::path::PathBuf;

use lcr_verify::corrupt::{self, CorruptRequest, Corruptor, Image, Split, Suite, npy, preview};

fn main() -> lcr_verify::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = root.join("docs/img");
    for (suite, name) in
        [(Suite::CifarC, "corruptions-mnist-cifar-c.png"), (Suite::MnistC, "corruptions-mnist-c.png")]
    {
        let req = CorruptRequest {
            dataset: "mnist".into(),
            data_dir: None,
            split: Split::Test,
            suite,
            corruptions: None,
            severities: None,
            seed: 0,
            limit: Some(1),
            crop: None,
            out: None,
            layout: None,
            preview: Some(out.join(name)),
            preview_index: 0,
            frost_dir: None,
        };
        corrupt::run(&req, true)?;
        eprintln!("wrote {}", out.join(name).display());
    }
    let cifar = npy::read(&root.join("tests/fixtures/cifar10_foolbox_images.npy"))?;
    let img = Image::from_u8(32, 32, 3, &cifar.data[3 * 3072..4 * 3072])?;
    let plan = corrupt::plan(Suite::CifarC, None, None)?;
    let path = out.join("corruptions-cifar10-cifar-c.png");
    preview::write_png(&path, &img, &Corruptor::new(Suite::CifarC.table()), &plan, 0, 3)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
