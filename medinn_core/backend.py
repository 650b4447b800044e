"""TensorFlow and Keras, imported when first needed, without their start-up lines.

Importing TensorFlow writes absl's "All log messages before absl::InitializeLog()" and a
oneDNN notice straight to the process's stderr from C++, whatever ``TF_CPP_MIN_LOG_LEVEL``
says. They cluttered the CLI's output and the server's log. :func:`import_keras` silences the
stderr file descriptor while the import runs (about 6 s, once per process); Python-level
messages written meanwhile by other threads of a server are lost with them, which is why the
window is kept to the import alone.
"""

from __future__ import annotations

import os
import sys
import threading
from types import ModuleType

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the messages after start-up
_LOCK = threading.Lock()


def import_keras() -> ModuleType:
    """Keras (and TensorFlow under it), imported quietly the first time."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    with _LOCK:
        if "keras" not in sys.modules:
            sys.stderr.flush()
            saved = os.dup(2)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            try:
                import keras  # noqa: F401
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                os.close(null)
    return sys.modules["keras"]
