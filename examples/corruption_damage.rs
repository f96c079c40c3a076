//! Prints the damage (mean absolute difference from the clean image, 0…1 scale) of every corruption at each
//! severity on fixed image sets, and the time per image: MNIST digits (CIFAR and ImageNet tables), the 20
//! CIFAR-10 test fixtures, the two 224 px photographs. `cargo run --release --example corruption_damage`
use lcr_verify::corrupt::*;
use lcr_verify::data::{DatasetKind, load};
use std::time::Instant;

fn main() {
    let ds = load(DatasetKind::Mnist, None).unwrap();
    let imgs28: Vec<Image> = (0..20).map(|i| Image::from_u8(28, 28, 1, ds.test.image(i)).unwrap()).collect();
    let a = lcr_verify::corrupt::npy::read(std::path::Path::new("tests/fixtures/cifar10_foolbox_images.npy"))
        .unwrap();
    let imgs32: Vec<Image> = a.data.chunks(3072).map(|c| Image::from_u8(32, 32, 3, c).unwrap()).collect();
    let a =
        lcr_verify::corrupt::npy::read(std::path::Path::new("tests/fixtures/photos224_images.npy")).unwrap();
    let imgs224: Vec<Image> =
        a.data.chunks(224 * 224 * 3).map(|c| Image::from_u8(224, 224, 3, c).unwrap()).collect();
    for (name, set, table) in [
        ("mnist/cifar", &imgs28, Table::Cifar),
        ("mnist/imagenet", &imgs28, Table::ImageNet),
        ("cifar/cifar", &imgs32, Table::Cifar),
        ("cifar/imagenet", &imgs32, Table::ImageNet),
        ("photo224/imagenet", &imgs224, Table::ImageNet),
    ] {
        println!("== {name}");
        let cor = Corruptor::new(table);
        for c in Corruption::BENCHMARK.iter().chain(&Corruption::EXTRA) {
            let t = Instant::now();
            let mads: Vec<f64> = (1..=5)
                .map(|s| {
                    set.iter()
                        .enumerate()
                        .map(|(i, img)| {
                            let out = cor.apply_seeded(*c, s, img, 1, i as u64).unwrap();
                            let q =
                                Image::from_u8(img.height, img.width, img.channels, &out.to_u8()).unwrap();
                            q.mean_abs_diff(img)
                        })
                        .sum::<f64>()
                        / set.len() as f64
                })
                .collect();
            let ms = t.elapsed().as_secs_f64() * 1000.0 / (5 * set.len()) as f64;
            let mono = mads.windows(2).all(|w| w[1] > w[0]);
            println!("{:18} {} {:.4?} {:.3} ms/img", c.as_str(), if mono { "   " } else { "NOT" }, mads, ms);
        }
    }
    let cor = Corruptor::new(Table::MnistC);
    println!("== mnist-c");
    for c in Corruption::MNIST_C {
        let s = mnist_c_severity(c);
        let mad = imgs28
            .iter()
            .enumerate()
            .map(|(i, img)| cor.apply_seeded(c, s, img, 1, i as u64).unwrap().mean_abs_diff(img))
            .sum::<f64>()
            / 20.0;
        println!("{:18} s{} {:.4}", c.as_str(), s, mad);
    }
}
