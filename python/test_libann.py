"""Tests of the Python binding (python/libann.py).

Run:  LIBANN_PATH=build/lib/libann.so.1 /usr/bin/python3 -m unittest -v test_libann
(from python/), or through meson: meson test -C build --suite ffi.
LIBANN_FFI_HELPER names the C helper tests/ffi_roundtrip (meson sets it);
without it the C<->Python persistence tests are skipped.
Exit status 77 (meson's "skipped") when NumPy is missing.
"""
import ctypes
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import unittest

try:
    import numpy as np
except ImportError:                     # pragma: no cover
    if __name__ == "__main__":
        print("numpy not installed: skipping")
        sys.exit(77)
    raise unittest.SkipTest("numpy not installed")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import libann                           # noqa: E402
from libann import MLP                  # noqa: E402

try:
    import sklearn                      # noqa: F401
    HAVE_SKLEARN = True
except ImportError:                     # pragma: no cover
    HAVE_SKLEARN = False

HELPER = os.environ.get("LIBANN_FFI_HELPER")


def fixed_input(rows, cols):
    """The input ffi_roundtrip.c generates, bit for bit."""
    i = np.arange(rows).reshape(-1, 1)
    j = np.arange(cols).reshape(1, -1)
    return ((i * 31 + j * 17) % 97) / 97.0 - 0.5


def c_predict(model, X):
    """ann_predict (the pointer API) on a contiguous double copy of X."""
    Xc = np.ascontiguousarray(X, dtype=np.float64)
    n_out = int(model._get(libann.P_N_OUTPUTS))
    Y = np.empty((Xc.shape[0], n_out))
    st = libann.lib.ann_predict(model._handle,
                                Xc.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
                                Xc.shape[0],
                                Y.ctypes.data_as(ctypes.POINTER(ctypes.c_double)))
    assert st == 0, st
    return Y


def regression_data(n=200, d=5, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X @ rng.normal(size=d) + 0.1 * np.sin(3 * X[:, 0])
    return X, y


def classification_data(n=300, d=4, k=3, seed=2):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3, size=(k, d))
    y = rng.integers(0, k, size=n)
    X = centers[y] + rng.normal(size=(n, d))
    return X, y


