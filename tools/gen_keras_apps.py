#!/usr/bin/env python3
"""Keras applications at 224x224 for the compile-time figures (docs/performance.md).

    tools/.venv/bin/python tools/gen_keras_apps.py --out DIR [--only NAME]

Writes DIR/app_NAME (model.pb, in_0.npy, out_0.npy, fixture.txt: the format
of tests/fixtures, so `kiln run` and the fixture runner check the outputs)
for NASNetMobile, MobileNetV2, ResNet50, DenseNet121 and EfficientNetB0,
batch 1, 1000 classes, logits.  Weights are random (weights=None, seeded,
batch-norm statistics randomized as tools/gen_models.py does): nothing is
downloaded.  Too big to commit (ResNet50 is ~100 MB).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_models import keras, keras_model, randomize_batch_norm  # noqa: E402

APPS = {
    "nasnetmobile": "NASNetMobile",
    "mobilenetv2": "MobileNetV2",
    "resnet50": "ResNet50",
    "densenet121": "DenseNet121",
    "efficientnetb0": "EfficientNetB0",
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--only")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for seed, (name, cls) in enumerate(APPS.items()):
        if args.only and args.only != name:
            continue
        keras.utils.set_random_seed(100 + seed)
        m = getattr(keras.applications, cls)(weights=None, input_shape=(224, 224, 3), classifier_activation=None)
        randomize_batch_norm(m, 200 + seed)
        keras_model("app_" + name, "Keras %s 224x224 batch 1 (random weights)" % cls, m, (224, 224, 3), 1,
                    "1e-3 1e-4", 300 + seed, args.out)


if __name__ == "__main__":
    main()
