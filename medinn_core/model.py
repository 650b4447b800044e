"""The Keras network: a multilayer perceptron whose head matches the task.

TensorFlow is imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from medinn_core.calibrate import Recalibration
from medinn_core.config import TrainConfig
from medinn_core.errors import ModelError, SchemaError, list_examples
from medinn_core.network import (
    CNN_LEARNING_RATE_FACTOR,
    build_inference_network,
    build_training_network,
    cnn_batch_size,
    fold_members,
    member_loss,
    member_network,
    member_scores,
    n_members_of,
    network_kind,
    spline_knots,
    uses_cnn,
)
from medinn_core.preprocess import Preprocessor
from medinn_core.schema import Schema, Task, labels, numeric_view

if TYPE_CHECKING:
    import keras

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: Training steps per call into TensorFlow (Keras ``steps_per_execution``).
STEPS_PER_EXECUTION = 32
# Early stopping: a member's patience restarts only when its validation loss falls by more
# than this share (AUROC: rises by this much). A member whose loss crept down by 1e-5 an
# epoch trained to the 100-epoch limit (20,000-patient cohort; Framingham, docs/trials.md)
# while the others waited, since the members train in one graph.
MIN_IMPROVEMENT = 1e-4


def build_network(
    n_inputs: int,
    task: str,
    n_outputs: int,
    config: TrainConfig,
    signals: tuple[tuple[str, int, int], ...] = (),
) -> keras.Model:
    """Build (not train) a one-member network for ``task``, laid out as medinn saves networks
    (see :mod:`medinn_core.network`): hidden ``Dense`` layers, a linear output (and, with
    ``config.wide``, a linear path from the inputs) summed, then the head activation: sigmoid
    (binary, one output), softmax (multiclass) or linear (regression).

    Parameters
    ----------
    n_inputs : number of encoded input columns.
    task : ``"binary"``, ``"multiclass"`` or ``"regression"``.
    n_outputs : 1 for binary and regression, the number of classes for multiclass.
    config : the training settings (layers, activation, L2, seed, wide, network).
    signals : each signal's name and span among the inputs (a convolutional network).

    Returns
    -------
    keras.Model
        An uncompiled functional model.
    """
    return build_inference_network(
        n_inputs, task, n_outputs, config, 1, config.wide, signals=signals
    )


def _auroc(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(y) == 0 or y.min() == y.max():
        return float("nan")
    return float(roc_auc_score(y, score))


class _MemberProgress:
    """Keras callback factory: per-member early stopping on each member's own held-out rows,
    best weights per member, the user's stop, and epoch reports."""

    @staticmethod
    def make(task, x_held, y_held, held_mask, monitor, patience, on_epoch):
        """``x_held``: encoded rows some member does not train on; ``held_mask[i, k]`` is True
        where member ``k`` does not train on held row ``i`` (its validation rows)."""
        import keras

        n_members = held_mask.shape[1]
        maximise = monitor == "val_auroc"

        class Progress(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.best = np.full(n_members, -np.inf if maximise else np.inf)
                self.best_epoch = np.full(n_members, -1)
                self.wait = np.zeros(n_members, dtype=int)
                self.best_weights: list = [None] * n_members
                self.stopped_by_user = False

            def _member_layers(self, k):
                prefix = f"member_{k}_"
                return [
                    layer
                    for layer in self.model.layers
                    if layer.name.startswith(prefix) and layer.weights
                ]

            def on_epoch_end(self, epoch, logs=None):
                raw = np.concatenate(
                    [
                        np.asarray(self.model([x_held[i : i + 65_536]], training=False))
                        for i in range(0, len(x_held), 65_536)
                    ]
                )
                losses = member_scores(task, raw, y_held, n_members, held_mask)
                member_loss = np.array(
                    [losses[held_mask[:, k], k].mean() for k in range(n_members)]
                )
                if logs is not None:
                    # Added to Keras' own dict: ReduceLROnPlateau and History read it after us.
                    logs["val_loss"] = float(np.mean(member_loss))
                    if task == "binary":
                        member_auroc = np.array(
                            [
                                _auroc(y_held[held_mask[:, k]], raw[held_mask[:, k], k])
                                for k in range(n_members)
                            ]
                        )
                        logs["val_auroc"] = float(np.nanmean(member_auroc))
                values = member_auroc if maximise else member_loss
                for k in range(n_members):
                    value = values[k]
                    if not np.isfinite(value):
                        continue
                    gain = (value - self.best[k]) if maximise else (self.best[k] - value)
                    if gain > 0:  # the best weights so far are kept, however small the gain
                        self.best[k], self.best_epoch[k] = value, epoch
                        self.best_weights[k] = [
                            layer.get_weights() for layer in self._member_layers(k)
                        ]
                    # but only a gain above MIN_IMPROVEMENT resets the member's patience
                    if gain > MIN_IMPROVEMENT * (1.0 if maximise else abs(value)):
                        self.wait[k] = 0
                    else:
                        self.wait[k] += 1
                if (self.wait >= patience).all():
                    self.model.stop_training = True
                report = {k: float(v) for k, v in (logs or {}).items()}
                if on_epoch is not None and on_epoch(epoch, report) is False:
                    self.stopped_by_user = True
                    self.model.stop_training = True

            def on_train_end(self, logs=None):
                for k in range(n_members):
                    if self.best_weights[k] is not None:
                        for layer, weights in zip(
                            self._member_layers(k), self.best_weights[k], strict=True
                        ):
                            layer.set_weights(weights)

        return Progress()


class MedinnModel:
    """A trained network with the preprocessing and schema it needs (scikit-learn contract).

    ``__init__`` only stores settings; :meth:`fit` sets ``preprocessor_``, ``model_``,
    ``history_``, ``classes_``, ``best_epoch_``. :meth:`predict_proba` and :meth:`predict` take
    raw columns in any order.

    Parameters
    ----------
    schema : the schema with target and task set.
    config : the training settings.
    """

    def __init__(self, schema: Schema, config: TrainConfig | None = None):
        self.schema = schema
        self.config = config if config is not None else TrainConfig()

    # -- training --------------------------------------------------------------------------
    def fit(
        self,
        train: pd.DataFrame,
        validation: pd.DataFrame | None = None,
        on_epoch: Callable[[int, dict[str, float]], bool | None] | None = None,
        *,
        folds: np.ndarray | None = None,
    ) -> MedinnModel:
        """Fit the preprocessing and the ensemble, then recalibrate on held-out outputs.

        Two schemes (see :func:`medinn_core.train.choose_scheme`):

        * ``folds`` given (one fold number per row of ``train``, ``validation`` None): member
          ``k`` trains on the rows of the other folds and stops early on fold ``k``; the
          out-of-fold outputs are the held-out outputs.
        * ``validation`` given: every member trains on ``train`` (they differ by their initial
          weights and dropout) and stops early on ``validation``, whose ensemble outputs are
          the held-out outputs.

        Held-out outputs fit the recalibration (classifiers) and the conformal quantile
        (regression intervals, multiclass sets), and are kept in memory as ``heldout_``
        (rows, outcomes, outputs) for the internal validation; they are never saved.

        ``on_epoch(epoch, logs)`` is called after each epoch; returning False stops training,
        keeping each member's best weights so far.

        Raises
        ------
        SchemaError
            If the schema has no target or task, or columns are missing.
        ModelError
            If the target cannot be encoded (e.g. a class unseen in the schema).
        """
        import keras

        schema = self.schema
        if schema.target is None or schema.task is None:
            raise SchemaError("Choose a target column before training.")
        if (folds is None) == (validation is None):
            raise ValueError("Give either validation rows or a fold number for each row.")
        cfg = self.config
        task = Task(schema.task)
        self.classes_ = tuple(schema.classes)
        self.threshold_ = 0.5
        self.preprocessor_ = Preprocessor(schema).fit(train)
        if folds is None:
            frame = pd.concat([train, validation])
            n_members = cfg.split_members
            trains_on = np.zeros((len(frame), n_members), dtype=bool)
            trains_on[: len(train)] = True
            self.scheme_ = "split"
        else:
            frame = train
            folds = np.asarray(folds, dtype=int)
            n_members = int(folds.max()) + 1
            trains_on = folds[:, None] != np.arange(n_members)[None, :]
            self.scheme_ = "folds"
        self.n_members_ = n_members
        x = self.preprocessor_.transform(frame)
        y = self.encode_target(frame)
        fit_rows = trains_on.any(axis=1)
        held_rows = ~trains_on.all(axis=1)
        y_fit = y.astype(np.float32)
        if task == Task.SURVIVAL:  # the event, then the follow-up time (see member_loss)
            self.time_ = self.encode_time(frame)
            y_fit = np.column_stack([y, self.time_]).astype(np.float32)
        if task == Task.REGRESSION:
            self.target_mean_ = float(np.mean(y[fit_rows]))
            self.target_scale_ = float(np.std(y[fit_rows])) or 1.0
            y_fit = ((y - self.target_mean_) / self.target_scale_).astype(np.float32)
        n_out = len(self.classes_) if task == Task.MULTICLASS else 1
        per_member = int(trains_on.sum(axis=0).min())
        signals = self.preprocessor_.signal_spans()
        # the spline path is for tabular inputs; a convolutional network reads traces itself
        self._knots = None if uses_cnn(cfg, signals) else spline_knots(x[fit_rows], cfg.knots)
        network = build_training_network(
            x.shape[1],
            task.value,
            n_out,
            cfg,
            n_members,
            cfg.wide,
            per_member,
            self._knots,
            signals=self.preprocessor_.signal_spans(),
        )
        network.compile(
            optimizer=keras.optimizers.Adam(learning_rate=cfg.learning_rate * self._rate_factor()),
            loss=member_loss(task.value, n_members, n_out),
            steps_per_execution=STEPS_PER_EXECUTION,
        )
        monitor = cfg.monitor if task == Task.BINARY else "val_loss"
        progress = _MemberProgress.make(
            task.value,
            x[held_rows],
            y_fit[held_rows],
            ~trains_on[held_rows],
            monitor,
            cfg.patience,
            on_epoch,
        )
        packed = np.column_stack([y_fit, trains_on.astype(np.float32)])[fit_rows]
        weights = None
        if task in (Task.BINARY, Task.MULTICLASS):
            class_weight = self._class_weight(y[fit_rows])
            if class_weight is not None:
                weights = np.vectorize(class_weight.get)(y[fit_rows]).astype(np.float32)
        network.fit(
            [x[fit_rows]],
            packed,
            sample_weight=weights,
            epochs=cfg.epochs,
            batch_size=self.batch_size(int(fit_rows.sum()), task),
            callbacks=[progress, self._reduce_lr(monitor)],
            shuffle=True,
            verbose=0,
        )
        self.history_ = {k: [float(v) for v in vals] for k, vals in network.history.history.items()}
        self.best_epoch_ = int(np.max(progress.best_epoch)) + 1
        self.member_best_epochs_ = [int(e) + 1 for e in progress.best_epoch]
        self.stopped_by_user_ = progress.stopped_by_user
        self._finish(network, task, x, y, trains_on, held_rows, folds, n_out)
        return self

    def _finish(self, network, task, x, y, trains_on, held_rows, folds, n_out) -> None:
        """Held-out outputs, recalibration, conformal quantile; the inference network."""
        from medinn_core import calibrate

        k = self.n_members_
        if task == Task.SURVIVAL:
            self._finish_survival(network, x, y, trains_on, held_rows, folds)
            return
        raw = np.asarray(network([x[held_rows]], training=False), dtype=np.float64)
        raw = raw.reshape(len(raw), k, n_out)
        y_held = y[held_rows]
        if folds is not None:
            own = folds[held_rows]
            logits = raw[np.arange(len(raw)), own]  # each row's out-of-fold member
        else:
            own = None
            logits = raw.mean(axis=1)  # no member trained on the validation rows
        cov = self.config.coverage
        self.recalibration_ = Recalibration()
        if task == Task.REGRESSION:
            output = logits[:, 0] * self.target_scale_ + self.target_mean_
            residual = np.abs(y_held - output)
            self.conformal_ = {
                "coverage": cov,
                "half_width": _finite(calibrate.conformal_quantile(residual, cov)),
            }
            scale, shift = self.target_scale_, self.target_mean_
        else:
            z = logits[:, 0] if task == Task.BINARY else logits
            self.recalibration_ = calibrate.fit_recalibration(task.value, z, y_held)
            if own is None:
                output = calibrate.probability(task.value, self.recalibration_.apply(z))
            else:  # each fold recalibrated by the other folds, as a new patient would be
                output = calibrate.cross_fitted(task.value, z, y_held, own)
            self.conformal_ = {"coverage": cov}
            if task == Task.MULTICLASS:
                scores = calibrate.class_scores(output, y_held)
                self.conformal_["score_threshold"] = _finite(
                    calibrate.conformal_quantile(scores, cov)
                )
            scale = self.recalibration_.slope
            shift = self.recalibration_.intercept if task == Task.BINARY else 0.0
        self.heldout_ = {
            "rows": np.flatnonzero(held_rows),
            "y": y_held,
            "output": output,
            "fold": own,
        }
        inference = build_inference_network(
            x.shape[1],
            task.value,
            n_out,
            self.config,
            k,
            self.config.wide,
            self._knots,
            signals=self.preprocessor_.signal_spans(),
        )
        fold_members(network, inference, k, self.config.wide, scale, shift)
        self.model_ = inference

    def _finish_survival(self, network, x, y, trains_on, held_rows, folds) -> None:
        """Centre each member's log-hazard on its training rows (a Cox model leaves the level
        free), take the held-out log-hazards, fit the Breslow baseline on them and fold the
        members. No recalibration: the baseline sets the absolute risk."""
        from medinn_core.survival import fit_baseline, risk_by, with_cohort

        k = self.n_members_
        raw = _call(network, x, 65_536, False)
        centre = np.array([raw[trains_on[:, m], m].mean() for m in range(k)])
        lp = raw - centre
        time = self.time_
        if folds is not None:
            own = folds[held_rows]
            lp_held = lp[held_rows][np.arange(int(held_rows.sum())), own]
        else:
            own = None
            lp_held = lp[held_rows].mean(axis=1)
        horizon = self.schema.horizon
        baseline = fit_baseline(time[held_rows], y[held_rows], lp_held, horizon)
        self.baseline_ = with_cohort(baseline, lp_held)
        self.recalibration_ = Recalibration()
        self.conformal_ = {"coverage": self.config.coverage}
        self.heldout_ = {
            "rows": np.flatnonzero(held_rows),
            "y": y[held_rows],
            "time": time[held_rows],
            "risk_score": lp_held,
            "output": risk_by(lp_held, self.baseline_.at_horizon),
            "fold": own,
        }
        wide = self.config.wide
        inference = build_inference_network(
            x.shape[1],
            "survival",
            1,
            self.config,
            k,
            wide,
            self._knots,
            signals=self.preprocessor_.signal_spans(),
        )
        fold_members(network, inference, k, wide, 1.0, 0.0)
        for m in range(k):
            layer = inference.get_layer(f"member_{m}_output")
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, bias - centre[m] / k])
        self.model_ = inference

    def _reduce_lr(self, monitor: str):
        # Halving the step size when validation stalls lets Adam settle into the minimum
        # instead of hovering around it; early stopping still decides when to end.
        import keras

        return keras.callbacks.ReduceLROnPlateau(
            monitor=monitor,
            mode="max" if monitor == "val_auroc" else "min",
            factor=0.5,
            patience=max(2, self.config.patience // 3),
            min_lr=self.config.learning_rate / 64,
            verbose=0,
        )

    def batch_size(self, n_rows: int, task: Task | str | None = None) -> int:
        """The configured batch size, or a size that grows with the data when it is 0 (auto).

        Survival models take about an eighth of the rows a step (128 to 1024): the partial
        likelihood compares each event with the batch's risk set, which a small batch makes
        too coarse, and a few steps an epoch keep training moving."""
        if self.config.batch_size:
            return self.config.batch_size
        if Task(task or self.schema.task) == Task.SURVIVAL:
            return int(np.clip(2 ** np.round(np.log2(max(n_rows, 1) / 8)), 128, 1024))
        if self._rate_factor() != 1.0:  # a convolutional network (medinn_core.network)
            return cnn_batch_size(n_rows)
        return int(np.clip(2 ** np.round(np.log2(max(n_rows, 1) / 200)), 32, 1024))

    def _rate_factor(self) -> float:
        """The learning-rate multiple of the network kind (3 for a CNN, see
        :data:`medinn_core.network.CNN_LEARNING_RATE_FACTOR`)."""
        pre = getattr(self, "preprocessor_", None)
        spans = pre.signal_spans() if pre is not None else ()
        return CNN_LEARNING_RATE_FACTOR if network_kind(self.config, spans) == "cnn" else 1.0

    def _class_weight(self, y: np.ndarray) -> dict[int, float] | None:
        if self.config.class_weight != "balanced":
            return None
        counts = np.bincount(y.astype(int), minlength=max(len(self.classes_), 2))
        counts = np.maximum(counts, 1)
        return {i: float(len(y) / (len(counts) * c)) for i, c in enumerate(counts)}

    def encode_target(self, df: pd.DataFrame) -> np.ndarray:
        """The target column as model outputs: class indices, or floats for regression.

        Raises
        ------
        SchemaError
            If the target column is absent, has missing values, or unknown classes.
        """
        name = self.schema.target
        if name not in df.columns:
            raise SchemaError(
                f"The data has no target column {name!r}; it is needed to train or evaluate."
            )
        series = df[name]
        if series.isna().any():
            raise SchemaError(
                f"Target column {name!r} is missing in {int(series.isna().sum())} rows; drop them first."
            )
        if self.schema.task == Task.REGRESSION:
            values = numeric_view(series)
            if values.isna().any():
                raise SchemaError(f"Target column {name!r} holds values that are not numbers.")
            return values.to_numpy(dtype=np.float32)
        lab = labels(series)
        index = {c: i for i, c in enumerate(self.schema.classes)}
        unknown = sorted(set(lab.unique()) - set(index))
        if unknown:
            raise SchemaError(
                f"Target column {name!r} holds classes the model does not know: "
                f"{list_examples(unknown)}. Known classes: {list_examples(list(index))}."
            )
        return lab.map(index).to_numpy(dtype=np.int32)

    def encode_time(self, df: pd.DataFrame) -> np.ndarray:
        """A survival model's follow-up times as floats.

        Raises
        ------
        SchemaError
            If the time column is absent, or a time is missing, not a number, zero or negative.
        """
        name = self.schema.time_column
        if name is None or name not in df.columns:
            raise SchemaError(
                f"The data has no follow-up time column {name!r}; it is needed to train or "
                "evaluate a survival model."
            )
        values = numeric_view(df[name])
        bad = ~(values > 0)
        if bad.any():
            raise SchemaError(
                f"Follow-up time column {name!r} is missing, not a number, zero or negative in "
                f"{int(bad.sum())} rows; every patient needs a positive time to the event or to "
                "the end of follow-up. Fix or drop those rows."
            )
        return values.to_numpy(dtype=np.float64)

    # -- inference -------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise ModelError("This model is not trained yet: call fit() or load a saved model.")

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """The encoded model inputs for raw rows (columns in any order, extras ignored)."""
        self._check_fitted()
        return self.preprocessor_.transform(df)

    # -- what the model learned about its inputs -------------------------------------------
    def training_range(self, name: str) -> tuple[float, float] | None:
        """The 0.5th to 99.5th percentile of number column ``name`` in training (values
        outside it make a patient unusual); None for a category column.

        Raises
        ------
        ModelError
            If the model is not fitted.
        """
        self._check_fitted()
        return self.preprocessor_.training_range(name)

    def training_categories(self, name: str) -> list[str]:
        """The categories of ``name`` seen in training (``(missing)`` and ``(other)``
        included when the encoder has them); empty for a number column.

        Raises
        ------
        ModelError
            If the model is not fitted.
        """
        self._check_fitted()
        return self.preprocessor_.training_categories(name)

    def imputed_value(self, name: str) -> float | None:
        """The training median that replaces a missing value of number column ``name``;
        None for a category column (a missing category is a level of its own).

        Raises
        ------
        ModelError
            If the model is not fitted.
        """
        self._check_fitted()
        return self.preprocessor_.imputed_value(name)

    @property
    def n_inputs(self) -> int:
        """How many encoded inputs the network takes (scaled numbers, missing indicators and
        one-hot levels).

        Raises
        ------
        ModelError
            If the model is not fitted.
        """
        self._check_fitted()
        return len(self.preprocessor_.feature_names_)

    def raw_output(
        self, x: np.ndarray, batch: int = 65_536, *, fixed_shape: bool = False
    ) -> np.ndarray:
        """The network's outputs for encoded rows, as a 2-D float64 array, in batches.

        With ``fixed_shape``, every call to the network gets exactly ``batch`` rows (the last
        one padded with zeros): the CPU kernels round differently for different shapes, and a
        fixed shape makes each row's output the same to the bit whichever rows it is scored
        with, as when a file is scored in chunks. A small input then costs a full batch.
        """
        self._check_fitted()
        if len(x) == 0:
            n_out = self.model_.output_shape[-1]
            return np.zeros((0, n_out))
        return _call(self.model_, x, batch, fixed_shape)

    def proba_from_output(self, out: np.ndarray) -> np.ndarray:
        """Class probabilities from :meth:`raw_output` (binary: two columns; survival: no
        event and the event by the horizon)."""
        if self.schema.task == Task.SURVIVAL:
            p = self.risk_at(out[:, 0])
            return np.column_stack([1.0 - p, p])
        if self.schema.task == Task.BINARY:
            p = np.clip(out[:, 0], 0.0, 1.0)
            return np.column_stack([1.0 - p, p])
        return out / out.sum(axis=1, keepdims=True)

    def predict_proba(self, df: pd.DataFrame, *, fixed_shape: bool = False) -> np.ndarray:
        """Class probabilities, one column per class in ``classes_`` (rows sum to 1).

        ``fixed_shape`` as in :meth:`raw_output`.

        Raises
        ------
        ModelError
            If the model is not fitted, or is a regression model.
        SchemaError
            If columns the model needs are missing.
        """
        self._check_fitted()
        if self.schema.task == Task.REGRESSION:
            raise ModelError(
                "A regression model predicts values, not probabilities: use predict()."
            )
        return self.proba_from_output(self.raw_output(self.transform(df), fixed_shape=fixed_shape))

    def predict(
        self, df: pd.DataFrame, threshold: float | None = None, *, fixed_shape: bool = False
    ) -> np.ndarray:
        """Labels (at ``threshold`` for binary, default the model's), values for regression,
        or log-hazards (the ranking score) for survival.

        ``fixed_shape`` as in :meth:`raw_output`.
        """
        self._check_fitted()
        if self.schema.task in (Task.REGRESSION, Task.SURVIVAL):
            return self.raw_output(self.transform(df), fixed_shape=fixed_shape)[:, 0]
        proba = self.predict_proba(df, fixed_shape=fixed_shape)
        classes = np.asarray(self.classes_, dtype=object)
        if self.schema.task == Task.BINARY:
            cut = self.threshold_ if threshold is None else threshold
            return classes[(proba[:, 1] >= cut).astype(int)]
        return classes[np.argmax(proba, axis=1)]

    def risk_at(self, lp: np.ndarray, time: float | None = None) -> np.ndarray:
        """Survival: the risk of the event by ``time`` (default the horizon) for log-hazards
        ``lp``, from the Breslow baseline.

        Raises
        ------
        ModelError
            If the model is not a fitted survival model.
        """
        self._check_fitted()
        base = getattr(self, "baseline_", None)
        if base is None:
            raise ModelError("Risks by a time come from survival models only.")
        from medinn_core.survival import risk_by

        h0 = base.at_horizon if time is None or time == base.horizon else base.at(time)
        return risk_by(lp, h0)

    def survival_curves(self, df: pd.DataFrame) -> pd.DataFrame:
        """Survival: each patient's probability of being event-free (rows, same index as
        ``df``) at the baseline's step times (columns, from 0).

        Raises
        ------
        ModelError
            If the model is not a fitted survival model.
        """
        from medinn_core.survival import survival_curves

        self._check_fitted()
        if getattr(self, "baseline_", None) is None:
            raise ModelError("Survival curves come from survival models only.")
        lp = self.raw_output(self.transform(df))[:, 0]
        return survival_curves(lp, self.baseline_).set_axis(df.index, axis=0)

    @property
    def conformal_quantile(self) -> float:
        """Regression: the half-width of the conformal interval; multiclass: the largest
        ``1 - p`` a class may have and be in the prediction set; NaN otherwise."""
        self._check_fitted()
        conformal = getattr(self, "conformal_", None) or {}
        value = conformal.get("half_width", conformal.get("score_threshold"))
        return np.nan if value is None else float(value)

    def output_and_members(
        self, x: np.ndarray, batch: int = 65_536, *, fixed_shape: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`raw_output` and each member's output (as :meth:`member_output`, probability
        space) from one pass through the network, as scoring needs both; the members are None
        for a model saved before ensembles."""
        pair = self._members_network(with_output=True)
        if pair is None or len(x) == 0:
            return self.raw_output(x, batch, fixed_shape=fixed_shape), self.member_output(x)
        out, logits = _call(pair, x, batch, fixed_shape)
        return out, self._member_scale(logits, "probability")

    # -- the members ------------------------------------------------------------------------
    @property
    def n_members(self) -> int:
        """How many networks the model averages (1 for models saved before ensembles)."""
        self._check_fitted()
        return n_members_of(self.model_)

    def member_output(
        self,
        x: np.ndarray,
        batch: int = 65_536,
        *,
        fixed_shape: bool = False,
        space: str = "probability",
    ) -> np.ndarray | None:
        """Each member's output for encoded rows, ``(rows, members, outputs)``: recalibrated
        probabilities (or, with ``space="logit"``, logits), or values in the target's unit
        (survival: risks by the horizon, or with ``space="logit"`` log-hazards);
        None for a model saved before ensembles (one network, no members). ``fixed_shape`` as
        in :meth:`raw_output`."""
        members = self._members_network(with_output=False)
        if members is None:
            return None
        if len(x) == 0:
            return np.zeros((0, self.n_members, self.model_.output_shape[-1]))
        return self._member_scale(_call(members, x, batch, fixed_shape), space)

    def _members_network(self, *, with_output: bool):
        """The network's members as a model of their own (see
        :func:`medinn_core.network.member_network`), built once; None without members."""
        self._check_fitted()
        cache = self.__dict__.setdefault("_member_networks", {})
        if with_output not in cache:
            cache[with_output] = member_network(self.model_, with_output=with_output)
        return cache[with_output]

    def _member_scale(self, logits: np.ndarray, space: str) -> np.ndarray:
        if space == "logit" or self.schema.task == Task.REGRESSION:
            return logits
        if self.schema.task == Task.SURVIVAL:  # log-hazards to risks by the horizon
            return self.risk_at(logits)
        if self.schema.task == Task.BINARY:
            from scipy.special import expit

            return expit(logits)
        from scipy.special import softmax

        return softmax(logits, axis=2)


def _finite(value: float) -> float | None:
    """None for a quantile that too few held-out patients cannot give (saved as JSON null)."""
    return float(value) if np.isfinite(value) else None


#: Rows per call when a convolutional network scores: its activations (rows x samples x
#: filters, per member) stay in the CPU's cache. With Keras' compiled call
#: (``predict_on_batch``) 2,048 rows scored 5-member CNNs about 6x as fast as one eager call
#: on 20,000 rows (benchmarks/RESULTS.md, issue 15).
CNN_SCORING_ROWS = 2_048


def _call(network, x: np.ndarray, batch: int, fixed_shape: bool):
    """``network`` on the rows of ``x`` in batches, as float64 (see :meth:`raw_output`): one
    array, or a tuple of arrays for a network with several outputs.

    A convolutional network (its ``sequence`` layer, :mod:`medinn_core.network`) runs
    compiled, ``predict_on_batch``, in batches of at most :data:`CNN_SCORING_ROWS`: eagerly,
    TensorFlow runs each member's small convolutions op by op, several times slower."""
    compiled = any(layer.name == "sequence" for layer in network.layers)
    if compiled:
        batch = min(batch, CNN_SCORING_ROWS)
    parts = []
    for i in range(0, len(x), batch):
        part = x[i : i + batch]
        n = len(part)
        if fixed_shape and n < batch:
            part = np.concatenate([part, np.zeros((batch - n, x.shape[1]), x.dtype)])
        out = network.predict_on_batch([part]) if compiled else network([part], training=False)
        outs = out if isinstance(out, list | tuple) else (out,)
        parts.append([np.asarray(o, dtype=np.float64)[:n] for o in outs])
    joined = tuple(np.concatenate(column) for column in zip(*parts, strict=True))
    return joined[0] if len(joined) == 1 else joined
