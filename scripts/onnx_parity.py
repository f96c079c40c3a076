"""Largest |ONNX Runtime - IR| of a run's deployed logits on the images written by the onnx_parity example.

    lcr-verify export RUN_DIR --onnx OUT/net.onnx
    cargo run --release --example onnx_parity -- RUN_DIR 1000 OUT
    python3 scripts/onnx_parity.py OUT        (needs onnxruntime and numpy)
"""
import sys
import numpy as np
import onnxruntime as ort

out = sys.argv[1]
shape = [int(v) for v in open(f"{out}/shape.txt").read().split()]
x = np.fromfile(f"{out}/x.bin", dtype="<f8").reshape(shape)
ir = np.fromfile(f"{out}/ir.bin", dtype="<f8").reshape(shape[0], -1)
s = ort.InferenceSession(f"{out}/net.onnx", providers=["CPUExecutionProvider"])
(y,) = s.run(["logits"], {"input": x})
print(f"{shape[0]} images: max |onnx - ir| = {np.abs(y - ir).max():.3e}, "
      f"same argmax on {(y.argmax(1) == ir.argmax(1)).sum()} of {shape[0]}")
