"""A quiet console for the programs.

TensorFlow prints start-up notices on every run ("oneDNN custom operations are on",
"Could not find cuda drivers", "failed call to cuInit", CPU-instruction notes) and absl INFO
lines (e.g. "Sharding callback duration" at every checkpoint) between a program's own output.
`quiet_start()` hides them unless the user asks (`--verbose`, or `TF_CPP_MIN_LOG_LEVEL` set in
the environment):

- TensorFlow's C++ log level is set to 2 (warnings and errors are still shown), before
  TensorFlow is imported;
- the notices printed while TensorFlow loads and finds its devices bypass that setting (they
  come before its logging starts), so the import runs with the process's stderr captured,
  and every captured line that is not a known notice is printed again afterwards;
- absl and TensorFlow Python logging show warnings and errors only.

Python warnings (e.g. the reference-ops fallback of `sg2tf.ops.dispatch`) are not touched.

`import sg2tf` installs `quiet_import()`: whatever first imports TensorFlow afterwards (a
library user's `import sg2tf.networks`, a benchmark worker) does so quietly too, unless
`$SG2TF_VERBOSE` is set (a program's `--verbose` sets it for its child processes) or the
user set `TF_CPP_MIN_LOG_LEVEL`. `quietly()` hides the notices TensorFlow prints later, e.g.
when a SavedModel is loaded.
"""

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile

from absl import logging as absl_logging

__all__ = ["NOTICES", "is_notice", "quiet_import", "quiet_start", "quietly"]

# Lines TensorFlow prints at start-up that say nothing the user must act on.
NOTICES = (
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"oneDNN custom operations are on",
    r"Could not find cuda drivers on your machine",
    r"failed call to cuInit",
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"To enable the following instructions:",  # the CPU-instruction notice's second line
    r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"computation placer already registered",
    r"TF-TRT Warning: Could not find TensorRT",
    r"Sharding callback duration",
    r"oneDNN supports DT_\w+ only on platforms with AVX-512",  # loading a SavedModel with uint64 ops
    r"Created TensorFlow Lite XNNPACK delegate for CPU",  # a TFLite interpreter's first call
)
_NOTICE = re.compile("|".join(NOTICES))

_done = False


def is_notice(line):
    """Whether `line` is one of TensorFlow's start-up notices (`NOTICES`)."""
    return bool(_NOTICE.search(line))


def _user_set_log_level():
    return "TF_CPP_MIN_LOG_LEVEL" in os.environ and not os.environ.get("_SG2TF_SET_TF_LOG_LEVEL")


def _verbose_env():
    return os.environ.get("SG2TF_VERBOSE", "") not in ("", "0")


def _quiet_tensorflow_logging():
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    os.environ["_SG2TF_SET_TF_LOG_LEVEL"] = "1"  # child programs may set it again themselves


def quiet_start(verbose=False, load=None):
    """Loads TensorFlow quietly (see the module docstring); with `verbose`, when the user set
    `TF_CPP_MIN_LOG_LEVEL`, or after the first call it only calls `load`.

    Call it before anything imports TensorFlow: a program calls it in `sg2tf.cli.common.start`.
    When TensorFlow is already loaded, only the Python logging is quietened.

    Args:
      verbose: show everything (absl INFO logging included).
      load: optional callable that imports what loads TensorFlow (e.g. a module that must set
        TensorFlow's environment variables before importing it); its result is returned.
    """
    global _done

    quiet = not (_done or verbose or _user_set_log_level())
    if not _done and verbose:
        absl_logging.set_verbosity(absl_logging.INFO)
        os.environ["SG2TF_VERBOSE"] = "1"  # for this process's TensorFlow import and its children
    _done = True
    if not quiet:
        result = load() if load is not None else None
        _one_log_handler()
        return result
    absl_logging.set_verbosity(absl_logging.WARNING)
    _quiet_tensorflow_logging()
    if "tensorflow" in sys.modules:
        result = load() if load is not None else None
    else:
        result = _filtered(load)

    logging.getLogger("tensorflow").setLevel(logging.WARNING)
    _one_log_handler()
    return result


def _one_log_handler():
    """TensorFlow gives its Python logger a handler of its own when it is imported before absl's
    handler exists (`sg2tf-bench` imports it before `app.run`); then every warning would also
    reach absl's handler and show twice."""
    if "tensorflow" in sys.modules:
        logger = logging.getLogger("tensorflow")
        if logger.handlers:
            logger.propagate = False


@contextlib.contextmanager
def quietly():
    """Runs the body with file descriptor 2 (C++ and Python stderr) captured, then prints what
    was captured except TensorFlow's notices (`NOTICES`). Does nothing when verbose."""
    if _verbose_env() or _user_set_log_level():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines() if line.strip() and not is_notice(line)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                sys.stderr.flush()


def _filtered(load):
    """Runs `load`, imports TensorFlow and lists its devices (the CUDA probe, "cuInit", runs
    there) with TensorFlow's notices hidden (`quietly`)."""
    with quietly():
        result = load() if load is not None else None
        import tensorflow as tf

        tf.config.list_physical_devices()
    return result


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` for the first import and has it loaded by `_QuietLoader`."""

    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # one use; the search below must not come back here
        if _verbose_env() or _user_set_log_level():
            return None

        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        _quiet_tensorflow_logging()
        with quietly():
            self.loader.exec_module(module)
            module.config.list_physical_devices()


def quiet_import():
    """Makes the first import of TensorFlow in this process quiet (see the module docstring);
    `import sg2tf` calls it. Does nothing once TensorFlow is imported."""
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
