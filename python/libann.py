"""libann - Python binding (pure ctypes) for the libann C library.

NumPy arrays go in and out through libann's array views (ann_matrix):
float32 and float64 arrays in C or Fortran order, transposed or sliced,
are passed without copying (other dtypes, and strides that are not a
multiple of the item size, are converted first).

    from libann import MLP
    clf = MLP(hidden_layer_sizes=(16,), epochs=50).fit(X, y)
    clf.predict(X); clf.predict_proba(X); clf.score(X, y)
    clf.save("model.ann"); MLP.load("model.ann")

The shared library is found through $LIBANN_PATH, then a meson build
directory next to this module (../build/lib), then the system's loader
(libann.so.1).  Every libann status other than ANN_OK is raised as a
LibannError subclass carrying ann_errmsg()'s text.  Calls into libann
release the GIL (ctypes.CDLL), so predict() runs in parallel from threads.
"""
import ctypes
import ctypes.util
import numbers
import os

import numpy as np

__all__ = ["MLP", "LibannError", "InvalidArgumentError", "OutOfMemoryError",
           "LibannIOError", "BadFormatError", "NonFiniteError",
           "DivergedError", "TooLargeError", "StoppedError", "BusyError",
           "BufferTooSmallError", "UnsupportedError", "NumericError",
           "NotFittedError", "lib", "version"]


# ---- loading ------------------------------------------------------------

def _candidates():
    env = os.environ.get("LIBANN_PATH")
    if env:
        yield env
    here = os.path.dirname(os.path.abspath(__file__))
    for rel in ("../build/lib/libann.so.1", "../build/libann.so.1"):
        p = os.path.normpath(os.path.join(here, rel))
        if os.path.exists(p):
            yield p
    found = ctypes.util.find_library("ann")
    if found:
        yield found
    yield "libann.so.1"


def _load_library():
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append("%s: %s" % (path, e))
    raise ImportError("libann shared library not found (set LIBANN_PATH): "
                      + "; ".join(errors))


lib = _load_library()


class ann_matrix(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int),
                ("rows", ctypes.c_size_t),
                ("cols", ctypes.c_size_t),
                ("row_stride", ctypes.c_ssize_t),
                ("col_stride", ctypes.c_ssize_t),
                ("data", ctypes.c_void_p)]


PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t,
                               ctypes.c_double, ctypes.c_double)

_vp = ctypes.c_void_p
_st = ctypes.c_int
_M = ctypes.POINTER(ann_matrix)
_I32 = ctypes.POINTER(ctypes.c_int32)
_D = ctypes.POINTER(ctypes.c_double)
_SZ = ctypes.c_size_t


def _decl(name, res, *args):
    f = getattr(lib, name)
    f.restype = res
    f.argtypes = list(args)


_decl("ann_version_string", ctypes.c_char_p)
_decl("ann_status_str", ctypes.c_char_p, _st)
_decl("ann_errmsg", ctypes.c_char_p, _vp)
_decl("ann_create", _st, ctypes.POINTER(_vp), _SZ, _SZ,
      ctypes.POINTER(_SZ), ctypes.POINTER(ctypes.c_int))
_decl("ann_destroy", None, _vp)
_decl("ann_clone", _st, _vp, ctypes.POINTER(_vp))
_decl("ann_set_param", _st, _vp, _st, ctypes.c_double)
_decl("ann_get_param", _st, _vp, _st, _D)
_decl("ann_layer_info", _st, _vp, _SZ, ctypes.POINTER(_SZ), ctypes.POINTER(_SZ),
      ctypes.POINTER(ctypes.c_int))
_decl("ann_set_progress", _st, _vp, PROGRESS_FN, _vp)
_decl("ann_fit_view", _st, _vp, _M, _M)
_decl("ann_fit_labels_view", _st, _vp, _M, _I32)
_decl("ann_train_batch_view", _st, _vp, _M, _M)
_decl("ann_predict_view", _st, _vp, _M, _M)
_decl("ann_predict_labels_view", _st, _vp, _M, _I32)
_decl("ann_evaluate_view", _st, _vp, _M, _M, _D)
_decl("ann_predict", _st, _vp, _D, _SZ, _D)
_decl("ann_save", _st, _vp, ctypes.c_char_p)
_decl("ann_load", _st, ctypes.POINTER(_vp), ctypes.c_char_p)
_decl("ann_save_buffer", _st, _vp, _vp, _SZ, ctypes.POINTER(_SZ))
_decl("ann_load_buffer", _st, ctypes.POINTER(_vp), _vp, _SZ)


