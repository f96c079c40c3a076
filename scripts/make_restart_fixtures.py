"""JPEG files with restart intervals (DRI / RSTn markers), as libjpeg-turbo writes them through PIL, and PIL's
decode of each: for the tests of the baseline JPEG reader's restart handling (`tests/decode.rs`).

Setup (outside the repository):
    python3 -m venv venv && venv/bin/pip install pillow numpy
Run from the repository root:
    venv/bin/python scripts/make_restart_fixtures.py

Writes, under tests/fixtures/ (input: photo 1 of photos224_images.npy, rows 40-84 and columns 100-160, 45 x 61,
so that the last MCU row and column are partial):
    jpeg_restart_420.jpg   quality 90, 4:2:0, a restart after every MCU (12 MCUs: RST0-RST7, then RST0-RST2)
    jpeg_restart_444.jpg   quality 75, 4:4:4 (subsampling=0), a restart every 5 MCUs
    jpeg_restart_gray.jpg  quality 95, gray (PIL's convert('L')), a restart every 7 MCUs (blocks)
    jpeg_restart_<name>.npy  uint8 (45, 61, C): PIL's decode of that file
"""
import io
import numpy as np
import PIL
from PIL import Image, features


def main():
    out = 'tests/fixtures/'
    crop = np.load(out + 'photos224_images.npy')[1][40:85, 100:161].copy()
    rgb = Image.fromarray(crop, 'RGB')
    files = {
        '420': (rgb, dict(quality=90, restart_marker_blocks=1)),
        '444': (rgb, dict(quality=75, subsampling=0, restart_marker_blocks=5)),
        'gray': (rgb.convert('L'), dict(quality=95, restart_marker_blocks=7)),
    }
    for name, (img, options) in files.items():
        buf = io.BytesIO()
        img.save(buf, 'JPEG', **options)
        data = buf.getvalue()
        if data.find(b'\xff\xdd') < 0:
            raise SystemExit(f'{name}: this Pillow wrote no restart interval (DRI); a newer one is needed')
        with open(out + f'jpeg_restart_{name}.jpg', 'wb') as f:
            f.write(data)
        px = np.asarray(Image.open(io.BytesIO(data)))
        np.save(out + f'jpeg_restart_{name}.npy', px if px.ndim == 3 else px[..., None])
    print('Pillow', PIL.__version__, 'libjpeg-turbo', features.version('libjpeg_turbo'), 'numpy', np.__version__)


if __name__ == '__main__':
    main()
