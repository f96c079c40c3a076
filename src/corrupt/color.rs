//! RGB ↔ HSV as scikit-image's `rgb2hsv` / `hsv2rgb` define them (all components in `[0, 1]`).
//!
//! `V = max(R, G, B)`, `S = (V − min)/V` (0 when `V = 0`), `H` the hue angle / 360° (0 for grays).

use super::image::Image;

/// One RGB pixel to HSV.
#[inline]
pub fn rgb_to_hsv([r, g, b]: [f32; 3]) -> [f32; 3] {
    let v = r.max(g).max(b);
    let delta = v - r.min(g).min(b);
    let s = if v == 0.0 { 0.0 } else { delta / v };
    let h = if delta == 0.0 {
        0.0
    } else if v == r {
        ((g - b) / delta).rem_euclid(6.0)
    } else if v == g {
        2.0 + (b - r) / delta
    } else {
        4.0 + (r - g) / delta
    };
    [(h / 6.0).rem_euclid(1.0), s, v]
}

/// One HSV pixel to RGB.
#[inline]
pub fn hsv_to_rgb([h, s, v]: [f32; 3]) -> [f32; 3] {
    let h6 = h * 6.0;
    let i = super::image::floor_i(h6);
    let f = h6 - i as f32;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - f * s), v * (1.0 - (1.0 - f) * s));
    match i.rem_euclid(6) {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// Converts an RGB image to HSV, applies `f` to every pixel's `[h, s, v]`, and converts back.
pub fn map_hsv(img: &Image, f: impl Fn([f32; 3]) -> [f32; 3]) -> Image {
    img.via_rgb(|mut rgb| {
        for px in rgb.data.chunks_exact_mut(3) {
            let out = hsv_to_rgb(f(rgb_to_hsv([px[0], px[1], px[2]])));
            px.copy_from_slice(&out);
        }
        rgb
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsv_round_trip() {
        for &px in &[[0.2, 0.5, 0.9], [1.0, 0.0, 0.0], [0.3, 0.3, 0.3], [0.9, 0.1, 0.5], [0.0, 0.0, 0.0]] {
            let back = hsv_to_rgb(rgb_to_hsv(px));
            for (a, b) in back.iter().zip(px) {
                assert!((a - b).abs() < 1e-6, "{px:?} -> {back:?}");
            }
        }
        assert_eq!(rgb_to_hsv([0.0, 1.0, 0.0]), [1.0 / 3.0, 1.0, 1.0]);
    }
}