def version():
    """The loaded library's version string."""
    return lib.ann_version_string().decode()


# ---- errors -------------------------------------------------------------

class LibannError(Exception):
    """A libann call failed; .status is the ann_status, .message ann_errmsg."""
    status = None

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class InvalidArgumentError(LibannError, ValueError):
    status = 1


class OutOfMemoryError(LibannError, MemoryError):
    status = 2


class LibannIOError(LibannError, OSError):
    status = 3


class BadFormatError(LibannError, ValueError):
    status = 4


class NonFiniteError(LibannError, ValueError):
    status = 5


class DivergedError(LibannError, ArithmeticError):
    status = 6


class TooLargeError(LibannError, ValueError):
    status = 7


class StoppedError(LibannError):
    status = 8


class BusyError(LibannError, RuntimeError):
    status = 9


class BufferTooSmallError(LibannError):
    status = 10


class UnsupportedError(LibannError):
    status = 11


class NumericError(LibannError, ArithmeticError):
    status = 12


class NotFittedError(LibannError, ValueError, AttributeError):
    """The estimator is used before fit (as sklearn's NotFittedError)."""


_BY_STATUS = {c.status: c for c in (
    InvalidArgumentError, OutOfMemoryError, LibannIOError, BadFormatError,
    NonFiniteError, DivergedError, TooLargeError, StoppedError, BusyError,
    BufferTooSmallError, UnsupportedError, NumericError)}


def _check(status, handle=None, what=""):
    if status == 0:
        return
    msg = lib.ann_errmsg(handle).decode(errors="replace")
    if not msg:
        msg = lib.ann_status_str(status).decode()
    if what:
        msg = "%s: %s" % (what, msg)
    raise _BY_STATUS.get(status, LibannError)(msg, status)


# ---- enums --------------------------------------------------------------

_ACT = {"identity": 0, "step": 1, "sigmoid": 2, "logistic": 2, "tanh": 3,
        "relu": 4, "leaky_relu": 5, "softmax": 6}
_ACT_NAME = {0: "identity", 1: "step", 2: "sigmoid", 3: "tanh", 4: "relu",
             5: "leaky_relu", 6: "softmax"}
_LOSS = {"squared_error": 0, "cross_entropy": 1}
_OPT = {"sgd": 0, "momentum": 1, "adam": 2}
_INIT = {"small_uniform": 0, "xavier": 1, "he": 2}
_PREC = {"float64": 0, "f64": 0, "float32": 1, "f32": 1}

P_LEARNING_RATE, P_BATCH_SIZE, P_EPOCHS, P_SHUFFLE, P_SEED, P_LOSS = range(100, 106)
P_INIT, P_LEAKY_SLOPE, P_PRECISION = 200, 201, 202
P_OPTIMIZER, P_MOMENTUM, P_NESTEROV, P_BETA1, P_BETA2, P_EPS, P_L2, P_DECAY = range(300, 308)
P_VALIDATION_FRACTION, P_PATIENCE = 400, 401
P_EPOCHS_RUN, P_TRAIN_LOSS, P_VALIDATION_LOSS, P_BEST_EPOCH, P_STEPS = range(900, 905)
P_N_INPUTS, P_N_OUTPUTS, P_N_LAYERS, P_N_PARAMETERS = range(910, 914)


# ---- array views --------------------------------------------------------

def _as_view(a, name, writable=False):
    """(ann_matrix, array kept alive) for a 2-D array, without copying
    float32/float64 arrays whose strides are whole elements."""
    a = np.asarray(a)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    if a.ndim != 2:
        raise InvalidArgumentError("%s must be 2-D, got shape %r" % (name, a.shape), 1)
    if a.dtype not in (np.float32, np.float64):
        if writable:
            raise InvalidArgumentError("%s must be float32 or float64" % name, 1)
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
            raise InvalidArgumentError("%s must be numeric, got dtype %s" % (name, a.dtype), 1)
        a = a.astype(np.float64)
    isz = a.itemsize
    if a.strides[0] % isz or a.strides[1] % isz:
        if writable:
            raise InvalidArgumentError("%s strides are not whole elements" % name, 1)
        a = np.ascontiguousarray(a)
    rs, cs = a.strides[0] // isz, a.strides[1] // isz
    # a length-1 axis may carry any stride (NumPy uses 0 for broadcasts)
    if a.shape[0] == 1 and rs == 0:
        rs = a.shape[1] * max(abs(cs), 1)
    if a.shape[1] == 1 and cs == 0:
        cs = 1
    if rs == 0 or cs == 0:      # broadcast views: materialise
        if writable:
            raise InvalidArgumentError("%s must not be a broadcast view" % name, 1)
        a = np.ascontiguousarray(a)
        rs, cs = a.strides[0] // isz, a.strides[1] // isz
    m = ann_matrix(1 if a.dtype == np.float32 else 0, a.shape[0], a.shape[1],
                   rs, cs, a.ctypes.data)
    return m, a


