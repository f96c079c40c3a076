"""Images per second of the Python reference `imagecorruptions` 1.1.2 (ImageNet parameters at every size),
severity 3, one thread, on the same fixture images as `cargo run --release --example throughput`.

Setup (outside the repository):
    python3 -m venv venv && venv/bin/pip install "numpy<2" scipy==1.11.4 scikit-image==0.20.0 \
        "opencv-python-headless<4.11" "Pillow<11" "setuptools<70" && venv/bin/pip install --no-deps imagecorruptions==1.1.2
Run from the repository root:
    OMP_NUM_THREADS=1 venv/bin/python scripts/bench_imagecorruptions.py [32px|224px|both] [seconds per corruption]
"""
import sys, time, warnings
warnings.simplefilter('ignore')
import numpy as np
from imagecorruptions import corrupt, get_corruption_names
import imagecorruptions.corruptions as _ic
from skimage.filters import gaussian as _gauss
def _gaussian(x, sigma=1, multichannel=None, **kw):
    # scikit-image >= 0.19 spells multichannel=True as channel_axis=-1
    if multichannel: kw['channel_axis'] = -1
    return _gauss(x, sigma=sigma, **kw)
_ic.gaussian = _gaussian
names = get_corruption_names('all')
cifar = np.load('tests/fixtures/cifar10_foolbox_images.npy')
photos = np.load('tests/fixtures/photos224_images.npy')
which = sys.argv[1] if len(sys.argv) > 1 else 'both'
budget = float(sys.argv[2]) if len(sys.argv) > 2 else 1.5
for label, img in [('32px', cifar[0]), ('224px', photos[0])]:
    if which != 'both' and which != label: continue
    for n in names:
        np.random.seed(0)
        corrupt(img, corruption_name=n, severity=3)  # warm up (frost file reads etc.)
        reps, t0 = 0, time.perf_counter()
        while True:
            out = corrupt(img, corruption_name=n, severity=3)
            reps += 1
            el = time.perf_counter() - t0
            if el > budget or reps >= 2000: break
        print(f"{label} {n} {reps/el:.1f}", flush=True)
