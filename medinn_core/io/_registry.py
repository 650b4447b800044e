"""Model bundles and the registry folder that holds them.

A bundle is a folder: ``model.keras`` (loaded with Keras ``safe_mode``), ``preprocess.json``,
``schema.json``, ``metadata.json``, ``background.json`` (k-means centroids in the encoded
space, never raw patient rows) and ``manifest.json`` with the SHA-256 of every other file,
checked on every load. Nothing in a bundle is pickled, so loading one runs no code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import uuid
import zipfile
import zlib
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

from medinn_core.backend import import_keras
from medinn_core.calibrate import Recalibration
from medinn_core.config import TrainConfig
from medinn_core.errors import BundleError, MedinnError, list_examples
from medinn_core.model import MedinnModel
from medinn_core.network import describe_network
from medinn_core.preprocess import Preprocessor
from medinn_core.schema import Schema
from medinn_core.security import (
    SIGNATURE_FILE,
    SigningPolicy,
    check_signature,
    manifest_digest,
    policy_from_env,
    sign_manifest,
)
from medinn_core.survival import Baseline

BUNDLE_FORMAT = "medinn-bundle"
BUNDLE_VERSION = 1
BUNDLE_FILES = (
    "model.keras",
    "preprocess.json",
    "schema.json",
    "metadata.json",
    "background.json",
    "baseline.json",
)
MANIFEST = "manifest.json"
MAX_BUNDLE_BYTES = 200 * 1024 * 1024
_NAME = re.compile(r"[^A-Za-z0-9 _.\-]+")
_LIBRARIES = ("medinn", "tensorflow", "keras", "scikit-learn", "pandas", "numpy", "shap")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bundle:
    """A model ready to use: the network with its preprocessing and schema, its metadata (the
    layout of ``metadata.json``), the explanation background and the linear baseline.

    Loaded from a bundle folder (:func:`load_bundle`: ``path`` and ``bundle_hash`` set) or made
    from a training run that is not saved yet (:func:`bundle_from_result`). ``token`` tells
    two loads apart, for caches.
    """

    model: MedinnModel
    metadata: dict[str, Any]
    background: np.ndarray | None = None
    path: Path | None = None
    bundle_hash: str = ""
    baseline: dict[str, Any] | None = None
    token: str = field(default_factory=lambda: uuid.uuid4().hex, compare=False)

    @property
    def name(self) -> str:
        fallback = self.path.name if self.path is not None else ""
        return str(self.metadata.get("name", fallback))

    @property
    def schema(self) -> Schema:
        return self.model.schema

    @property
    def background_weights(self) -> np.ndarray | None:
        """Each background centroid's share of the training rows (None: equal weights, as
        bundles saved before the shares were kept)."""
        weights = self.metadata.get("background_weights")
        return None if weights is None else np.asarray(weights, dtype=np.float64)

    @property
    def task(self) -> str:
        return str(self.model.schema.task)

    @property
    def saved(self) -> bool:
        return self.path is not None

    @property
    def key(self) -> str:
        """The saved bundle's hash, or the token of a model not saved yet: the same model
        gives the same key, so that what was computed for it can be kept."""
        return self.bundle_hash or self.token


def bundle_from_result(result, name: str, note: str = "") -> Bundle:
    """A :class:`Bundle` of a training run that is not saved (yet), to use like a saved one."""
    return Bundle(
        model=result.model,
        metadata=build_metadata(result, name, note),
        background=result.background,
        baseline=next((v["params"] for v in result.baselines.values() if "params" in v), None),
    )


def safe_name(name: str) -> str:
    """A registry name that cannot escape the registry folder.

    Raises
    ------
    BundleError
        If nothing usable is left of the name.
    """
    cleaned = _NAME.sub("-", str(name)).strip(" .-_")[:64]
    if not cleaned:
        raise BundleError(
            f"Model name {name!r} has no usable characters. Use letters, digits, spaces, '-', "
            "'_' or '.'."
        )
    return cleaned


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of the libraries a bundle depends on (TensorFlow under either package name)."""
    from medinn_core import __version__

    out = {"medinn": __version__}
    for lib in _LIBRARIES[1:]:
        for dist in (lib, f"{lib}-cpu") if lib == "tensorflow" else (lib,):
            try:
                out[lib] = importlib_metadata.version(dist)
                break
            except importlib_metadata.PackageNotFoundError:
                out[lib] = "not installed"
    return out


