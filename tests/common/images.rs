//! Image fixtures for the corruption tests (see tests/fixtures/README.md).

use std::path::PathBuf;

use lcr_verify::corrupt::{Image, npy};
use lcr_verify::data::ImageSet;

/// `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The 20 real CIFAR-10 test images shipped in foolbox 3.3.4 (see tests/fixtures/README.md).
pub fn cifar_images() -> ImageSet {
    let imgs = npy::read(&fixture("cifar10_foolbox_images.npy")).unwrap();
    let labels = npy::read(&fixture("cifar10_foolbox_labels.npy")).unwrap();
    let l = labels.labels(&fixture("cifar10_foolbox_labels.npy")).unwrap();
    ImageSet::new(32, 32, 3, imgs.data, l).unwrap()
}

/// Two public-domain / CC0 photographs, resized to 256 and centre-cropped to 224 (the ImageNet-C preprocessing).
pub fn photos224() -> Vec<Image> {
    let a = npy::read(&fixture("photos224_images.npy")).unwrap();
    a.data.chunks(224 * 224 * 3).map(|c| Image::from_u8(224, 224, 3, c).unwrap()).collect()
}

/// The first `n` MNIST test digits from the shipped dataset.
pub fn mnist_digits(n: usize) -> Vec<Image> {
    let ds = lcr_verify::data::load(lcr_verify::data::DatasetKind::Mnist, None).unwrap();
    (0..n).map(|i| Image::from_u8(28, 28, 1, ds.test.image(i)).unwrap()).collect()
}

/// The images of a set as float images.
pub fn images(set: &ImageSet) -> Vec<Image> {
    (0..set.len())
        .map(|i| Image::from_u8(set.height, set.width, set.channels, set.image(i)).unwrap())
        .collect()
}