def _labels_ptr(lab):
    return lab.ctypes.data_as(_I32)


# ---- the estimator ------------------------------------------------------

_PARAM_NAMES = ("hidden_layer_sizes", "activation", "output_activation",
                "loss", "optimizer", "learning_rate", "batch_size", "epochs",
                "shuffle", "seed", "init", "l2", "momentum", "nesterov",
                "lr_decay", "validation_fraction", "patience", "precision",
                "task", "progress")


class MLP:
    """A multi-layer perceptron estimator following scikit-learn's
    conventions.  fit(X, y) classifies when y holds integer, boolean or
    string labels (task="auto"; force with task="classification" or
    "regression"), with a softmax output (a single sigmoid unit for two
    classes) and cross-entropy; it regresses otherwise, with an identity
    output and squared error.

    progress: None or a callable (epoch, train_loss, val_loss) called
    after every epoch; a true return value stops training (the weights of
    that epoch are kept, self.stopped_ is True); an exception raised inside
    it stops training and is re-raised from fit().
    """

    def __init__(self, *, hidden_layer_sizes=(16,), activation="relu",
                 output_activation=None, loss=None, optimizer="adam",
                 learning_rate=0.001, batch_size=32, epochs=50, shuffle=True,
                 seed=0, init="xavier", l2=0.0, momentum=0.9, nesterov=False,
                 lr_decay=0.0, validation_fraction=0.0, patience=0,
                 precision="float64", task="auto", progress=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output_activation = output_activation
        self.loss = loss
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.shuffle = shuffle
        self.seed = seed
        self.init = init
        self.l2 = l2
        self.momentum = momentum
        self.nesterov = nesterov
        self.lr_decay = lr_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.precision = precision
        self.task = task
        self.progress = progress

    # -- scikit-learn conventions --
    def get_params(self, deep=True):
        return {k: getattr(self, k) for k in _PARAM_NAMES}

    def set_params(self, **params):
        for k, v in params.items():
            if k not in _PARAM_NAMES:
                raise ValueError("invalid parameter %r for MLP" % k)
            setattr(self, k, v)
        return self

    def __repr__(self):
        return "MLP(%s)" % ", ".join("%s=%r" % kv for kv in self.get_params().items())

    # -- handle management --
    _handle = None

    def __del__(self):
        h = self.__dict__.get("_handle")
        if h:
            lib.ann_destroy(h)
            self._handle = None

    def _require_fitted(self):
        if not self._handle:
            raise NotFittedError("this MLP is not fitted yet; call fit first", None)

    def _get(self, key):
        v = ctypes.c_double()
        _check(lib.ann_get_param(self._handle, key, ctypes.byref(v)), self._handle)
        return v.value

    def _set(self, key, value, name):
        _check(lib.ann_set_param(self._handle, key, float(value)), self._handle,
               "parameter %s=%r" % (name, value))

    @staticmethod
    def _enum(table, value, name):
        if isinstance(value, str) and value.lower() in table:
            return table[value.lower()]
        raise InvalidArgumentError("%s must be one of %s, got %r"
                                   % (name, sorted(table), value), 1)

    def _create(self, n_inputs, n_outputs, out_act, default_loss):
        hidden = self.hidden_layer_sizes
        if isinstance(hidden, numbers.Integral):
            hidden = (hidden,)
        try:
            hidden = [int(u) for u in hidden]
        except (TypeError, ValueError):
            raise InvalidArgumentError("hidden_layer_sizes must be a sequence of ints", 1)
        if any(u <= 0 for u in hidden):
            raise InvalidArgumentError("hidden_layer_sizes must be positive", 1)
        act = self._enum(_ACT, self.activation, "activation")
        if self.output_activation is not None:
            out_act = self._enum(_ACT, self.output_activation, "output_activation")
        units = hidden + [n_outputs]
        acts = [act] * len(hidden) + [out_act]
        h = ctypes.c_void_p()
        st = lib.ann_create(ctypes.byref(h), n_inputs, len(units),
                            (ctypes.c_size_t * len(units))(*units),
                            (ctypes.c_int * len(acts))(*acts))
        _check(st, None, "create")
        if self._handle:
            lib.ann_destroy(self._handle)
        self._handle = h.value
        loss = default_loss if self.loss is None else self._enum(_LOSS, self.loss, "loss")
        # init and seed re-draw the weights; precision before them.
        self._set(P_PRECISION, self._enum(_PREC, self.precision, "precision"), "precision")
        self._set(P_INIT, self._enum(_INIT, self.init, "init"), "init")
        self._set(P_SEED, self.seed, "seed")
        self._set(P_LOSS, loss, "loss")
        self._apply_training_params()

    def _apply_training_params(self):
        self._set(P_LEARNING_RATE, self.learning_rate, "learning_rate")
        self._set(P_BATCH_SIZE, self.batch_size, "batch_size")
        self._set(P_EPOCHS, self.epochs, "epochs")
        self._set(P_SHUFFLE, bool(self.shuffle), "shuffle")
        self._set(P_OPTIMIZER, self._enum(_OPT, self.optimizer, "optimizer"), "optimizer")
        self._set(P_MOMENTUM, self.momentum, "momentum")
        self._set(P_NESTEROV, bool(self.nesterov), "nesterov")
        self._set(P_L2, self.l2, "l2")
        self._set(P_DECAY, self.lr_decay, "lr_decay")
        self._set(P_VALIDATION_FRACTION, self.validation_fraction, "validation_fraction")
        self._set(P_PATIENCE, self.patience, "patience")

    def _is_classification(self, y):
        if self.task == "classification":
            return True
        if self.task == "regression":
            return False
        if self.task != "auto":
            raise InvalidArgumentError("task must be 'auto', 'classification' or 'regression'", 1)
        return y.dtype.kind in "biuUSO"

    @staticmethod
    def _check_X(X):
        X = np.asarray(X)
        if X.ndim != 2:
            raise InvalidArgumentError("X must be 2-D (n_samples, n_features), got shape %r"
                                       % (X.shape,), 1)
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise InvalidArgumentError("X is empty (shape %r)" % (X.shape,), 1)
        return X

    def _check_X_fitted(self, X):
        self._require_fitted()
        X = self._check_X(X)
        if X.shape[1] != self.n_features_in_:
            raise InvalidArgumentError("X has %d features, the model expects %d"
                                       % (X.shape[1], self.n_features_in_), 1)
        return X

    def _encode(self, y):
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        bad = self.classes_[idx] != y
        if np.any(bad):
            raise InvalidArgumentError("y holds labels not in classes_: %r"
                                       % (np.unique(y[bad])[:5].tolist(),), 1)
        return idx.astype(np.int32)

    def _setup_classes(self, classes):
        self.classes_ = np.asarray(classes)
        if len(self.classes_) < 2:
            raise InvalidArgumentError("classification needs at least 2 classes, got %d"
                                       % len(self.classes_), 1)
        k = len(self.classes_)
        return (1, _ACT["sigmoid"]) if k == 2 else (k, _ACT["softmax"])

    def _run_with_progress(self, call):
        """Run call() with the Python progress callback installed."""
        self.stopped_ = False
        if self.progress is None:
            st = call()
            _check(st, self._handle)
            return
        failure = []
        user = self.progress

        def trampoline(_user, epoch, train_loss, val_loss):
            try:
                return 1 if user(int(epoch), train_loss, val_loss) else 0
            except BaseException as e:      # never unwind through C
                failure.append(e)
                return 1

        cb = PROGRESS_FN(trampoline)
        _check(lib.ann_set_progress(self._handle, cb, None), self._handle)
        try:
            st = call()
        finally:
            lib.ann_set_progress(self._handle, PROGRESS_FN(), None)
        if failure:
            raise failure[0]
        if st == StoppedError.status:
            self.stopped_ = True
            return
        _check(st, self._handle)

    # -- training --
    def fit(self, X, y):
        """Create a fresh network and train it for `epochs` epochs."""
        X = self._check_X(X)
        y = np.asarray(y)
        if y.shape[0] != X.shape[0]:
            raise InvalidArgumentError("X has %d rows but y has %d" % (X.shape[0], y.shape[0]), 1)
        if y.ndim not in (1, 2):
            raise InvalidArgumentError("y must be 1-D or 2-D", 1)
        self.n_features_in_ = X.shape[1]
        xv, xa = _as_view(X, "X")
        if self._is_classification(y):
            if y.ndim != 1:
                raise InvalidArgumentError("classification labels y must be 1-D", 1)
            n_out, out_act = self._setup_classes(np.unique(y))
            self._create(X.shape[1], n_out, out_act, _LOSS["cross_entropy"])
            self._y_1d = True
            lab = np.ascontiguousarray(self._encode(y), dtype=np.int32)
            self._run_with_progress(
                lambda: lib.ann_fit_labels_view(self._handle, ctypes.byref(xv), _labels_ptr(lab)))
        else:
            self.classes_ = None
            yv, ya = _as_view(y, "y")
            self._y_1d = (y.ndim == 1)
            self._create(X.shape[1], ya.shape[1], _ACT["identity"], _LOSS["squared_error"])
            self._run_with_progress(
                lambda: lib.ann_fit_view(self._handle, ctypes.byref(xv), ctypes.byref(yv)))
        self.n_iter_ = int(self._get(P_EPOCHS_RUN))
        self.loss_ = self._get(P_TRAIN_LOSS)
        return self

    def _targets(self, y):
        """One-hot (classification) or the y view (regression)."""
        if self.classes_ is not None:
            idx = self._encode(np.asarray(y))
            k = len(self.classes_)
            if k == 2:
                Y = idx.astype(np.float64).reshape(-1, 1)
            else:
                Y = np.zeros((len(idx), k))
                Y[np.arange(len(idx)), idx] = 1.0
            return _as_view(Y, "y")
        return _as_view(y, "y")

    def partial_fit(self, X, y, classes=None):
        """One optimizer step on exactly these rows (ann_train_batch_view).
        The first call creates the network; for classification pass every
        class in `classes` on that call (as in scikit-learn)."""
        X = self._check_X(X)
        y = np.asarray(y)
        if y.shape[0] != X.shape[0]:
            raise InvalidArgumentError("X has %d rows but y has %d" % (X.shape[0], y.shape[0]), 1)
        if not self._handle:
            self.n_features_in_ = X.shape[1]
            if classes is not None or self._is_classification(y):
                n_out, out_act = self._setup_classes(
                    np.unique(y) if classes is None else np.unique(classes))
                self._create(X.shape[1], n_out, out_act, _LOSS["cross_entropy"])
                self._y_1d = True
            else:
                self.classes_ = None
                self._y_1d = (y.ndim == 1)
                n_out = 1 if y.ndim == 1 else y.shape[1]
                self._create(X.shape[1], n_out, _ACT["identity"], _LOSS["squared_error"])
        else:
            X = self._check_X_fitted(X)
        xv, xa = _as_view(X, "X")
        yv, ya = self._targets(y)
        _check(lib.ann_train_batch_view(self._handle, ctypes.byref(xv), ctypes.byref(yv)),
               self._handle)
        return self

    # -- prediction --
    def _raw(self, X, dtype=np.float64):
        X = self._check_X_fitted(X)
        xv, xa = _as_view(X, "X")
        out = np.empty((X.shape[0], int(self._get(P_N_OUTPUTS))), dtype=dtype)
        yv, ya = _as_view(out, "output", writable=True)
        _check(lib.ann_predict_view(self._handle, ctypes.byref(xv), ctypes.byref(yv)),
               self._handle)
        return out

    def predict(self, X):
        """Class labels (classification) or outputs (regression)."""
        if self.__dict__.get("classes_") is not None:
            X = self._check_X_fitted(X)
            xv, xa = _as_view(X, "X")
            lab = np.empty(X.shape[0], dtype=np.int32)
            _check(lib.ann_predict_labels_view(self._handle, ctypes.byref(xv), _labels_ptr(lab)),
                   self._handle)
            return self.classes_[lab]
        out = self._raw(X)
        return out[:, 0] if self._y_1d and out.shape[1] == 1 else out

    def predict_proba(self, X):
        """Class probabilities, one column per entry of classes_."""
        self._require_fitted()
        if self.classes_ is None:
            raise InvalidArgumentError("predict_proba needs a classifier", 1)
        out = self._raw(X)
        if out.shape[1] == 1:
            return np.hstack([1.0 - out, out])
        return out

    def decision_outputs(self, X):
        """The network's raw outputs (n_samples x n_outputs, float64)."""
        return self._raw(X)

    def score(self, X, y):
        """Accuracy (classification) or the coefficient of determination R²."""
        y = np.asarray(y)
        pred = self.predict(X)
        if self.classes_ is not None:
            return float(np.mean(pred == y))
        y = y.reshape(pred.shape).astype(np.float64)
        ss_res = ((y - pred) ** 2).sum(axis=0)
        ss_tot = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0),
                          np.where(ss_res == 0, 1.0, 0.0))
        return float(np.mean(r2))

    def evaluate(self, X, Y):
        """The model's loss (ann_evaluate) on X and targets Y."""
        X = self._check_X_fitted(X)
        xv, xa = _as_view(X, "X")
        yv, ya = self._targets(Y)
        loss = ctypes.c_double()
        _check(lib.ann_evaluate_view(self._handle, ctypes.byref(xv), ctypes.byref(yv),
                                     ctypes.byref(loss)), self._handle)
        return loss.value

    # -- persistence --
    def save(self, path):
        """Save with ann_save (crash-safe).  The file is libann's format:
        C programs and the `ann` tool load it.  Python-side facts not in the
        format (original class labels) are not saved."""
        self._require_fitted()
        _check(lib.ann_save(self._handle, os.fsencode(path)), self._handle, "save")

    @classmethod
    def _from_handle(cls, h, classes=None):
        self = cls()
        self._handle = h
        n_layers = int(self._get(P_N_LAYERS))
        hidden, act = [], ctypes.c_int()
        for layer in range(n_layers):
            u = ctypes.c_size_t()
            _check(lib.ann_layer_info(h, layer, ctypes.byref(u), None, ctypes.byref(act)), h)
            if layer < n_layers - 1:
                hidden.append(u.value)
                self.activation = _ACT_NAME[act.value]
        out_act, n_out = act.value, int(self._get(P_N_OUTPUTS))
        self.hidden_layer_sizes = tuple(hidden)
        self.n_features_in_ = int(self._get(P_N_INPUTS))
        loss = int(self._get(P_LOSS))
        self.loss = {0: "squared_error", 1: "cross_entropy"}[loss]
        self.learning_rate = self._get(P_LEARNING_RATE)
        self.batch_size = int(self._get(P_BATCH_SIZE))
        self.epochs = int(self._get(P_EPOCHS))
        self.seed = int(self._get(P_SEED))
        self.optimizer = {0: "sgd", 1: "momentum", 2: "adam"}[int(self._get(P_OPTIMIZER))]
        self.precision = "float32" if self._get(P_PRECISION) == 1 else "float64"
        is_clf = loss == 1 and (out_act == _ACT["softmax"] or
                                (out_act == _ACT["sigmoid"] and n_out == 1))
        if classes is not None or is_clf:
            if classes is None:
                classes = np.arange(2 if n_out == 1 else n_out)
            self.classes_ = np.asarray(classes)
            self.task = "classification"
        else:
            self.classes_ = None
            self.task = "regression"
        self._y_1d = True
        return self

    @classmethod
    def load(cls, path, classes=None):
        """Load a model file written by MLP.save, ann_save or `ann fit`.
        A classifier (cross-entropy with a softmax or single sigmoid output)
        gets classes_ = 0..k-1 unless `classes` gives the labels."""
        h = ctypes.c_void_p()
        _check(lib.ann_load(ctypes.byref(h), os.fsencode(path)), None, "load %s" % path)
        return cls._from_handle(h.value, classes)

    def to_bytes(self):
        self._require_fitted()
        size = ctypes.c_size_t()
        _check(lib.ann_save_buffer(self._handle, None, 0, ctypes.byref(size)), self._handle)
        buf = ctypes.create_string_buffer(size.value)
        _check(lib.ann_save_buffer(self._handle, buf, size.value, ctypes.byref(size)),
               self._handle)
        return buf.raw[:size.value]

    @classmethod
    def from_bytes(cls, data, classes=None):
        h = ctypes.c_void_p()
        _check(lib.ann_load_buffer(ctypes.byref(h), data, len(data)), None, "load_buffer")
        return cls._from_handle(h.value, classes)

    # pickling / copy.deepcopy: the C model travels as its saved bytes
    def __getstate__(self):
        state = {k: v for k, v in self.__dict__.items() if k != "_handle"}
        state["_model_bytes"] = self.to_bytes() if self._handle else None
        return state

    def __setstate__(self, state):
        data = state.pop("_model_bytes", None)
        self.__dict__.update(state)
        self._handle = None
        if data is not None:
            h = ctypes.c_void_p()
            _check(lib.ann_load_buffer(ctypes.byref(h), data, len(data)), None, "unpickle")
            self._handle = h.value
