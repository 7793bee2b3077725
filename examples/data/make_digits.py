#!/usr/bin/env python3
"""Builds digits_train.npz and digits_test.npz (beside this script) from
scikit-learn's copy of the UCI handwritten digits (`sklearn.datasets.load_digits`:
1,797 8x8 images, 10 classes).

    python examples/data/make_digits.py

Split: `train_test_split(..., test_size=360, stratify=y, random_state=0)`, so
1,437 training and 360 test images with the class proportions of the whole.
Members: `images`, float32 [N, 8, 8, 1], pixel values (0..16) divided by 16 so
they lie in [0, 1]; `labels`, int64 [N], the digit. Written with
`np.savez_compressed`. The same scikit-learn data and this script give the same
arrays on every run.
"""

import os

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., np.newaxis]
    labels = digits.target.astype(np.int64)
    assert images.shape == (1797, 8, 8, 1) and labels.shape == (1797,)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=360, stratify=labels, random_state=0
    )
    for name, x, y in [("digits_train.npz", x_train, y_train), ("digits_test.npz", x_test, y_test)]:
        path = os.path.join(HERE, name)
        np.savez_compressed(path, images=x, labels=y)
        print(f"{path}: images {x.shape} {x.dtype}, labels {y.shape} {y.dtype}, "
              f"classes {np.bincount(y, minlength=10).tolist()}")


if __name__ == "__main__":
    main()
