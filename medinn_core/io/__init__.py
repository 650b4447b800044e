"""Files in and out: reading patient tables (CSV, Excel, Parquet), writing CSV for people, and
model bundles with the registry that holds them.

Private modules, public names here (``from medinn_core.io import load_table``):

- ``_open``: finding and opening a file, its size, format, encoding and delimiter;
- ``_parse``: parsing it into Arrow columns, whole or in chunks;
- ``_clean``: checking the header and cleaning cells (trimmed text, missing markers, numbers);
- ``_read``: :func:`load_table`, :func:`read_table`, :func:`iter_csv_chunks`, the fingerprint;
- ``_write``: :func:`csv_bytes` and :func:`escape_formulas`;
- ``_registry``: bundles (:class:`Bundle`, :func:`save_bundle`, :func:`load_bundle`, zips) and
  the :class:`Registry`.

Importing this package does not import TensorFlow: loading a bundle does.
"""

from __future__ import annotations

from medinn_core.io._clean import (
    MAX_COLUMNS,
    MISSING_MARKERS,
    string_buffers,
)
from medinn_core.io._open import (
    DEFAULT_MAX_BYTES,
)
from medinn_core.io._read import (
    TableInfo,
    fingerprint,
    iter_csv_chunks,
    load_table,
    read_table,
    use_jemalloc,
)
from medinn_core.io._registry import (
    BUNDLE_FILES,
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    MANIFEST,
    MAX_BUNDLE_BYTES,
    Bundle,
    Registry,
    build_metadata,
    bundle_from_result,
    check_bundle_signature,
    default_root,
    export_bundle_zip,
    extract_bundle_zip,
    library_versions,
    load_bundle,
    safe_name,
    save_bundle,
    verify_bundle,
    write_manifest,
)
from medinn_core.io._write import (
    FORMULA_PREFIXES,
    csv_bytes,
    escape_formulas,
)

__all__ = [
    "BUNDLE_FILES",
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "DEFAULT_MAX_BYTES",
    "FORMULA_PREFIXES",
    "MANIFEST",
    "MAX_BUNDLE_BYTES",
    "MAX_COLUMNS",
    "MISSING_MARKERS",
    "Bundle",
    "Registry",
    "TableInfo",
    "build_metadata",
    "bundle_from_result",
    "check_bundle_signature",
    "csv_bytes",
    "default_root",
    "escape_formulas",
    "export_bundle_zip",
    "extract_bundle_zip",
    "fingerprint",
    "iter_csv_chunks",
    "library_versions",
    "load_bundle",
    "load_table",
    "read_table",
    "safe_name",
    "save_bundle",
    "string_buffers",
    "use_jemalloc",
    "verify_bundle",
    "write_manifest",
]
