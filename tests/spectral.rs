use lcr_verify::bounds::conv_norm::{ConvOptions, conv_bracket};
use lcr_verify::ir::{ConvGeometry, Kernel};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[test]
fn conv_gap_experiment() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let data: Vec<f64> = (0..64 * 64 * 9).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect();
    let k = Kernel::new(64, 64, 3, 3, data).unwrap();
    let g = ConvGeometry::new(&k, [64, 32, 32], 1, 1);
    for (cs, pi) in [(1, 5), (2, 5), (3, 5), (4, 5)] {
        let t = std::time::Instant::now();
        let o = ConvOptions { coarse_steps: cs, power_max_iter: pi, ..Default::default() };
        let b = conv_bracket(&k, &g, &o);
        println!(
            "cs {cs} pi {pi}: up {} lo {} gap {:.5} refined {} {:?}",
            b.upper,
            b.lower,
            b.gap,
            b.refined,
            t.elapsed()
        );
    }
    let g = ConvGeometry::new(&k, [64, 32, 32], 2, 1);
    let b = conv_bracket(&k, &g, &ConvOptions::default());
    println!("stride2 {b:?}");
}
