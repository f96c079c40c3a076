"""Images per CPU-second at 224 px, severity 3, one thread: `lcr-verify corrupt` end to end against the corruption
functions of hendrycks/robustness `ImageNet-C/create_c/make_imagenet_c.py` (not shipped here: pass the path of a
copy), on the same folder of photographs.

    data   DIR [N]                     writes N (default 64) 224-px photographs as JPEG files (quality 90) in class
                                       folders DIR/<class>/<name>.jpg: crops of the two fixture photos and of the
                                       colour photographs bundled with scikit-image, some mirrored
    data-large DIR [N]                 the same photographs at sizes of ImageNet's validation images (333 to 640 px
                                       a side; one size per ten photographs, eight in turn), as
                                       DIR/<class>/<name>.JPEG (quality 92): the
                                       loader then decodes more pixels than it keeps, as it does on the released set
    rust   DIR OUT.json [BIN] [R]      times `BIN corrupt --dataset DIR --crop 224 --suite imagenet-c
                                       --corruptions X --severities 3 --out D` for every corruption X, in the default
                                       layout (one .npy per corruption) and with `--layout imagenet-c` (one JPEG-85
                                       file per image), RAYON_NUM_THREADS=1; the CPU time (user + sys) of the child
                                       process, best of R runs (default 3). Nothing is subtracted: process start,
                                       listing, reading, decoding, resizing and cropping the inputs, corrupting,
                                       writing, hashing and the manifest all count.
    python PATH/make_imagenet_c.py DIR OUT.json [R]
                                       times the reference on the same files, image by image, in three parts: the
                                       loader (PIL open, convert('RGB'), resize of the shorter side to 256 with
                                       PIL bilinear, centre crop 224: torchvision's Resize(256) + CenterCrop(224)
                                       on a PIL image), the corruption function at severity 3, and the save the
                                       reference does (np.uint8, PIL JPEG quality 85, optimize=True, to a new file
                                       in a fresh <corruption>/<severity>/<class>/ tree per run, folders made as
                                       the reference makes them);
                                       CPU time of this process (time.process_time), best of R runs (default 3;
                                       glass blur, at about one image per second, is run once)
    table  RUST.json PYTHON.json       prints the Markdown table: images per CPU-second and ratios
    alternate PATH/make_imagenet_c.py DIR ROUNDS X[,Y...] BIN[,BIN...]
                                       the same measurements for the corruptions X, Y, ... with every side run
                                       in turn, ROUNDS times (the reference once over the folder, then each
                                       binary in both layouts), and the median of each: on a machine whose
                                       speed drifts from minute to minute this compares like with like

    pair DIR X RUNS BIN1,BIN2          the command for corruption X (`.npy` layout) with each of two binaries in
                                       turn, RUNS times (the order swapped every other run): the medians of user
                                       and system CPU time of each, and the median of the paired ratio BIN2/BIN1,
                                       for changes of a few per cent that the rounds above do not resolve

Setup (outside the repository): the virtual environment of scripts/reference_imagenet_c.py, plus ImageMagick 6's
MagickWand library for motion blur and snow (Debian: apt-get install libmagickwand-6.q16-6). Run from the
repository root with one thread for every library:
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 venv/bin/python scripts/bench_cli_224.py data /tmp/photos224
    venv/bin/python scripts/bench_cli_224.py rust /tmp/photos224 rust.json target/release/lcr-verify
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 venv/bin/python scripts/bench_cli_224.py python \\
        PATH/make_imagenet_c.py /tmp/photos224 python.json
    venv/bin/python scripts/bench_cli_224.py table rust.json python.json
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')

ALL = ['gaussian_noise', 'shot_noise', 'impulse_noise', 'defocus_blur', 'glass_blur', 'motion_blur', 'zoom_blur',
       'snow', 'frost', 'fog', 'brightness', 'contrast', 'elastic_transform', 'pixelate', 'jpeg_compression',
       'speckle_noise', 'gaussian_blur', 'spatter', 'saturate']
SEVERITY = 3
LAYOUTS = {'npy': [], 'imagenet-c': ['--layout', 'imagenet-c']}


def cmd_data(out, n, large=False):
    """Writes `n` photographs cut from real photographs at several scales and positions: 224 px square, or at
    the sizes of ImageNet's validation images (`large`)."""
    import numpy as np
    import skimage
    from PIL import Image

    sources = {'astronaut': Image.fromarray(np.load('tests/fixtures/photos224_images.npy')[0]),
               'coffee': Image.fromarray(np.load('tests/fixtures/photos224_images.npy')[1])}
    bundled = os.path.join(os.path.dirname(skimage.__file__), 'data')
    for f in ['chelsea.png', 'rocket.jpg', 'motorcycle_left.png', 'hubble_deep_field.jpg', 'ihc.png', 'retina.jpg',
              'coffee.png', 'astronaut.png']:
        sources[f.split('.')[0] + '_full'] = Image.open(os.path.join(bundled, f)).convert('RGB')
    names = sorted(sources)
    # (side as a fraction of the shorter side, horizontal and vertical position in [0, 1], mirrored)
    cuts = [(1.0, 0.5, 0.5, False), (0.7, 0.2, 0.3, False), (0.7, 0.8, 0.7, True), (0.5, 0.3, 0.8, False),
            (0.5, 0.7, 0.2, True), (0.85, 0.1, 0.9, True), (0.6, 0.5, 0.5, True), (0.4, 0.9, 0.1, False)]
    # (width, height) of common ImageNet validation images
    large_sizes = [(500, 375), (375, 500), (500, 333), (500, 400), (333, 500), (500, 500), (640, 480), (450, 300)]
    written = 0
    for k in range(n):
        name = names[k % len(names)]
        side_f, fx, fy, mirror = cuts[(k // len(names)) % len(cuts)]
        img = sources[name]
        w, h = img.size
        if large:
            # a cut of the target's aspect, at least 0.7 of the largest that fits, placed at (fx, fy)
            tw, th = large_sizes[(k // len(names)) % len(large_sizes)]
            scale = min(w / tw, h / th) * max(side_f, 0.7)
            cw, ch = max(32, int(tw * scale)), max(32, int(th * scale))
        else:
            tw = th = 224
            cw = ch = max(32, int(min(w, h) * side_f))
        left, top = int((w - cw) * fx), int((h - ch) * fy)
        crop = img.crop((left, top, left + cw, top + ch)).resize((tw, th), Image.BILINEAR)
        if mirror:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        folder = os.path.join(out, name)
        os.makedirs(folder, exist_ok=True)
        if large:
            crop.save(os.path.join(folder, f'{k:04d}.JPEG'), quality=92)
        else:
            crop.save(os.path.join(folder, f'{k:04d}.jpg'), quality=90)
        written += 1
    print(f'wrote {written} photographs of {"333-640" if large else "224"} px to {out}')


def files_of(tree):
    return sorted(os.path.join(r, f) for r, _, fs in os.walk(tree) for f in fs if f.lower().endswith(('.jpg', '.jpeg', '.png')))


def corrupt_argv(binary, tree, name, dest, extra=()):
    """The timed command: `binary corrupt` of `tree` at 224 px, corruption `name` at SEVERITY, into `dest`."""
    return [binary, 'corrupt', '--dataset', tree, '--crop', '224', '--suite', 'imagenet-c', '--corruptions', name,
            '--severities', str(SEVERITY), '--out', dest, '--quiet'] + list(extra)


def child_times(argv, env):
    """Runs `argv`, returns the user and the system CPU seconds of the child (os.wait4 rusage)."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if proc.returncode != 0:
        sys.exit(f'{" ".join(argv)} failed ({proc.returncode}): {err}')
    return usage.ru_utime, usage.ru_stime


def child_cpu(argv, env):
    """Runs `argv`, returns the user + sys CPU seconds of the child."""
    return sum(child_times(argv, env))


def cmd_rust(tree, out, binary, repeats):
    n = len(files_of(tree))
    env = dict(os.environ, RAYON_NUM_THREADS='1')
    result = {'images': n, 'binary': binary, 'repeats': repeats, 'cpu_s': {}}
    scratch = tempfile.mkdtemp(prefix='bench-cli-224-')
    try:
        for name in ALL:
            result['cpu_s'][name] = {}
            for layout, extra in LAYOUTS.items():
                times = []
                for r in range(repeats):
                    dest = os.path.join(scratch, f'{name}-{layout}-{r}')
                    times.append(child_cpu(corrupt_argv(binary, tree, name, dest, extra), env))
                    shutil.rmtree(dest)
                result['cpu_s'][name][layout] = min(times)
            row = result['cpu_s'][name]
            print(f"{name:18s} npy {n / row['npy']:8.1f} img/cpu-s   imagenet-c {n / row['imagenet-c']:8.1f} img/cpu-s",
                  flush=True)
            json.dump(result, open(out, 'w'), indent=1)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def load_reference(path):
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    from reference_imagenet_c import load_reference as load
    return load(path)


def loader(path):
    """The reference loader and transform: pil_loader, then torchvision Resize(256) and CenterCrop(224)."""
    from PIL import Image
    with open(path, 'rb') as f:
        img = Image.open(f).convert('RGB')
    w, h = img.size
    if w <= h:
        nw, nh = 256, int(256 * h / w)
    else:
        nw, nh = int(256 * w / h), 256
    img = img.resize((nw, nh), Image.BILINEAR)
    left, top = int(round((nw - 224) / 2.0)), int(round((nh - 224) / 2.0))
    return img.crop((left, top, left + 224, top + 224))


def python_pass(mod, name, files, root):
    """One pass of the reference over `files`: the CPU seconds of its loader, of the corruption function at
    SEVERITY and of its save (np.uint8, PIL JPEG quality 85, optimize=True) into the tree `root`/<class>/, the
    folders made as the original makes them (make_imagenet_c.py, DistortImageFolder.__getitem__)."""
    import numpy as np
    from PIL import Image
    here = os.getcwd()
    if name == 'frost':
        os.chdir(os.path.abspath('datasets/frost'))  # the reference reads ./frostN.* on every call
    parts = {'load': 0.0, 'function': 0.0, 'save': 0.0}
    try:
        for path in files:
            t0 = time.process_time()
            img = loader(path)
            t1 = time.process_time()
            x = getattr(mod, name)(img, SEVERITY)
            t2 = time.process_time()
            save_path = os.path.join(root, os.path.basename(os.path.dirname(path)))
            if not os.path.exists(save_path):
                os.makedirs(save_path)
            save_path += '/' + os.path.splitext(os.path.basename(path))[0] + '.JPEG'
            Image.fromarray(np.uint8(x)).save(save_path, quality=85, optimize=True)
            t3 = time.process_time()
            parts['load'] += t1 - t0
            parts['function'] += t2 - t1
            parts['save'] += t3 - t2
    finally:
        os.chdir(here)
    return parts


def cmd_python(ref, tree, out, repeats):
    import numpy as np
    mod = load_reference(ref)
    files = files_of(tree)
    n = len(files)
    result = {'images': n, 'repeats': repeats, 'cpu_s': {}}
    scratch = tempfile.mkdtemp(prefix='bench-py-224-')
    try:
        for name in ALL:
            best = None
            for rep in range(1 if name == 'glass_blur' else repeats):
                np.random.seed(0)
                # A fresh tree per run, as the original writes one: <corruption>/<severity>/<class>/<name>.
                parts = python_pass(mod, name, files, os.path.join(scratch, f'{name}-{rep}', str(SEVERITY)))
                if best is None or sum(parts.values()) < sum(best.values()):
                    best = parts
            result['cpu_s'][name] = best
            f, l, s = best['function'], best['load'], best['save']
            print(f'{name:18s} function {n / f:8.1f}   load+function {n / (l + f):8.1f}   '
                  f'load+function+save {n / (l + f + s):8.1f} img/cpu-s', flush=True)
            json.dump(result, open(out, 'w'), indent=1)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def cmd_table(rust_path, py_path):
    rust, py = json.load(open(rust_path)), json.load(open(py_path))
    nr, npy_ = rust['images'], py['images']
    print('| corruption | ours, .npy | Python, load + function | ratio | Python, function only | ratio '
          '| ours, JPEG-85 tree | Python, load + function + save | ratio |')
    print('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
    for name in ALL:
        r, p = rust['cpu_s'][name], py['cpu_s'][name]
        ours_npy, ours_jpeg = nr / r['npy'], nr / r['imagenet-c']
        fn = npy_ / p['function']
        lf = npy_ / (p['load'] + p['function'])
        lfs = npy_ / (p['load'] + p['function'] + p['save'])
        print(f'| {name} | {ours_npy:,.0f} | {lf:,.1f} | {ours_npy / lf:.1f}× | {fn:,.1f} | {ours_npy / fn:.1f}× '
              f'| {ours_jpeg:,.0f} | {lfs:,.1f} | {ours_jpeg / lfs:.1f}× |')


# KEEP_OUTPUTS: `alternate` and `pair` keep every run's output until the sitting ends. Deleting thousands of
# files between runs made file creation itself slower as a sitting went on: ext4 without a journal (this
# machine's root file system) skips every inode deleted within the last 30 s when it allocates one (fs/ext4/ialloc.c,
# recently_deleted), a cost per created file that grew to a quarter of the tree layout's CPU time and that no
# one writing a set to a disk pays otherwise. Both sides write one file per image in the tree layout, so both
# paid it; kept outputs spare both (about 10 MB per run on 64 photographs, 40 MB on 256: a sitting of 15
# rounds of two binaries on 256 photographs keeps 2.4 GB until it ends).


def cmd_alternate(ref, tree, rounds, names, binaries):
    import statistics
    import numpy as np
    mod = load_reference(ref)
    files = files_of(tree)
    n = len(files)
    env = dict(os.environ, RAYON_NUM_THREADS='1')
    cpu = {}
    scratch = tempfile.mkdtemp(prefix='bench-alt-224-')
    try:
        for rep in range(rounds):
            for name in names:
                np.random.seed(0)
                parts = python_pass(mod, name, files, os.path.join(scratch, f'py-{name}-{rep}', str(SEVERITY)))
                cpu.setdefault((name, 'python', 'npy'), []).append(parts['load'] + parts['function'])
                cpu.setdefault((name, 'python', 'imagenet-c'), []).append(sum(parts.values()))
                for k, binary in enumerate(binaries):
                    for layout, extra in LAYOUTS.items():
                        # Kept until the end (see KEEP_OUTPUTS), like the reference's trees.
                        dest = os.path.join(scratch, f'rs-{name}-{layout}-{k}-{rep}')
                        cpu.setdefault((name, k, layout), []).append(
                            child_cpu(corrupt_argv(binary, tree, name, dest, extra), env))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f'{n} images, {rounds} rounds, medians; Python: loader + function (against .npy), + save (against the tree)')
    for name in names:
        for layout in LAYOUTS:
            py = statistics.median(cpu[(name, 'python', layout)])
            line = f'{name:18s} {layout:10s} python {n / py:8.1f} img/cpu-s'
            for k, binary in enumerate(binaries):
                t = statistics.median(cpu[(name, k, layout)])
                line += f' | {binary} {n / t:8.1f} ({py / t:.2f}x)'
            print(line, flush=True)


def cmd_pair(tree, name, runs, binaries):
    import statistics
    env = dict(os.environ, RAYON_NUM_THREADS='1')
    scratch = tempfile.mkdtemp(prefix='bench-pair-224-')
    times = [[] for _ in binaries]  # by position, so that a binary can be compared with itself
    ratios = []
    try:
        for r in range(runs):
            this = {}
            for k in (range(len(binaries)) if r % 2 == 0 else reversed(range(len(binaries)))):
                b = binaries[k]
                dest = os.path.join(scratch, f'out-{k}-{r}')  # kept until the end: KEEP_OUTPUTS
                this[k] = child_times(corrupt_argv(b, tree, name, dest), env)
            for k in range(len(binaries)):
                times[k].append(this[k])
            ratios.append(sum(this[1]) / sum(this[0]))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for b, t in zip(binaries, times):
        user = statistics.median(u for u, _ in t) * 1e3
        system = statistics.median(s for _, s in t) * 1e3
        total = statistics.median(u + s for u, s in t) * 1e3
        print(f'{b}: user {user:.1f} ms, system {system:.1f} ms, total {total:.1f} ms (medians of {runs})')
    print(f'paired ratio {binaries[1]} / {binaries[0]}: median {statistics.median(ratios):.3f}')


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    what = sys.argv[1]
    if what == 'data':
        cmd_data(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 64)
    elif what == 'data-large':
        cmd_data(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 64, large=True)
    elif what == 'rust':
        binary = sys.argv[4] if len(sys.argv) > 4 else 'target/release/lcr-verify'
        cmd_rust(sys.argv[2], sys.argv[3], binary, int(sys.argv[5]) if len(sys.argv) > 5 else 3)
    elif what == 'python':
        cmd_python(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else 3)
    elif what == 'table':
        cmd_table(sys.argv[2], sys.argv[3])
    elif what == 'pair':
        binaries = sys.argv[5].split(',')
        if len(binaries) != 2:
            sys.exit('pair needs two binaries, BIN1,BIN2')
        cmd_pair(sys.argv[2], sys.argv[3], int(sys.argv[4]), binaries)
    elif what == 'alternate':
        cmd_alternate(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5].split(','), sys.argv[6].split(','))
    else:
        sys.exit(f'unknown mode {what}: data, data-large, rust, python, table, alternate or pair')


if __name__ == '__main__':
    main()