def same_bits(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and a.tobytes() == b.tobytes()


class TestBitwise(unittest.TestCase):
    def setUp(self):
        X, y = regression_data()
        self.X = X
        self.reg = MLP(hidden_layer_sizes=(8, 4), activation="tanh", epochs=5).fit(X, y)
        Xc, yc = classification_data()
        self.Xc = Xc
        self.clf = MLP(hidden_layer_sizes=(6,), epochs=5).fit(Xc, yc)

    def layouts(self, X):
        yield "C f64", np.ascontiguousarray(X)
        yield "F f64", np.asfortranarray(X)
        yield "C f32", np.ascontiguousarray(X, dtype=np.float32)
        yield "F f32", np.asfortranarray(X, dtype=np.float32)
        yield "rows ::2", np.ascontiguousarray(np.repeat(X, 2, axis=0))[::2]
        yield "transposed", np.ascontiguousarray(X.T).T
        yield "reversed rows", np.ascontiguousarray(X[::-1])[::-1]
        wide = np.zeros((X.shape[0], 2 * X.shape[1] + 1), dtype=np.float32)
        wide[:, 1::2] = X
        yield "f32 cols 1::2", wide[:, 1::2]
        yield "int64", np.round(X * 10).astype(np.int64)

    def test_predict_equals_c_api(self):
        for name, Xv in self.layouts(self.X):
            with self.subTest(layout=name):
                got = self.reg.predict(Xv)
                want = c_predict(self.reg, Xv)[:, 0]
                self.assertTrue(same_bits(got, want), name)

    def test_predict_proba_equals_c_api(self):
        for name, Xv in self.layouts(self.Xc):
            with self.subTest(layout=name):
                got = self.clf.predict_proba(Xv)
                self.assertTrue(same_bits(got, c_predict(self.clf, Xv)), name)
                self.assertTrue(np.array_equal(
                    self.clf.predict(Xv), np.argmax(c_predict(self.clf, Xv), axis=1)))

    def test_views_do_not_copy(self):
        for name, Xv in self.layouts(self.X):
            if Xv.dtype not in (np.float32, np.float64):
                continue
            with self.subTest(layout=name):
                view, kept = libann._as_view(Xv, "X")
                self.assertTrue(np.shares_memory(kept, Xv), name)
                self.assertEqual(view.data, Xv.ctypes.data)

    def test_calls_release_the_gil(self):
        # ctypes.CDLL (unlike PyDLL) drops the GIL around every call
        self.assertIsInstance(libann.lib, ctypes.CDLL)
        self.assertNotIsInstance(libann.lib, ctypes.PyDLL)

    def test_fit_layouts_give_same_model(self):
        X, y = regression_data(n=64)
        for name, Xv in list(self.layouts(X))[:6]:
            with self.subTest(layout=name):
                # the same values as a contiguous double array
                ref = MLP(epochs=3).fit(np.array(Xv, dtype=np.float64), y).predict(X)
                got = MLP(epochs=3).fit(Xv, np.asfortranarray(y)).predict(X)
                self.assertTrue(same_bits(got, ref), name)

    def test_partial_fit_equals_fit(self):
        X, y = regression_data(n=60)
        full = MLP(shuffle=False, batch_size=10, epochs=1, optimizer="momentum").fit(X, y)
        inc = MLP(shuffle=False, batch_size=10, epochs=1, optimizer="momentum")
        for s in range(0, 60, 10):
            inc.partial_fit(X[s:s + 10], y[s:s + 10])
        self.assertTrue(same_bits(full.predict(X), inc.predict(X)))

    def test_fit_is_reproducible(self):
        X, y = classification_data()
        a = MLP(epochs=4, seed=3).fit(X, y).predict_proba(X)
        b = MLP(epochs=4, seed=3).fit(X, y).predict_proba(X)
        self.assertTrue(same_bits(a, b))


class TestThreads(unittest.TestCase):
    def test_concurrent_predict_equals_serial(self):
        X, y = regression_data(n=2000, d=20)
        m = MLP(hidden_layer_sizes=(64, 32), epochs=2).fit(X, y)
        serial = m.predict(X)
        results = [None] * 8
        errors = []

        def work(k):
            try:
                for _ in range(5):
                    out = m.predict(X if k % 2 == 0 else np.asfortranarray(X))
                    if not same_bits(out, serial):
                        errors.append("thread %d differs" % k)
                results[k] = out
            except Exception as e:          # pragma: no cover
                errors.append(repr(e))

        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        for r in results:
            self.assertTrue(same_bits(r, serial))


class TestPersistence(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "model.ann")

    def tearDown(self):
        self.tmp.cleanup()

    def test_python_roundtrip(self):
        X, y = classification_data()
        m = MLP(epochs=5).fit(X, y)
        m.save(self.path)
        m2 = MLP.load(self.path)
        self.assertTrue(same_bits(m.predict_proba(X), m2.predict_proba(X)))
        self.assertTrue(np.array_equal(m2.classes_, [0, 1, 2]))
        self.assertEqual(m2.hidden_layer_sizes, (16,))
        m3 = pickle.loads(pickle.dumps(m))
        self.assertTrue(same_bits(m.predict_proba(X), m3.predict_proba(X)))

    def test_labels_given_on_load(self):
        X, y = classification_data()
        names = np.array(["ant", "bee", "cat"])
        m = MLP(epochs=5).fit(X, names[y])
        self.assertTrue(np.array_equal(m.classes_, names))
        m.save(self.path)
        m2 = MLP.load(self.path, classes=m.classes_)
        self.assertTrue(np.array_equal(m.predict(X), m2.predict(X)))

    @unittest.skipUnless(HELPER, "LIBANN_FFI_HELPER not set")
    def test_python_saves_c_loads(self):
        X = fixed_input(50, 3)
        Y = np.column_stack([X[:, 0] + X[:, 1], X[:, 2] ** 2])
        m = MLP(hidden_layer_sizes=(7,), activation="tanh", epochs=4).fit(X, Y)
        m.save(self.path)
        out = subprocess.run([HELPER, "predict", self.path, "10"], check=True,
                             capture_output=True, text=True).stdout.split()
        c = np.array([float.fromhex(s) for s in out]).reshape(10, 2)
        self.assertTrue(same_bits(c, m.predict(fixed_input(10, 3))))

    @unittest.skipUnless(HELPER, "LIBANN_FFI_HELPER not set")
    def test_c_saves_python_loads(self):
        out = subprocess.run([HELPER, "save", self.path, "10"], check=True,
                             capture_output=True, text=True).stdout.split()
        c = np.array([float.fromhex(s) for s in out]).reshape(10, 2)
        m = MLP.load(self.path)
        self.assertIsNone(m.classes_)
        self.assertEqual(m.n_features_in_, 3)
        self.assertTrue(same_bits(m.predict(fixed_input(10, 3)), c))
        # a loaded model continues training
        m.partial_fit(fixed_input(10, 3), c)

    def test_load_errors(self):
        with self.assertRaises(libann.LibannIOError):
            MLP.load(os.path.join(self.tmp.name, "missing.ann"))
        with open(self.path, "wb") as f:
            f.write(b"not a model file at all" * 10)
        with self.assertRaises(libann.BadFormatError) as cm:
            MLP.load(self.path)
        self.assertTrue(str(cm.exception))


class TestMisuse(unittest.TestCase):
    def setUp(self):
        self.X, self.y = classification_data()

    def test_unfitted(self):
        m = MLP()
        for call in (lambda: m.predict(self.X), lambda: m.predict_proba(self.X),
                     lambda: m.score(self.X, self.y), lambda: m.save("x.ann")):
            with self.assertRaises(libann.NotFittedError):
                call()

    def test_wrong_shapes(self):
        m = MLP(epochs=1).fit(self.X, self.y)
        with self.assertRaises(ValueError):
            m.predict(self.X[:, :3])
        with self.assertRaises(ValueError):
            m.predict(self.X[0])
        with self.assertRaises(ValueError):
            m.predict(self.X[:, :, None])
        with self.assertRaises(ValueError):
            MLP().fit(self.X, self.y[:-1])
        with self.assertRaises(ValueError):
            MLP().fit(self.X[:0], self.y[:0])
        with self.assertRaises(ValueError):
            m.partial_fit(self.X[:, :2], self.y)
        with self.assertRaises(ValueError):
            m.predict(np.array([["a"] * 4]))

    def test_non_finite(self):
        X = self.X.copy()
        X[5, 2] = np.nan
        with self.assertRaises(libann.NonFiniteError) as cm:
            MLP(epochs=1).fit(X, self.y)
        self.assertIn("5", str(cm.exception))
        m = MLP(epochs=1).fit(self.X, self.y)
        X[5, 2] = np.inf
        with self.assertRaises(libann.NonFiniteError):
            m.predict(X)
        with self.assertRaises(libann.NonFiniteError):
            MLP(epochs=1).fit(self.X, np.where(np.arange(len(self.y)) == 3, np.nan, 1.0))

    def test_bad_params(self):
        for params in ({"learning_rate": -1}, {"learning_rate": float("nan")},
                       {"activation": "nope"}, {"optimizer": "lbfgs"},
                       {"hidden_layer_sizes": (0,)}, {"hidden_layer_sizes": "x"},
                       {"batch_size": 1.5}, {"epochs": 0}, {"momentum": 1.0},
                       {"validation_fraction": 0.95}, {"task": "other"},
                       {"loss": "hinge"}, {"output_activation": "softmax", "task": "regression"}):
            with self.subTest(params=params):
                with self.assertRaises(libann.LibannError):
                    MLP(**dict({"epochs": 1}, **params)).fit(self.X, self.y)
        with self.assertRaises(ValueError):
            MLP().set_params(no_such_param=1)

    def test_unknown_label_in_partial_fit(self):
        m = MLP().partial_fit(self.X, self.y, classes=[0, 1, 2])
        with self.assertRaises(ValueError):
            m.partial_fit(self.X[:3], np.array([0, 1, 7]))

    def test_one_class(self):
        with self.assertRaises(ValueError):
            MLP().fit(self.X, np.zeros(len(self.X), dtype=int))

    def test_error_carries_status_and_message(self):
        try:
            MLP(learning_rate=-1).fit(self.X, self.y)
        except libann.InvalidArgumentError as e:
            self.assertEqual(e.status, 1)
            self.assertIn("learning_rate", e.message)
        else:                               # pragma: no cover
            self.fail("no exception")


class TestProgress(unittest.TestCase):
    def setUp(self):
        self.X, self.y = classification_data()

    def test_called_every_epoch(self):
        seen = []
        m = MLP(epochs=6, progress=lambda e, t, v: seen.append((e, t))).fit(self.X, self.y)
        self.assertEqual([e for e, _ in seen], [1, 2, 3, 4, 5, 6])
        self.assertFalse(m.stopped_)
        self.assertEqual(m.n_iter_, 6)
        self.assertEqual(seen[-1][1], m.loss_)

    def test_stop_by_return_value(self):
        m = MLP(epochs=50, progress=lambda e, t, v: e >= 3).fit(self.X, self.y)
        self.assertTrue(m.stopped_)
        self.assertEqual(m.n_iter_, 3)
        m.predict(self.X)

    def test_exception_stops_training(self):
        calls = []

        def boom(e, t, v):
            calls.append(e)
            if e == 2:
                raise RuntimeError("stop here")

        with self.assertRaisesRegex(RuntimeError, "stop here"):
            MLP(epochs=50, progress=boom).fit(self.X, self.y)
        self.assertEqual(calls, [1, 2])

    def test_validation_loss_reported(self):
        vals = []
        MLP(epochs=3, validation_fraction=0.2,
            progress=lambda e, t, v: vals.append(v)).fit(self.X, self.y)
        self.assertTrue(all(np.isfinite(vals)))


class TestEstimator(unittest.TestCase):
    def test_classification_and_labels(self):
        X, y = classification_data()
        labels = np.array([10, -3, 7])[y]
        m = MLP(epochs=40, learning_rate=0.01).fit(X, labels)
        self.assertTrue(np.array_equal(m.classes_, [-3, 7, 10]))
        self.assertGreater(m.score(X, labels), 0.9)
        p = m.predict_proba(X)
        self.assertEqual(p.shape, (len(X), 3))
        self.assertTrue(np.allclose(p.sum(axis=1), 1))
        self.assertTrue(np.array_equal(m.predict(X), m.classes_[np.argmax(p, axis=1)]))

    def test_binary(self):
        X, y = classification_data(k=2)
        m = MLP(epochs=30, learning_rate=0.01).fit(X, y.astype(bool))
        self.assertEqual(m.predict_proba(X).shape, (len(X), 2))
        self.assertGreater(m.score(X, y.astype(bool)), 0.9)

    def test_regression(self):
        X, y = regression_data(n=400)
        m = MLP(hidden_layer_sizes=(16,), epochs=200, learning_rate=0.01).fit(X, y)
        self.assertEqual(m.predict(X).shape, (400,))
        self.assertGreater(m.score(X, y), 0.95)
        Y2 = np.column_stack([y, -y])
        m2 = MLP(epochs=2).fit(X, Y2)
        self.assertEqual(m2.predict(X).shape, (400, 2))
        self.assertGreater(m.evaluate(X, y), 0)

    def test_float32_model(self):
        X, y = regression_data()
        m = MLP(precision="float32", epochs=3).fit(X.astype(np.float32), y)
        self.assertTrue(np.all(np.isfinite(m.predict(X))))

    def test_get_set_params(self):
        m = MLP(epochs=7)
        p = m.get_params()
        self.assertEqual(p["epochs"], 7)
        self.assertIs(m.set_params(epochs=9, learning_rate=0.1), m)
        self.assertEqual(m.epochs, 9)
        self.assertEqual(MLP(**p).get_params(), p)

    @unittest.skipUnless(HAVE_SKLEARN, "scikit-learn not installed")
    def test_sklearn_pipeline(self):
        from sklearn.base import clone
        from sklearn.datasets import load_iris
        from sklearn.model_selection import (StratifiedKFold, cross_val_score,
                                             train_test_split)
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        X, y = load_iris(return_X_y=True)
        Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0, stratify=y)
        pipe = make_pipeline(StandardScaler(), MLP(epochs=100, learning_rate=0.01))
        pipe.fit(Xtr, ytr)
        self.assertGreater(pipe.score(Xte, yte), 0.9)
        self.assertEqual(clone(pipe).get_params()["mlp__epochs"], 100)
        scores = cross_val_score(pipe, X, y,
                                 cv=StratifiedKFold(3, shuffle=True, random_state=0))
        self.assertGreater(scores.mean(), 0.85)


if __name__ == "__main__":
    unittest.main(verbosity=2)
