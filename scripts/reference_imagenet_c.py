"""Runs the corruption functions of hendrycks/robustness `ImageNet-C/create_c/make_imagenet_c.py` (Apache-2.0,
not shipped here: pass the path of a copy) on 224-px images, for four purposes:

    time   DIR       images per CPU-second per corruption at severity 3, one thread, reading each PNG of the
                     class-folder tree DIR and saving the result as the reference saver does (JPEG quality 85,
                     optimize=True, into memory), and with the corruption function alone
    golden OUT.npy   the deterministic corruptions at severities 1-5 on tests/fixtures/photos224_images.npy,
                     kept on the rows listed by `golden_rows()` (uint8, shape (7, 5, 2, len(rows), 224, 3))
    damage OUT.json  mean |corrupted - clean| (0..1 scale, after np.uint8) per severity for the random
                     corruptions, over several seeds on the two fixture photos, with the per-draw spread
    spatter OUT      the water drops of spatter (severities 1-3) as OpenCV computes them: for a few seeded
                     draws, the 8-bit liquid layer that enters cv2.Canny and the 8-bit result of the last
                     cv2.blur, recorded while the unmodified function runs; OUT_224.npy on the first fixture
                     photo (uint8 (4, 2, 224, 224): s1 twice, s2, s3) and OUT_32.npy on its 32-px thumbnail
                     (uint8 (12, 2, 32, 32): s1-s3, four draws each)

The module's top-level imports of torch/torchvision are replaced by empty stand-ins (they serve only its data
loader), and scikit-image >= 0.19's `channel_axis=-1` stands in for the removed `multichannel=True`; the
corruption functions themselves run unmodified. Motion blur and snow need ImageMagick 6 and Wand.

Setup (outside the repository):
    python3 -m venv venv && venv/bin/pip install "numpy<2" scipy==1.11.4 scikit-image==0.20.0 \
        "opencv-python-headless<4.11" "Pillow<11" Wand==0.6.11      # plus: apt-get install imagemagick
Run from the repository root (frost reads ./frostN.* files, so the frost directory is entered for that):
    OMP_NUM_THREADS=1 venv/bin/python scripts/reference_imagenet_c.py PATH/make_imagenet_c.py time DIR
"""
import io
import json
import os
import sys
import time
import types
import warnings

warnings.simplefilter('ignore')
os.environ.setdefault('OMP_NUM_THREADS', '1')

import numpy as np
from PIL import Image

DETERMINISTIC = ['contrast', 'brightness', 'saturate', 'pixelate', 'gaussian_blur', 'defocus_blur', 'zoom_blur']
RANDOM = ['gaussian_noise', 'shot_noise', 'impulse_noise', 'speckle_noise', 'glass_blur', 'motion_blur', 'snow',
          'frost', 'fog', 'elastic_transform', 'spatter']
# Seeds per photo for the damage statistics: more where one draw varies much (which frost photo, which plasma).
SEEDS = {'gaussian_noise': 4, 'shot_noise': 4, 'impulse_noise': 4, 'speckle_noise': 4, 'glass_blur': 3,
         'motion_blur': 60, 'snow': 20, 'frost': 200, 'fog': 60, 'elastic_transform': 60, 'spatter': 400}
ALL = ['gaussian_noise', 'shot_noise', 'impulse_noise', 'defocus_blur', 'glass_blur', 'motion_blur', 'zoom_blur',
       'snow', 'frost', 'fog', 'brightness', 'contrast', 'elastic_transform', 'pixelate', 'jpeg_compression',
       'speckle_noise', 'gaussian_blur', 'spatter', 'saturate']
FROST_DIR = 'datasets/frost'


def golden_rows():
    """The rows kept in the golden file: the first and last four (the borders) and every eighth between."""
    return sorted(set(range(0, 4)) | set(range(220, 224)) | set(range(4, 220, 8)))


def load_reference(path):
    for name in ['torch', 'torch.utils', 'torch.utils.data', 'torchvision', 'torchvision.datasets',
                 'torchvision.transforms']:
        sys.modules[name] = types.ModuleType(name)
    sys.modules['torch.utils.data'].Dataset = object
    sys.modules['torch'].utils = sys.modules['torch.utils']
    sys.modules['torch.utils'].data = sys.modules['torch.utils.data']
    source = open(path).read()
    # Keep the definitions; drop the driver that corrupts the whole of ImageNet when the file is run.
    source = source.split('# /////////////// Display Results ///////////////')[0]
    mod = types.ModuleType('make_imagenet_c')
    mod.__file__ = path
    exec(compile(source, path, 'exec'), mod.__dict__)
    from skimage.filters import gaussian as sk_gaussian

    def gaussian(x, sigma=1, multichannel=None, **kw):
        if multichannel:
            kw['channel_axis'] = -1
        return sk_gaussian(x, sigma=sigma, **kw)

    mod.gaussian = gaussian
    import cv2
    cv2.setNumThreads(1)
    return mod