def build_metadata(result, name: str, note: str = "") -> dict[str, Any]:
    """The ``metadata.json`` content for a :class:`~medinn_core.train.TrainingResult`."""
    model = result.model
    schema = model.schema
    return {
        "format": BUNDLE_FORMAT,
        "name": name,
        "note": note,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "task": schema.task.value,
        "target": schema.target,
        "classes": list(schema.classes),
        "positive_class": schema.positive_class,
        "id_column": schema.id_column,
        "threshold": float(model.threshold_),
        "threshold_rule": (
            (
                "Youden's J on the out-of-fold predictions"
                if getattr(model, "scheme_", "split") == "folds"
                else "Youden's J on the validation split"
            )
            if schema.positive_class
            else None
        ),
        "scheme": result.scheme.to_dict() if result.scheme is not None else None,
        "member_best_epochs": list(getattr(model, "member_best_epochs_", [])),
        "recalibration": model.recalibration_.to_dict(),
        "conformal": dict(model.conformal_),
        "features": list(schema.feature_names),
        "n_inputs": len(model.preprocessor_.feature_names_),
        "config": model.config.to_dict(),
        "architecture": describe_network(
            model.config,
            model.preprocessor_.signal_spans(),
            len(model.preprocessor_.feature_names_),
            model.n_members,
        ),
        "batch_size_used": model.batch_size(
            len(result.split.train)
            if result.split.folds is None
            else int(np.sum(result.split.folds != 0))
        ),
        "background_weights": (
            None
            if getattr(result, "background_weights", None) is None
            else [round(float(w), 6) for w in result.background_weights]
        ),
        "best_epoch": model.best_epoch_,
        "epochs_run": len(result.history.get("loss", [])),
        "stopped_by_user": bool(model.stopped_by_user_),
        "history": result.history,
        "metrics": result.metrics,
        "metric_intervals": {k: list(v) for k, v in result.intervals.items()},
        "baselines": {
            name: {k: v for k, v in values.items() if k != "params"}
            for name, values in result.baselines.items()
        },
        "split": result.split.sizes(),
        "grouped_split": bool(result.split.grouped),
        "n_rows_dropped": result.n_rows_dropped,
        "warnings": [w.stored for w in result.report.warnings],  # no cell value, no row
        "training_seconds": round(result.seconds, 2),
        "data_fingerprint": result.fingerprint,
        "libraries": library_versions(),
        **_survival_metadata(model),
    }


def _survival_metadata(model: MedinnModel) -> dict[str, Any]:
    """A survival model's time column, horizon (and why) and Breslow baseline: aggregate step
    points, no patient's own time (see :func:`medinn_core.survival.fit_baseline`)."""
    baseline = getattr(model, "baseline_", None)
    if baseline is None:
        return {}
    schema = model.schema
    return {
        "survival": {
            "time_column": schema.time_column,
            "event": schema.event_class,
            "horizon": schema.horizon,
            "horizon_reason": schema.horizon_reason,
            "risk": f"probability of {schema.event_class!r} by {schema.time_column} "
            f"{schema.horizon:g}: 1 - exp(-H0(horizon) * exp(log-hazard))",
            "risk_score": "the log-hazard (Cox partial-likelihood head), centred per network",
            "recalibration": "none: the Breslow baseline, estimated on the held-out "
            "log-hazards, sets the absolute risk",
            "baseline": baseline.to_dict(),
        }
    }


