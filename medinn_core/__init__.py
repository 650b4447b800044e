"""medinn_core: the clinical machine-learning core behind the medinn dashboard and CLI.

Importing this package is cheap: it does not import TensorFlow, shap or Streamlit. The
modules that need TensorFlow (``model``, ``train``, ``explain``, ``registry`` loading) import it
when they are first used.
"""

from medinn_core.errors import (
    BundleError,
    ConfigError,
    DataError,
    MedinnError,
    ModelError,
    SchemaError,
)

__version__ = "0.1.0"

__all__ = [
    "BundleError",
    "ConfigError",
    "DataError",
    "MedinnError",
    "ModelError",
    "SchemaError",
    "__version__",
]
