"""Preprocessing that travels with the model.

scikit-learn's ``ColumnTransformer`` learns the parameters on the training split (median
imputation with missing indicators and standard scaling for numbers; one-hot encoding with a
missing level for categories). Categories seen in fewer than :data:`MIN_LEVEL_PATIENTS`
training patients (or under ``min_frequency`` of the rows, or beyond ``max_categories``) are
folded into ``OTHER_LEVEL`` before fitting, so that neither the saved preprocessing nor the
saved schema names them; a new patient with such a category, or one never seen, is encoded
as ``OTHER_LEVEL`` too.
The learned parameters are then kept as plain data (:class:`Preprocessor` state), saved as
JSON beside the network, so loading a model runs no pickled code, and applied with NumPy.
Every encoded column knows the original column it came from (``feature_of_``), taken from the
transformer's ``output_indices_`` and the encoders' categories.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from medinn_core.errors import ModelError, SchemaError, list_examples
from medinn_core.schema import Column, Kind, Schema, label_codes, labels, numeric_view
from medinn_core.signals import check_signal_groups, fill_traces

MISSING_LEVEL = "(missing)"
OTHER_LEVEL = "(other)"
PREPROCESS_VERSION = 1
# A category seen in fewer training patients than this is folded into OTHER_LEVEL before it
# is learned: the level would name those few patients in every saved bundle, and a network
# cannot learn anything reliable from so few of them anyway.
MIN_LEVEL_PATIENTS = 5


def clean_features(df: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The schema's feature columns in a form the encoder accepts, never changing ``df``.

    Numbers: text, infinities and (for columns where zero is impossible) zeros become missing.
    Categories and binaries: values as stripped strings. Column order follows the schema.

    Raises
    ------
    SchemaError
        If a feature column the schema needs is absent (names them all).
    """
    _require_features(df, schema)
    out = {col.name: clean_column(df[col.name], col) for col in schema.features}
    return pd.DataFrame(out, index=df.index)


def clean_column(series: pd.Series, column: Column) -> pd.Series:
    """One feature column as :func:`clean_features` cleans it."""
    if column.kind == Kind.NUMERIC:
        return pd.Series(_numbers(series, column), index=series.index, name=series.name)
    return labels(series).astype("object")


def _numbers(series: pd.Series, column: Column) -> np.ndarray:
    """A numeric column's cleaned values, as a new float64 array."""
    # In NumPy: a handful of pandas calls per column added up on files of millions of rows.
    if series.dtype == np.float64:  # as a large file's reader gives them: no conversion
        values = series.to_numpy(copy=True)
    else:
        values = numeric_view(series).to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    values[~np.isfinite(values)] = np.nan
    if column.nonzero:
        values[values == 0] = np.nan
    return values


def _require_features(df: pd.DataFrame, schema: Schema) -> None:
    absent = [c for c in schema.feature_names if c not in df.columns]
    if absent:
        raise SchemaError(
            f"The data lacks {len(absent)} column(s) the model needs: {list_examples(absent)}. "
            "Add them (empty cells are allowed) or use a model trained without them."
        )


def _patients(df: pd.DataFrame, schema: Schema) -> pd.Series | None:
    """Each row's patient (the identifier), or None when each row is a patient."""
    if schema.id_column is None or schema.id_column not in df.columns:
        return None
    ids = df[schema.id_column].astype("str")
    # A row without an identifier is a patient of its own.
    alone = pd.Series([f"\x00row {i}" for i in range(len(ids))], index=ids.index)
    return ids.where(df[schema.id_column].notna(), alone)


