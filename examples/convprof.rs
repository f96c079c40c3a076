use candle_core::{Device, Tensor, Var};
use std::time::Instant;
fn main() {
    let dev = Device::Cpu;
    for (ci, co, h, b) in
        [(1usize, 16usize, 28usize, 128usize), (16, 32, 28, 128), (32, 64, 14, 128), (64, 64, 32, 128)]
    {
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (b, ci, h, h), &dev).unwrap()).unwrap();
        let w = Var::from_tensor(&Tensor::randn(0f32, 1.0, (co, ci, 3, 3), &dev).unwrap()).unwrap();
        let t0 = Instant::now();
        let y = x.as_tensor().conv2d(w.as_tensor(), 1, 1, 1, 1).unwrap();
        let s = y.sum_all().unwrap();
        let _ = s.to_scalar::<f32>();
        let t1 = Instant::now();
        let g = s.backward().unwrap();
        let t2 = Instant::now();
        let _ = g.get(w.as_tensor()).unwrap();
        // kernel grad alone
        let gy = Tensor::ones_like(&y).unwrap();
        let t3 = Instant::now();
        let gk =
            x.as_tensor().transpose(0, 1).unwrap().conv2d(&gy.transpose(0, 1).unwrap(), 1, 1, 1, 1).unwrap();
        let t4 = Instant::now();
        let ga = gy.conv_transpose2d(w.as_tensor(), 1, 0, 1, 1).unwrap();
        let t5 = Instant::now();
        println!(
            "{ci}->{co} @{h}: fwd {:.0} ms, bwd {:.0} ms (kernel-grad conv {:.0} ms, input-grad convT {:.0} ms) {:?} {:?}",
            (t1 - t0).as_secs_f64() * 1e3,
            (t2 - t1).as_secs_f64() * 1e3,
            (t4 - t3).as_secs_f64() * 1e3,
            (t5 - t4).as_secs_f64() * 1e3,
            gk.dims(),
            ga.dims()
        );
    }
}
