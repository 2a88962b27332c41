"""Scores demo snapshots: how recognisable and how varied their shapes are.

Looking at 64-sample grids does not tell two demo candidates apart reliably, so the demo preset
(docs/training.md) was chosen with this score. A small CNN learns to tell the four shapes of
`sg2tf-dataset create_synthetic` apart, on freshly drawn labelled images (other seeds than the
demo dataset's). For each snapshot, 2000 G_ema samples (seeds 0-1999, psi 1) are then
classified and compared with 2000 fresh real images:

  shape_fd     Frechet distance between real and generated images in the CNN's 128 features
               (like FID, in a space that only knows these shapes): the main number, lower is
               better. The shipped demos: about 40-60; blobs: 400 and more.
  confident    fraction of samples the CNN classifies with probability > 0.95.
  shares       fraction of all samples confidently classified as circle, square, triangle,
               cross (the data has 0.25 each). Round blobs count as circles, so few crosses
               and triangles mean the generator has not learnt the concave and pointed shapes.

Usage (from the repository root, in the project's virtual environment):
  python scripts/demo_score.py RUN_DIR/network-snapshot-000200 [more snapshots...]
The CNN (about 4 minutes on 2 cores) is kept in --classifier and reused.
"""

import argparse
import json
import os

import numpy as np

SHAPE_SEED, TEST_SEED, REAL_SEED = 777, 778, 999


def shape_images(num, seed):
    """`num` labelled synthetic shapes: NHWC float images in [-1, 1] and class indices."""
    from sg2tf.data.synthetic import synthetic_source

    source = synthetic_source(num, 32, seed=seed, labels=True)
    images = np.stack([source.load(i).transpose(1, 2, 0) for i in range(num)])
    return images.astype(np.float32) / 127.5 - 1, np.argmax(source.labels, axis=1)


def train_classifier(path):
    import keras

    keras.utils.set_random_seed(0)
    x, y = shape_images(24000, SHAPE_SEED)
    x_test, y_test = shape_images(2000, TEST_SEED)
    inputs = keras.Input((32, 32, 3))
    h = inputs
    for channels in (32, 64, 128):
        h = keras.layers.Conv2D(channels, 3, padding="same", activation="relu")(h)
        h = keras.layers.Conv2D(channels, 3, padding="same", activation="relu")(h)
        h = keras.layers.MaxPool2D()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    features = keras.layers.Dense(128, activation="relu", name="features")(h)
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(features))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=128, epochs=4, validation_data=(x_test, y_test), verbose=2)
    accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
    if accuracy < 0.99:
        raise SystemExit(f"the shape classifier reached only {accuracy:.3f} test accuracy")
    model.save(path)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("snapshots", nargs="+", help="sg2tf snapshot directories or pickles")
    parser.add_argument("--classifier", default="/tmp/sg2tf-demo-shape-classifier.keras")
    parser.add_argument("--num", type=int, default=2000, help="samples per snapshot")
    args = parser.parse_args()

    import keras

    import sg2tf
    from sg2tf import sampling
    from sg2tf.metrics.stats import frechet_distance

    if os.path.exists(args.classifier):
        model = keras.models.load_model(args.classifier)
    else:
        model = train_classifier(args.classifier)
    both = keras.Model(model.input, [model.get_layer("features").output, model.output])

    def stats(images):
        features, probs = both.predict(images, batch_size=256, verbose=0)
        return features.mean(0), np.cov(features, rowvar=False), probs

    real_mu, real_cov, _ = stats(shape_images(args.num, REAL_SEED)[0])
    for path in args.snapshots:
        G = sg2tf.load_network(path).G_ema
        batches = sampling.generate_from_seeds(G, list(range(args.num)), 1.0, None, None, "const", 200)
        images = np.concatenate([chunk for _, chunk in batches]).astype(np.float32) / 127.5 - 1
        mu, cov, probs = stats(images)
        confident = probs.max(axis=1) > 0.95
        shares = np.bincount(probs.argmax(axis=1)[confident], minlength=4) / args.num
        print(
            json.dumps(
                dict(
                    snapshot=path,
                    shape_fd=round(frechet_distance(real_mu, real_cov, mu, cov), 1),
                    confident=round(float(confident.mean()), 3),
                    shares=dict(zip(("circle", "square", "triangle", "cross"), np.round(shares, 3).tolist())),
                )
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