def save_bundle(result, folder: str | os.PathLike, name: str, note: str = "") -> Path:
    """Write a training result as a bundle folder (which must not exist yet).

    The folder is written under a temporary name and renamed at the end, so a failure
    never leaves half a bundle.

    Raises
    ------
    BundleError
        If the folder already exists.
    """
    folder = Path(folder)
    if folder.exists():
        raise BundleError(f"A model already exists at '{folder}'. Choose another name or folder.")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=folder.parent))
    try:
        model = result.model
        model.model_.save(tmp / "model.keras")
        (tmp / "preprocess.json").write_text(json.dumps(model.preprocessor_.to_dict(), indent=1))
        # The learned levels only: a category a few patients share is named nowhere.
        (tmp / "schema.json").write_text(model.preprocessor_.saved_schema().to_json())
        meta = build_metadata(result, name, note)
        (tmp / "metadata.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
        background = np.asarray(result.background, dtype=np.float32)
        (tmp / "background.json").write_text(json.dumps(background.round(6).tolist()))
        linear = next((v["params"] for v in result.baselines.values() if "params" in v), None)
        (tmp / "baseline.json").write_text(json.dumps({"linear": linear}))
        write_manifest(tmp)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def write_manifest(folder: Path) -> dict[str, Any]:
    files = {f: _sha256(folder / f) for f in BUNDLE_FILES}
    manifest = {"format": BUNDLE_FORMAT, "version": BUNDLE_VERSION, "files": files}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def verify_bundle(folder: str | os.PathLike) -> str:
    """Check the manifest against every file; return the bundle hash (SHA-256 of the manifest).

    Raises
    ------
    BundleError
        If the folder, the manifest or a file is missing, a file differs from its checksum,
        or the folder holds files a bundle never has (such as pickles).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BundleError(f"No model bundle at '{folder}': the folder does not exist.")
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"'{folder}' is not a medinn model bundle: it has no {MANIFEST}.")
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
        if not isinstance(files, dict):
            raise TypeError("its file list is not a mapping")
        if (
            manifest.get("format") != BUNDLE_FORMAT
            or int(manifest.get("version", 0)) > BUNDLE_VERSION
        ):
            raise ValueError("unknown format or newer version")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise BundleError(
            f"The manifest of '{folder}' is damaged or not medinn's ({exc})."
        ) from None
    if sorted(files) != sorted(BUNDLE_FILES):
        raise BundleError(
            f"The manifest of '{folder}' lists {sorted(files)}, expected {list(BUNDLE_FILES)}: "
            "the bundle was altered."
        )
    extra = sorted(p.name for p in folder.iterdir() if p.name not in (*BUNDLE_FILES, MANIFEST))
    if extra:
        raise BundleError(
            f"Bundle '{folder}' holds unexpected files: {list_examples(extra)}. A medinn bundle "
            "holds only its listed files; remove the others or export the model again."
        )
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            raise BundleError(f"Bundle '{folder}' is missing {name}. Export the model again.")
        if _sha256(path) != expected:
            raise BundleError(
                f"Bundle '{folder}': {name} does not match its checksum in {MANIFEST}; the file "
                "was changed or damaged after saving. Do not use it; export the model again."
            )
    return manifest_digest(manifest_path.read_bytes())


def load_bundle(folder: str | os.PathLike) -> Bundle:
    """Verify and load a bundle folder; Keras loads the network with ``safe_mode=True``.

    Raises
    ------
    BundleError
        If verification fails or a file cannot be read.
    """
    folder = Path(folder)
    bundle_hash = verify_bundle(folder)
    keras = import_keras()  # after the checks: a refused bundle costs no TensorFlow
    try:
        schema = Schema.from_json((folder / "schema.json").read_text())
        meta = json.loads((folder / "metadata.json").read_text())
        pre = Preprocessor.from_dict(json.loads((folder / "preprocess.json").read_text()), schema)
        background = np.asarray(
            json.loads((folder / "background.json").read_text()), dtype=np.float32
        )
        baseline = json.loads((folder / "baseline.json").read_text()).get("linear")
        network = keras.saving.load_model(folder / "model.keras", compile=False, safe_mode=True)
        _check_parts(meta, background, baseline)
    except BundleError:
        raise
    except (MedinnError, ValueError, TypeError, KeyError, AttributeError, OSError) as exc:
        raise BundleError(f"Bundle '{folder}' cannot be loaded: {exc}") from None
    except (RecursionError, zipfile.BadZipFile, zlib.error):  # nested too deep; a damaged zip
        raise BundleError(f"Bundle '{folder}' cannot be loaded: a file is damaged.") from None
    _check_network(folder, network, schema, pre)
    model = MedinnModel(schema, TrainConfig.from_dict(meta.get("config", {})))
    model.preprocessor_ = pre
    model.model_ = network
    model.classes_ = tuple(schema.classes)
    model.threshold_ = float(meta.get("threshold", 0.5))
    model.history_ = meta.get("history", {})
    model.best_epoch_ = int(meta.get("best_epoch", 0))
    model.stopped_by_user_ = bool(meta.get("stopped_by_user", False))
    model.scheme_ = (meta.get("scheme") or {}).get("name", "split")
    model.recalibration_ = Recalibration.from_dict(meta.get("recalibration"))
    model.conformal_ = dict(meta.get("conformal") or {})
    model.member_best_epochs_ = list(meta.get("member_best_epochs") or [])
    if schema.task == "survival":
        try:
            model.baseline_ = Baseline.from_dict(meta["survival"]["baseline"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(
                f"Bundle '{folder}' is a survival model without a readable baseline hazard "
                f"({exc}); export the model again."
            ) from None
    return Bundle(model, meta, background, folder, bundle_hash, baseline)


def _check_parts(meta: Any, background: np.ndarray, baseline: Any) -> None:
    """The JSON files have the shapes medinn writes (a damaged one fails here, not later)."""
    if not isinstance(meta, dict):
        raise ValueError("metadata.json is not an object")
    if background.ndim != 2:
        raise ValueError("background.json is not a table of numbers")
    weights = meta.get("background_weights")
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (len(background),) or not np.isfinite(w).all() or (w < 0).any():
            raise ValueError("metadata.json's background weights do not fit background.json")
    if baseline is not None and not isinstance(baseline, dict):
        raise ValueError("baseline.json holds no linear model")


def _check_network(folder: Path, network, schema: Schema, pre: Preprocessor) -> None:
    """The network takes the preprocessing's inputs and gives one output per class of a
    multiclass task, one otherwise; a mismatch would fail at prediction, or (5 outputs
    read as a binary risk) score silently wrong."""
    try:
        n_in, n_out = network.input_shape[-1], network.output_shape[-1]
    except (AttributeError, TypeError, IndexError):
        n_in = n_out = None
    expected = len(schema.classes) if str(schema.task) == "multiclass" else 1
    if n_in != len(pre.feature_names_) or n_out != expected:
        raise BundleError(
            f"Bundle '{folder}' is inconsistent: its network takes {n_in} inputs and gives "
            f"{n_out} outputs, but its preprocessing makes {len(pre.feature_names_)} inputs and "
            f"a {schema.task} task over {len(schema.classes)} classes needs {expected}. It "
            "was not made by medinn's training; do not use it."
        )


def default_root() -> Path:
    """``$MEDINN_HOME/models``, or ``~/.medinn/models``."""
    home = os.environ.get("MEDINN_HOME")
    return (Path(home) if home else Path.home() / ".medinn") / "models"


class Registry:
    """A folder of named bundles: list, save, load, rename, delete, export, import.

    ``policy`` signs exported zips and checks imported ones (see :mod:`medinn_core.security`);
    None reads ``MEDINN_SECRET`` and ``MEDINN_ALLOW_UNSIGNED`` when a zip is exported or imported.
    """

    def __init__(self, root: str | os.PathLike | None = None, policy: SigningPolicy | None = None):
        self.root = Path(root) if root is not None else default_root()
        self._policy = policy

    @property
    def policy(self) -> SigningPolicy:
        return self._policy if self._policy is not None else policy_from_env()

    def path(self, name: str) -> Path:
        path = (self.root / safe_name(name)).resolve()
        if path.parent != self.root.resolve():
            raise BundleError(f"Model name {name!r} is not allowed.")
        return path

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / MANIFEST).is_file())

    def list(self) -> list[dict[str, Any]]:
        """Metadata of every model (unreadable ones listed with their problem)."""
        rows = []
        for name in self.names():
            try:
                rows.append(
                    json.loads((self.root / name / "metadata.json").read_text()) | {"name": name}
                )
            except (OSError, ValueError) as exc:
                rows.append({"name": name, "problem": f"unreadable metadata: {exc}"})
        return rows

    def save(self, result, name: str, note: str = "") -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return save_bundle(result, self.path(name), safe_name(name), note)

    def load(self, name: str) -> Bundle:
        path = self.path(name)
        if not path.exists():
            raise BundleError(
                f"No model called {name!r} in {self.root}. Models: {list_examples(self.names()) or 'none'}."
            )
        return load_bundle(path)

    def rename(self, old: str, new: str) -> str:
        src, dst = self.path(old), self.path(new)
        if not src.exists():
            raise BundleError(f"No model called {old!r} to rename.")
        if dst.exists():
            raise BundleError(
                f"A model called {safe_name(new)!r} already exists. Choose another name."
            )
        verify_bundle(src)
        meta = json.loads((src / "metadata.json").read_text())
        meta["name"] = safe_name(new)
        (src / "metadata.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
        write_manifest(src)
        os.replace(src, dst)
        return dst.name

    def delete(self, name: str) -> None:
        path = self.path(name)
        if not (path / MANIFEST).is_file():
            raise BundleError(f"No model called {name!r} to delete.")
        shutil.rmtree(path)

    def export_zip(self, name: str, policy: SigningPolicy | None = None) -> bytes:
        """The bundle as the bytes of one ``.zip`` (verified first; signed if there is a secret).

        ``policy`` overrides the registry's own for this export.
        """
        path = self.path(name)
        verify_bundle(path)
        return export_bundle_zip(path, (policy or self.policy).secret)

    def import_zip(
        self, data: bytes, name: str | None = None, policy: SigningPolicy | None = None
    ) -> str:
        """Check the signature, verify, load-test and add a bundle zip; returns its name.

        ``policy`` overrides the registry's own for this import.

        Raises
        ------
        BundleError
            If the zip is unsafe or damaged, or its signature is refused by the policy.
        """
        policy = policy or self.policy
        staging = Path(tempfile.mkdtemp(prefix=".import-", dir=self._ensure_root()))
        try:
            folder = staging / "bundle"
            extract_bundle_zip(data, folder)
            check_bundle_signature(folder, policy)  # before Keras reads anything
            bundle = load_bundle(folder)
            final = safe_name(name or bundle.metadata.get("name") or "imported-model")
            if self.path(final).exists():
                raise BundleError(
                    f"A model called {final!r} already exists. Import it under another name."
                )
            os.replace(folder, self.path(final))
            return final
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _ensure_root(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root


def export_bundle_zip(folder: Path, secret: bytes | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in (*BUNDLE_FILES, MANIFEST):
            zf.write(folder / name, arcname=name)
        if secret is not None:
            zf.writestr(SIGNATURE_FILE, sign_manifest((folder / MANIFEST).read_bytes(), secret))
    return buffer.getvalue()


def check_bundle_signature(folder: Path, policy: SigningPolicy) -> str:
    """Check (and remove) the ``signature.json`` of an extracted zip; see ``signing``.

    Raises
    ------
    BundleError
        If the policy refuses the signature, or there is no manifest to check it against.
    """
    path = folder / SIGNATURE_FILE
    signature = path.read_bytes() if path.is_file() else None
    path.unlink(missing_ok=True)
    if not (folder / MANIFEST).is_file():
        raise BundleError(f"The bundle zip is not a medinn model bundle: it has no {MANIFEST}.")
    outcome = check_signature((folder / MANIFEST).read_bytes(), signature, policy)
    log.info("Bundle signature: %s", outcome)
    return outcome


def extract_bundle_zip(data: bytes, folder: Path, max_bytes: int = MAX_BUNDLE_BYTES) -> None:
    """Extract a bundle zip safely: only the bundle's own flat file names, size-capped.

    Raises
    ------
    BundleError
        For a file that is not a zip, unexpected or nested entries (zip-slip), pickles, or a
        total uncompressed size over ``max_bytes`` (zip bomb).
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise BundleError(
            "The uploaded file is not a zip archive; export the model bundle again."
        ) from None
    with zf:
        infos = zf.infolist()
        allowed = set(BUNDLE_FILES) | {MANIFEST, SIGNATURE_FILE}
        bad = [i.filename for i in infos if i.filename not in allowed]
        if bad:
            raise BundleError(
                f"The bundle zip holds entries a medinn bundle never has: {list_examples(bad)}. "
                "Only the bundle files, at the top level, are accepted."
            )
        for info in infos:
            _check_entry(info)
        total = sum(i.file_size for i in infos)
        if total > max_bytes:
            raise BundleError(
                f"The bundle zip would unpack to {total / 1e6:.0f} MB, over the {max_bytes / 1e6:.0f} MB "
                "limit; it is not a medinn bundle."
            )
        folder.mkdir(parents=True)
        for info in infos:
            try:
                _extract_entry(zf, info, folder / info.filename)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise BundleError(
                    f"The bundle zip is damaged: {info.filename!r} cannot be unpacked ({exc}). "
                    "Export the model bundle again."
                ) from None


def _check_entry(info: zipfile.ZipInfo) -> None:
    """Refuse, before reading it, an entry zipfile would fail on or whose header lies."""
    name = repr(info.filename)
    if info.flag_bits & 0x1:
        raise BundleError(
            f"The bundle zip's entry {name} is encrypted; medinn bundles never are. Export the "
            "model bundle again."
        )
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise BundleError(
            f"The bundle zip's entry {name} uses compression method {info.compress_type}; "
            "medinn bundles are stored or deflated. Export the model bundle again."
        )
    # Deflate adds at most a few bytes per 16 KB block: an entry holding much more
    # compressed data than its stated size states a false size.
    if info.compress_size > info.file_size + info.file_size // 100 + 1024:
        raise BundleError(
            f"The bundle zip's entry {name} states {info.file_size:,} bytes unpacked but holds "
            f"{info.compress_size:,} compressed bytes: its header is false. Export the model "
            "bundle again."
        )


def _extract_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    """One entry, never more than the size its header states (which the caller capped)."""
    written = 0
    with zf.open(info) as src, open(target, "wb") as dst:
        while block := src.read(1 << 20):
            written += len(block)
            if written > info.file_size:
                raise BundleError(
                    f"The bundle zip's entry {info.filename!r} unpacks to more than the "
                    f"{info.file_size:,} bytes its header states; refused."
                )
            dst.write(block)
