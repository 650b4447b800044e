"""medinn_core: the clinical machine-learning core behind the medinn dashboard and CLI.

Importing this package is cheap: it does not import TensorFlow, shap, pandas or Streamlit, so
Home can show :data:`DISCLAIMER` from here. The modules that need TensorFlow (``model``,
``train``, ``explain``, and ``io`` when it loads a bundle) import it when they are first used.
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

#: Shown on every page of the app and at the foot of every model report.
DISCLAIMER = "Predictions support, not replace, clinical judgment."

__all__ = [
    "DISCLAIMER",
    "BundleError",
    "ConfigError",
    "DataError",
    "MedinnError",
    "ModelError",
    "SchemaError",
    "__version__",
]
