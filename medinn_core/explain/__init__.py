"""Explanations: why the model predicts what it does, exactly and fast.

Private modules, public names here (``from medinn_core.explain import explain_model``):

- ``_deeplift``: a vectorised DeepLIFT of the network's dense stack (equal to shap's
  DeepExplainer, additive to the output), on the per-layer rules of ``_rules``;
- ``_conv``: the same through a convolutional member's signal branches (each trace sample
  gets its own exact contribution; :func:`medinn_core.signals.group_total` sums a signal);
- ``_engine``: :func:`explain_model` on raw rows, the :class:`Explanation` it returns, the
  background summary, and the lock that keeps shap's TensorFlow patches away from training;
- ``_wording``: an output and a change in the clinician's terms, and the plain sentence under
  a waterfall (a patient's value in words comes from :mod:`medinn_core.values`, re-exported
  here);
- ``_figures``: importance, beeswarm, dependence, cohort comparison and waterfall figures;
- ``_terms``: a model's terms beside its explanations (units, imputed values, what the output
  is called) and the table of its inputs.

Importing this package does not import TensorFlow or shap; explaining does.
"""

from __future__ import annotations

from medinn_core.explain._deeplift import (
    ACTIVATIONS,
    SOFTMAX_RULES,
    SPACES,
    DenseStack,
    EnsembleStack,
    deeplift,
    dense_stack_from_model,
)
from medinn_core.explain._engine import (
    METHOD_LABELS,
    METHODS,
    MIN_ROWS_PER_CENTROID,
    TF_GRAPH_LOCK,
    EncodedExplanation,
    Explanation,
    background_weights,
    build_explanation,
    explain_bundle,
    explain_encoded,
    explain_model,
    global_importance,
    group_contributions,
    normalized_weights,
    summarize_background,
    tensorflow_exclusive,
)
from medinn_core.explain._figures import (
    MISSING_COLOUR,
    VALUE_COLOURS,
    beeswarm_figure,
    compare_cohorts_figure,
    dependence_figure,
    importance_figure,
    normalised_values,
    same_scale,
    waterfall_extent,
    waterfall_figure,
)
from medinn_core.explain._terms import (
    INPUT_COLUMNS,
    ModelInputs,
    Terms,
    explanation_terms,
    model_inputs,
)
from medinn_core.explain._wording import (
    change_text,
    contribution_scale,
    output_parts,
    output_text,
    output_texts,
    plain_sentence,
)
from medinn_core.values import describe_value, format_number

__all__ = [
    "ACTIVATIONS",
    "INPUT_COLUMNS",
    "METHODS",
    "METHOD_LABELS",
    "MIN_ROWS_PER_CENTROID",
    "MISSING_COLOUR",
    "SOFTMAX_RULES",
    "SPACES",
    "TF_GRAPH_LOCK",
    "VALUE_COLOURS",
    "DenseStack",
    "EncodedExplanation",
    "EnsembleStack",
    "Explanation",
    "ModelInputs",
    "Terms",
    "background_weights",
    "beeswarm_figure",
    "build_explanation",
    "change_text",
    "compare_cohorts_figure",
    "contribution_scale",
    "deeplift",
    "dense_stack_from_model",
    "dependence_figure",
    "describe_value",
    "explain_bundle",
    "explain_encoded",
    "explain_model",
    "explanation_terms",
    "format_number",
    "global_importance",
    "group_contributions",
    "importance_figure",
    "model_inputs",
    "normalised_values",
    "normalized_weights",
    "output_parts",
    "output_text",
    "output_texts",
    "plain_sentence",
    "same_scale",
    "summarize_background",
    "tensorflow_exclusive",
    "waterfall_extent",
    "waterfall_figure",
]
