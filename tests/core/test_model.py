"""The model's public facts about its inputs: what pages read instead of ``preprocessor_``."""

from __future__ import annotations

import pytest

from medinn_core.errors import ModelError
from medinn_core.model import MedinnModel
from medinn_core.preprocess import MISSING_LEVEL, OTHER_LEVEL
from medinn_core.schema import Kind


def test_the_model_tells_what_it_learned_about_each_input(binary_result, cardiology_df):
    model = binary_result.model
    for col in model.schema.features:
        if col.kind == Kind.NUMERIC:
            low, high = model.training_range(col.name)
            values = cardiology_df[col.name].dropna()
            assert values.min() <= low < high <= values.max()
            assert low <= model.imputed_value(col.name) <= high  # the median lies inside
            assert model.training_categories(col.name) == []
        else:
            assert model.training_range(col.name) is None
            assert model.imputed_value(col.name) is None
            seen = set(cardiology_df[col.name].dropna().astype(str))
            learned = set(model.training_categories(col.name)) - {MISSING_LEVEL, OTHER_LEVEL}
            assert learned <= seen and learned
    assert (
        model.n_inputs
        == binary_result.background.shape[1]
        == len(model.transform(cardiology_df)[0])
    )


def test_an_unfitted_model_has_no_facts_to_tell(binary_result):
    fresh = MedinnModel(binary_result.model.schema)
    for ask in (
        lambda: fresh.training_range("age"),
        lambda: fresh.training_categories("site"),
        lambda: fresh.imputed_value("age"),
        lambda: fresh.n_inputs,
    ):
        with pytest.raises(ModelError, match="not trained yet"):
            ask()
