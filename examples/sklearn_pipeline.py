#!/usr/bin/python3
"""sklearn_pipeline.py - libann's Python binding inside a scikit-learn
Pipeline (StandardScaler -> libann.MLP) on the handwritten digits data set
scikit-learn ships (8x8 images, 10 classes), with a small grid search.

Run from the repository after building (meson setup build && meson compile
-C build):
    /usr/bin/python3 examples/sklearn_pipeline.py
(The binding finds build/lib/libann.so.1 itself; set LIBANN_PATH to use
another copy of the library.)
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

from sklearn.datasets import load_digits                     # noqa: E402
from sklearn.metrics import confusion_matrix                 # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.pipeline import Pipeline                        # noqa: E402
from sklearn.preprocessing import StandardScaler             # noqa: E402

from libann import MLP, version                              # noqa: E402


def main():
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    pipe = Pipeline([("scale", StandardScaler()),
                     ("mlp", MLP(hidden_layer_sizes=(64,), activation="relu",
                                 optimizer="adam", learning_rate=0.003,
                                 batch_size=32, epochs=40, seed=1))])
    grid = GridSearchCV(pipe, {"mlp__hidden_layer_sizes": [(32,), (64,)],
                               "mlp__l2": [0.0, 1e-3]}, cv=3)
    t0 = time.time()
    grid.fit(Xtr, ytr)
    print("libann %s; grid search over %d settings in %.1f s"
          % (version(), len(grid.cv_results_["params"]), time.time() - t0))
    print("best: %s (cv accuracy %.4f)" % (grid.best_params_, grid.best_score_))
    acc = grid.score(Xte, yte)
    print("test accuracy: %.4f" % acc)
    print("confusion matrix (rows: true digit, columns: predicted):")
    print(confusion_matrix(yte, grid.predict(Xte)))
    return 0 if acc > 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
