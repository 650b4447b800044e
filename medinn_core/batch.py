"""Scoring one pandas batch at a time, the same code on one machine and on a cluster.

:class:`BatchScorer` loads a model bundle once and then scores any number of batches. It is
the callable class that Ray Data's ``map_batches`` builds once per worker, and
:func:`score_iterator` is the iterator form that Spark's ``mapInPandas`` calls once per
partition. Both score exactly as ``python -m medinn_core predict`` does a chunk of a file, so
their numbers are the CLI's to the bit.

Engines read CSV files with their own readers: give them medinn's missing markers
(:data:`medinn_core.io.MISSING_MARKERS`) as null values, so that ``NA`` or ``?`` in a
category column count as missing rather than as an unseen category (``docs/scaling.md``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import pandas as pd

from medinn_core.predict import score_frame


class BatchScorer:
    """Score pandas batches with the bundle in ``bundle_dir``, loaded once.

    Parameters
    ----------
    bundle_dir : str or os.PathLike
        A saved model bundle (verified against its manifest when loaded). On a cluster, a
        folder every worker can read.
    threshold : float, optional
        Decision threshold for binary models; defaults to the model's.

    Raises
    ------
    BundleError
        If the bundle is missing, altered or cannot be loaded.

    Examples
    --------
    >>> scorer = BatchScorer("models/cardio")  # doctest: +SKIP
    >>> scorer(patients)  # doctest: +SKIP
    """

    def __init__(self, bundle_dir: str | os.PathLike[str], *, threshold: float | None = None):
        from medinn_core.io import load_bundle

        self.bundle = load_bundle(bundle_dir)
        self.threshold = threshold

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        """The scores of ``batch``, one row per patient, as :func:`~medinn_core.predict.score_frame`.

        Raises
        ------
        SchemaError
            If the batch lacks a column the model needs (naming them all).
        """
        return score_frame(self.bundle.model, batch, threshold=self.threshold, fixed_shape=True)


def score_iterator(
    bundle_dir: str | os.PathLike[str],
    batches: Iterable[pd.DataFrame],
    *,
    threshold: float | None = None,
) -> Iterator[pd.DataFrame]:
    """Score an iterable of batches with one :class:`BatchScorer` (Spark's ``mapInPandas``).

    The bundle is loaded when the first batch is asked for.

    Raises
    ------
    BundleError, SchemaError
        As :class:`BatchScorer`.
    """
    scorer = BatchScorer(bundle_dir, threshold=threshold)
    for batch in batches:
        yield scorer(batch)
