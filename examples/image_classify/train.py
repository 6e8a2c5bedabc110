#!/usr/bin/env python3
"""Makes the image-classification example's images and model.

- images/<day>/img_NNN.png: 32x32 grayscale PNGs of handwritten digits
  (scikit-learn's bundled `digits` set, 8x8, upscaled), 40 per day for
  2026-03-01 and 2026-03-02, from the images the model did not train on;
  images/labels.csv holds their true digits.
- model/digits.onnx: a RandomForestClassifier over the 64 pixels of an
  8x8 image (0-16, as the digits set has them), exported by skl2onnx with
  zipmap=False: outputs `label` (the digit) and `probabilities` (10 per
  image), which predict writes as `label` and `probability_0` ...
  `probability_9`. chime's engine runs its TreeEnsembleClassifier.

The files are committed, so the example runs without Python; run this
again (pip install scikit-learn skl2onnx) only to change them.
"""
import os
import struct
import zlib

import numpy as np
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier

HERE = os.path.dirname(os.path.abspath(__file__))
digits = load_digits()
X, y = digits.data.astype(np.float32), digits.target
rng = np.random.default_rng(3)
order = rng.permutation(len(X))
train, held = order[:1600], order[1600:1680]
model = RandomForestClassifier(n_estimators=30, max_depth=10, random_state=0).fit(X[train], y[train])
print(f"held-out accuracy {model.score(X[held], y[held]):.3f}")
onx = to_onnx(
    model,
    initial_types=[("pixels", FloatTensorType([None, 64]))],
    options={id(model): {"zipmap": False}},
    target_opset={"": 17, "ai.onnx.ml": 3},
)
os.makedirs(os.path.join(HERE, "model"), exist_ok=True)
with open(os.path.join(HERE, "model", "digits.onnx"), "wb") as f:
    f.write(onx.SerializeToString())


def png(path, pixels):
    """A grayscale 8-bit PNG, written with zlib only."""
    h, w = pixels.shape
    raw = b"".join(b"\x00" + bytes(row) for row in pixels.astype(np.uint8))

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


labels = ["file,digit"]
for day, part in (("2026-03-01", held[:40]), ("2026-03-02", held[40:])):
    folder = os.path.join(HERE, "images", day)
    os.makedirs(folder, exist_ok=True)
    for n, i in enumerate(part):
        # Dark ink on white, as scanned: 0 (no ink) -> 255, 16 -> 0; each
        # pixel a 4x4 block: a 32x32 image.
        big = np.kron(255 - digits.images[i] * 255 / 16, np.ones((4, 4))).round()
        name = f"img_{n:03d}.png"
        png(os.path.join(folder, name), big)
        labels.append(f"{day}/{name},{y[i]}")
with open(os.path.join(HERE, "images", "labels.csv"), "w") as f:
    f.write("\n".join(labels) + "\n")
print("wrote model/digits.onnx and 80 images")