def _blocks(encoded: list[Encoded]) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of each run of encoded columns with the same role (and, for levels,
    the same source column)."""
    start = 0

    def key(e: Encoded) -> tuple[str, str | None]:
        return e.role, e.source if e.role == "level" else e.level if e.role == "signal" else None

    for _, run in itertools.groupby(encoded, key):
        stop = start + len(list(run))
        yield start, stop
        start = stop


@dataclass(frozen=True)
class Encoded:
    """What one encoded column holds: ``source`` column, ``role`` and ``level``.

    role is "scaled" (a standardised number), "missing" (1 where the number was missing),
    "level" (1 where the category equals ``level``; ``OTHER_LEVEL`` collects infrequent and
    unseen categories), or "signal" (one sample of the trace named by ``level``, gaps filled
    along the trace and scaled by the whole trace's mean and spread, so that a shape reads
    the same wherever it lies; the signals come last, one block per trace).
    """

    name: str
    source: str
    role: str
    level: str | None = None


class Preprocessor:
    """Fit on training rows, transform any rows with the same columns (scikit-learn contract).

    Parameters
    ----------
    schema : the schema naming the feature columns and their kinds.
    min_frequency : categories rarer than this share of training rows go to ``OTHER_LEVEL``,
        as do categories seen in fewer than :data:`MIN_LEVEL_PATIENTS` patients.
    max_categories : at most this many one-hot columns per feature (including ``OTHER_LEVEL``).
    """

    def __init__(self, schema: Schema, *, min_frequency: float = 0.01, max_categories: int = 30):
        self.schema = schema
        self.min_frequency = min_frequency
        self.max_categories = max_categories

    # -- fit -------------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame) -> Preprocessor:
        """Learn imputation, scaling and categories from ``df`` (the training split only)."""
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import MissingIndicator, SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        frame = clean_features(df, self.schema)
        groups = check_signal_groups(
            self.schema.signals,
            [c.name for c in self.schema.features if c.kind == Kind.NUMERIC],
            self.schema.names,
        )
        in_signal = {c for g in groups for c in g.columns}
        numeric = [
            c.name
            for c in self.schema.features
            if c.kind == Kind.NUMERIC and c.name not in in_signal
        ]
        categorical = [c.name for c in self.schema.features if c.kind != Kind.NUMERIC]
        # A numeric column missing in every training row cannot be imputed; it is dropped
        # from the inputs (validation has warned about it).
        numeric = [c for c in numeric if frame[c].notna().any()]
        min_count = max(1, int(np.ceil(self.min_frequency * len(frame))))
        patients = _patients(df, self.schema)
        binary = {c.name for c in self.schema.features if c.kind == Kind.BINARY}
        for name in categorical:
            # A yes/no column keeps its rarer answer (a stroke in 25 of 4,240 patients): folded,
            # it would be reported as never seen in training on the training patients
            # themselves. Only the patient-count rule (privacy) applies to it.
            frame[name] = self._fold(frame[name], patients, min_count, name in binary)
        transformer = ColumnTransformer(
            [
                ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
                ("ind", MissingIndicator(features="missing-only", error_on_new=False), numeric),
                (
                    "cat",
                    make_pipeline(
                        SimpleImputer(strategy="constant", fill_value=MISSING_LEVEL),
                        OneHotEncoder(
                            handle_unknown="ignore", sparse_output=False, dtype=np.float32
                        ),
                    ),
                    categorical,
                ),
            ],
            remainder="drop",
            verbose_feature_names_out=False,
        )
        if not numeric and not categorical and not groups:
            raise ModelError("No usable input column: every feature is missing in every row.")
        if numeric or categorical:
            matrix = transformer.fit_transform(frame)
            self.state_ = self._extract(transformer, numeric, categorical)
        else:
            matrix = np.zeros((len(frame), 0))
            self.state_ = {
                "version": PREPROCESS_VERSION,
                "numbers": {},
                "indicated": [],
                "levels": {},
                "encoded": [],
            }
        self.state_["signals"] = {}
        for g in groups:
            traces = fill_traces(frame[list(g.columns)].to_numpy(np.float64))
            known = traces[~np.isnan(traces).any(axis=1)]
            if len(known) == 0:
                raise ModelError(f"Signal {g.name!r} has no sample in any training row.")
            scale = float(known.std()) or 1.0
            self.state_["signals"][g.name] = {
                "columns": list(g.columns),
                "mean": float(known.mean()),
                "scale": scale,
                "fill": [float(v) for v in known.mean(axis=0)],
            }
            self.state_["encoded"] += [Encoded(c, c, "signal", g.name) for c in g.columns]
        # Typical training range (0.5th to 99.5th percentile, not raw minima and maxima) for
        # flagging new patients unlike the training data.
        self.state_["ranges"] = {
            n: [float(v) for v in frame[n].quantile([0.005, 0.995])] for n in numeric
        }
        for g in groups:
            # A trace's range is the whole trace's: a spike that moves along it is not
            # unusual at a sample where few training patients happened to have it.
            samples = frame[list(g.columns)].to_numpy(np.float64).ravel()
            low, high = np.nanquantile(samples, [0.005, 0.995])
            self.state_["ranges"].update({c: [float(low), float(high)] for c in g.columns})
        self.feature_names_ = tuple(e.name for e in self.state_["encoded"])
        self.feature_of_ = tuple(e.source for e in self.state_["encoded"])
        mine = self.transform(df)[:, : matrix.shape[1]]
        if mine.shape != matrix.shape or not np.allclose(mine, matrix, atol=1e-5):
            raise ModelError("Internal error: the saved preprocessing differs from scikit-learn's.")
        return self

    def _fold(
        self, values: pd.Series, patients: pd.Series | None, min_count: int, binary: bool = False
    ) -> pd.Series:
        """``values`` (missing as ``MISSING_LEVEL``) with the levels that are not kept replaced
        by ``OTHER_LEVEL``: a level is kept when it is in at least ``min_count`` rows (any
        number for the two answers of a ``binary`` column) and :data:`MIN_LEVEL_PATIENTS`
        patients, the most frequent first, at most ``max_categories`` columns in all."""
        values = values.where(values.notna(), MISSING_LEVEL)
        rows = values.value_counts(sort=False)
        if patients is None:
            people = rows
        else:
            people = pd.DataFrame({"v": values, "p": patients}).groupby("v")["p"].nunique()
            people = people.reindex(rows.index)
        # A missing value names nobody: only its share of the rows decides.
        named = rows.index != MISSING_LEVEL
        frequent = (rows >= min_count) | (named & binary)
        enough = frequent & ((people >= MIN_LEVEL_PATIENTS) | ~named)
        kept = rows[enough].sort_values(ascending=False, kind="stable")
        if len(kept) < len(rows) or len(kept) > self.max_categories:
            kept = kept.iloc[: self.max_categories - 1]
        if len(kept) == len(rows):
            return values
        return values.where(values.isin(kept.index), OTHER_LEVEL)

    def _extract(self, ct, numeric: list[str], categorical: list[str]) -> dict[str, Any]:
        num_pipe = ct.named_transformers_["num"] if numeric else None
        encoded: list[Encoded] = []
        numbers = {}
        for i, name in enumerate(numeric):
            imputer, scaler = num_pipe[0], num_pipe[1]
            numbers[name] = {
                "median": float(imputer.statistics_[i]),
                "mean": float(scaler.mean_[i]),
                "scale": float(scaler.scale_[i]),
            }
            encoded.append(Encoded(name, name, "scaled"))
        indicated = []
        if numeric:
            indicated = [numeric[j] for j in ct.named_transformers_["ind"].features_]
            encoded += [Encoded(f"{n} is missing", n, "missing") for n in indicated]
        levels = {}
        if categorical:
            encoder = ct.named_transformers_["cat"][-1]
            for j, name in enumerate(categorical):
                # Folded levels are named nowhere: "infrequent" stays empty (bundles saved
                # before the fold listed them there), and OTHER_LEVEL among the categories
                # says that any level not listed is encoded as OTHER_LEVEL.
                cats = [str(c) for c in encoder.categories_[j]]
                levels[name] = {"categories": cats, "infrequent": [], "columns": cats}
                encoded += [Encoded(f"{name} = {lv}", name, "level", lv) for lv in cats]
        width = sum(
            ct.output_indices_[k].stop - ct.output_indices_[k].start for k in ("num", "ind", "cat")
        )
        if width != len(encoded):
            raise ModelError("Internal error: encoded column mapping does not match the encoder.")
        return {
            "version": PREPROCESS_VERSION,
            "numbers": numbers,
            "indicated": indicated,
            "levels": levels,
            "encoded": encoded,
        }

    # -- transform -------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "state_"):
            raise ModelError(
                "This preprocessor is not fitted yet: call fit() on training rows first."
            )

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """Encode raw columns (any order, extras ignored) into the model's float32 inputs.

        Raises
        ------
        ModelError
            If called before :meth:`fit`.
        SchemaError
            If a needed column is missing.
        """
        self._check_fitted()
        _require_features(df, self.schema)
        encoded, numbers = self.state_["encoded"], self.state_["numbers"]
        columns = {c.name: c for c in self.schema.features}
        out = np.empty((len(df), len(encoded)), dtype=np.float32)
        missing: dict[str, np.ndarray] = {}
        # A block at a time (the scaled numbers, the indicators, each column's levels): one
        # NumPy call per block rather than per column, on every row of a chunk at once.
        for start, stop in _blocks(encoded):
            if encoded[start].role == "signal":
                self._signal_block(df, columns, encoded[start].level, out[:, start:stop])
                continue
            role, sources = encoded[start].role, [e.source for e in encoded[start:stop]]
            if role == "scaled":
                # Rows of x are columns, so that each is copied in whole; transposed at the end.
                x = np.empty((len(sources), len(df)), dtype=np.float64)
                for k, s in enumerate(sources):
                    x[k] = _numbers(df[s], columns[s])
                nan = np.isnan(x)
                missing.update(zip(sources, nan, strict=True))
                params = [[numbers[s][k] for s in sources] for k in ("median", "mean", "scale")]
                median, mean, scale = (np.array(v, dtype=np.float64)[:, None] for v in params)
                np.copyto(x, median, where=nan)
                x -= mean
                x /= scale
                out[:, start:stop] = x.T
            elif role == "missing":
                for k, s in enumerate(sources, start):
                    out[:, k] = (
                        missing[s] if s in missing else np.isnan(_numbers(df[s], columns[s]))
                    )
            else:
                source = sources[0]
                codes, ids = self._levels_of(df[source], self.state_["levels"][source])
                wanted = np.array([ids.get(e.level, -1) for e in encoded[start:stop]])
                out[:, start:stop] = codes[:, None] == wanted
        return out

    def _signal_block(self, df, columns, name: str, out: np.ndarray) -> None:
        """One trace's samples, gaps filled along the trace, scaled by the trace's spread."""
        spec = self.state_["signals"][name]
        x = np.empty((len(df), len(spec["columns"])), dtype=np.float64)
        for k, c in enumerate(spec["columns"]):
            x[:, k] = _numbers(df[c], columns[c])
        x = fill_traces(x, np.asarray(spec["fill"], dtype=np.float64))
        out[:] = (x - spec["mean"]) / spec["scale"]

    def signal_spans(self) -> tuple[tuple[str, int, int], ...]:
        """Each signal's name and the ``(start, stop)`` of its samples among the encoded
        inputs, in order (the network slices its trace there); empty without signals."""
        self._check_fitted()
        spans, encoded = [], self.state_["encoded"]
        for start, stop in _blocks(encoded):
            if encoded[start].role == "signal":
                spans.append((encoded[start].level, start, stop))
        return tuple(spans)

    @staticmethod
    def _levels_of(series: pd.Series, spec: dict[str, Any]) -> tuple[np.ndarray, dict[str, int]]:
        """Each row's level as a number, and the number of each level (integer comparisons
        are much faster than comparing every string once per one-hot column)."""
        codes, names = label_codes(series)
        names = [*names, MISSING_LEVEL]  # code -1 is missing
        kept = set(spec["categories"]) - set(spec["infrequent"])
        if spec["infrequent"] or OTHER_LEVEL in kept:
            names = [n if n in kept else OTHER_LEVEL for n in names]
        ids = {name: i for i, name in enumerate(dict.fromkeys(names))}
        return np.array([ids[n] for n in names], dtype=np.intp)[codes], ids

    def training_categories(self, name: str) -> list[str]:
        """The categories of ``name`` seen in training (for unseen-category reports)."""
        self._check_fitted()
        return list(self.state_["levels"].get(name, {}).get("categories", []))

    def saved_schema(self) -> Schema:
        """The schema as a bundle saves it: a feature's categories are the levels the model
        learned (folded ones are not named); other columns keep no categories, but the target
        keeps its classes.

        Raises
        ------
        ModelError
            If called before :meth:`fit`.
        """
        self._check_fitted()
        columns = []
        for col in self.schema.columns:
            spec = self.state_["levels"].get(col.name) if col.is_feature else None
            if spec is not None:
                cats = tuple(c for c in spec["categories"] if c != MISSING_LEVEL)
            elif col.name == self.schema.target:
                cats = tuple(c for c in col.categories if c in self.schema.classes)
            else:
                cats = ()
            columns.append(replace(col, categories=cats))
        return replace(self.schema, columns=tuple(columns))

    def training_range(self, name: str) -> tuple[float, float] | None:
        """The 0.5th–99.5th percentile of ``name`` in training (None for categories)."""
        self._check_fitted()
        r = self.state_.get("ranges", {}).get(name)
        return None if r is None else (r[0], r[1])

    def imputed_value(self, name: str) -> float | None:
        """The median that replaces a missing ``name`` (None for categories)."""
        self._check_fitted()
        p = self.state_["numbers"].get(name)
        return None if p is None else p["median"]

    # -- JSON ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        state = dict(self.state_)
        state["encoded"] = [vars(e) for e in self.state_["encoded"]]
        state["min_frequency"] = self.min_frequency
        state["max_categories"] = self.max_categories
        return state

    @classmethod
    def from_dict(cls, data: dict[str, Any], schema: Schema) -> Preprocessor:
        """Rebuild a fitted preprocessor from :meth:`to_dict` output; runs no code.

        Raises
        ------
        ModelError
            If the data is not a preprocessing state this version reads.
        """
        try:
            if int(data["version"]) > PREPROCESS_VERSION:
                raise ModelError(
                    "The preprocessing was saved by a newer medinn; upgrade to load it."
                )
            pre = cls(
                schema, min_frequency=data["min_frequency"], max_categories=data["max_categories"]
            )
            encoded = [Encoded(**e) for e in data["encoded"]]
            pre.state_ = {
                "version": data["version"],
                "numbers": data["numbers"],
                "indicated": data["indicated"],
                "levels": data["levels"],
                "ranges": data.get("ranges", {}),
                "encoded": encoded,
                "signals": data.get("signals", {}),
            }
            _check_state(pre.state_, schema)
        except ModelError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(
                f"The saved preprocessing is damaged or not medinn's: {exc!r}."
            ) from None
        pre.feature_names_ = tuple(e.name for e in encoded)
        pre.feature_of_ = tuple(e.source for e in encoded)
        return pre


def _check_state(state: dict[str, Any], schema: Schema) -> None:
    """Every encoded column has what :meth:`Preprocessor.transform` reads, for a feature of
    ``schema``: a damaged file fails when loaded, not when a patient is scored."""
    features = set(schema.feature_names)
    for e in state["encoded"]:
        if e.source not in features:
            raise ValueError(f"input {e.name!r} comes from {e.source!r}, not a feature")
        if e.role == "scaled":
            params = [float(state["numbers"][e.source][k]) for k in ("median", "mean", "scale")]
            if not all(np.isfinite(params)) or params[2] <= 0:
                raise ValueError(f"the scaling of {e.source!r} is not usable")
        elif e.role == "level":
            spec = state["levels"][e.source]
            if not all(isinstance(c, str) for c in [*spec["categories"], *spec["infrequent"]]):
                raise ValueError(f"the categories of {e.source!r} are not text")
        elif e.role == "signal":
            spec = state["signals"][e.level]
            if e.source not in spec["columns"] or not float(spec["scale"]) > 0:
                raise ValueError(f"the trace {e.level!r} of input {e.name!r} is not usable")
            if len(spec["fill"]) != len(spec["columns"]):
                raise ValueError(f"the trace {e.level!r} is damaged")
        elif e.role != "missing":
            raise ValueError(f"unknown role {e.role!r} of input {e.name!r}")