def run(mod, name, pil, severity):
    if name == 'frost':
        here = os.getcwd()
        os.chdir(FROST_DIR)
        try:
            return mod.frost(pil, severity)
        finally:
            os.chdir(here)
    return getattr(mod, name)(pil, severity)


def to_u8(x):
    return np.uint8(np.asarray(x))


def photos():
    return np.load('tests/fixtures/photos224_images.npy')


def cmd_time(mod, tree, names):
    files = sorted(os.path.join(r, f) for r, _, fs in os.walk(tree) for f in fs if f.endswith('.png'))
    for name in names:
        np.random.seed(0)
        if name == 'frost':
            os.chdir(FROST_DIR)
        try:
            t0 = time.process_time()
            only = 0.0
            for path in files:
                with open(path, 'rb') as f:
                    img = Image.open(f).convert('RGB')
                t1 = time.process_time()
                out = getattr(mod, name)(img, 3)
                only += time.process_time() - t1
                buf = io.BytesIO()
                Image.fromarray(np.uint8(out)).save(buf, format='JPEG', quality=85, optimize=True)
            total = time.process_time() - t0
        finally:
            if name == 'frost':
                os.chdir('../..')
        n = len(files)
        print(f'{name} {n / total:.1f} img/cpu-s with read+save, {n / only:.1f} function only ({n} images)',
              flush=True)


def cmd_golden(mod, out):
    imgs = photos()
    rows = golden_rows()
    ref = np.zeros((len(DETERMINISTIC), 5, 2, len(rows), 224, 3), np.uint8)
    for ci, name in enumerate(DETERMINISTIC):
        for s in range(1, 6):
            for k in range(2):
                ref[ci, s - 1, k] = to_u8(run(mod, name, Image.fromarray(imgs[k]), s))[rows]
    np.save(out, ref)


def cmd_damage(mod, out, names):
    imgs = photos()
    clean = imgs.astype(np.float64) / 255
    result = {}
    for name in names:
        t0 = time.time()
        rows = []
        for s in range(1, 6):
            draws = []
            for seed in range(SEEDS[name]):
                for k in range(2):
                    np.random.seed(1000 * seed + k)
                    x = to_u8(run(mod, name, Image.fromarray(imgs[k]), s)).astype(np.float64) / 255
                    draws.append(float(np.abs(x - clean[k]).mean()))
            d = np.array(draws)
            rows.append({'mean': d.mean(), 'std': d.std(ddof=1), 'draws': len(d)})
        result[name] = rows
        print(name, [round(r['mean'], 5) for r in rows], f'{time.time() - t0:.0f}s', flush=True)
        json.dump(result, open(out, 'w'), indent=1)


class Recorder:
    """Stands in for the cv2 module inside the reference module: passes every call through, keeping the
    input of Canny and the output of the last blur."""

    def __init__(self, cv2):
        self.cv2, self.canny_in, self.blur_out = cv2, None, None

    def __getattr__(self, name):
        return getattr(self.cv2, name)

    def Canny(self, img, *args):
        self.canny_in = img.copy()
        return self.cv2.Canny(img, *args)

    def blur(self, img, *args):
        self.blur_out = self.cv2.blur(img, *args)
        return self.blur_out


def cmd_spatter(mod, out):
    import cv2
    rec = Recorder(cv2)
    mod.cv2 = rec
    photo = photos()[0]
    thumb = np.asarray(Image.fromarray(photo).resize((32, 32), Image.BILINEAR))
    for img, draws, suffix in [(photo, [(1, 0), (1, 1), (2, 0), (3, 0)], '224'),
                               (thumb, [(s, seed) for s in (1, 2, 3) for seed in range(4)], '32')]:
        res = []
        for s, seed in draws:
            np.random.seed(seed)
            mod.spatter(Image.fromarray(img), s)
            res.append(np.stack([rec.canny_in, rec.blur_out]))
        np.save(f'{out}_{suffix}.npy', np.stack(res).astype(np.uint8))
    mod.cv2 = cv2


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    mod = load_reference(sys.argv[1])
    what, arg = sys.argv[2], sys.argv[3]
    names = sys.argv[4].split(',') if len(sys.argv) > 4 else None
    if what == 'time':
        cmd_time(mod, arg, names or ALL)
    elif what == 'golden':
        cmd_golden(mod, arg)
    elif what == 'damage':
        cmd_damage(mod, arg, names or RANDOM)
    elif what == 'spatter':
        cmd_spatter(mod, arg)
    else:
        sys.exit(f'unknown mode {what}: time, golden, damage or spatter')


if __name__ == '__main__':
    main()
