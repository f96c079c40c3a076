"""Reference outputs of PIL's JPEG round trip (libjpeg-turbo), for the golden tests of `jpeg_compression`
and of the ImageNet-C JPEG reader.

What the reference scripts do (hendrycks/robustness `make_cifar_c.py`, `make_imagenet_c.py`):
    output = BytesIO(); x.save(output, 'JPEG', quality=q); x = PILImage.open(output)
i.e. PIL's defaults: IJG tables scaled by the quality, 4:2:0 chroma subsampling, islow DCT, fancy upsampling.

Setup (outside the repository):
    python3 -m venv venv && venv/bin/pip install pillow numpy
Run from the repository root:
    venv/bin/python scripts/make_jpeg_fixtures.py

Writes, under tests/fixtures/ (inputs: photos224_images.npy, cifar10_foolbox_images.npy; gray versions by
PIL's convert('L'); "odd" is photo 0 cropped to its top-left 29x37, rows x columns):
    jpeg_in_odd_rgb.npy, jpeg_in_<set>_gray.npy   uint8 (N, H, W, C): the inputs not already in fixtures
    jpeg_pil_<set>_<rgb|gray>.npy                 uint8 (10, N, H, W, C): PIL's round trip at QUALITIES
                                                  (the CIFAR-10-C qualities, then the ImageNet-C ones)
    jpeg_pil_q85.jpg     photo 0 saved by PIL at quality 85 (the ImageNet-C release format)
    jpeg_pil_q85.npy     uint8 (224, 224, 3): PIL's decode of that file
"""
import hashlib, io, json, sys
import numpy as np
import PIL
from PIL import Image, features

CIFAR_QUALITIES = [80, 65, 58, 50, 40]
IMAGENET_QUALITIES = [25, 18, 15, 10, 7]
QUALITIES = CIFAR_QUALITIES + IMAGENET_QUALITIES


def round_trip(arr, q):
    mode = 'L' if arr.ndim == 2 else 'RGB'
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, 'JPEG', quality=q)
    return np.asarray(Image.open(buf))


def gray(arr):
    return np.asarray(Image.fromarray(arr, 'RGB').convert('L'))


def main():
    out = 'tests/fixtures/'
    photos = np.load(out + 'photos224_images.npy')
    cifar = np.load(out + 'cifar10_foolbox_images.npy')
    odd = photos[0][:29, :37].copy()
    sets = {'photos': list(photos), 'cifar': list(cifar), 'odd': [odd]}
    for name, images in sets.items():
        for mode in ['rgb', 'gray']:
            ins = images if mode == 'rgb' else [gray(a) for a in images]
            res = np.stack([np.stack([round_trip(a, q) for a in ins]) for q in QUALITIES])
            if mode == 'gray':
                res = res[..., None]
                np.save(out + f'jpeg_in_{name}_gray.npy', np.stack(ins)[..., None])
            np.save(out + f'jpeg_pil_{name}_{mode}.npy', res)
    np.save(out + 'jpeg_in_odd_rgb.npy', np.stack(sets['odd']))
    buf = io.BytesIO()
    Image.fromarray(photos[0], 'RGB').save(buf, 'JPEG', quality=85)
    with open(out + 'jpeg_pil_q85.jpg', 'wb') as f:
        f.write(buf.getvalue())
    np.save(out + 'jpeg_pil_q85.npy', np.asarray(Image.open(io.BytesIO(buf.getvalue()))))
    print('Pillow', PIL.__version__, 'libjpeg-turbo', features.version('libjpeg_turbo'), 'numpy', np.__version__)


if __name__ == '__main__':
    main()
