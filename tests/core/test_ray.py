"""Ray Data runs medinn's batch scorer and gets the CLI's numbers (the optional `ray` extra).

requirements-dev.txt installs Ray, so this runs wherever the tests do; without Ray it skips,
except under ``CI=true``, where a missing Ray is a failure.
"""

import os

import pandas as pd
import pytest

from medinn_core.cli import main

from ..conftest import ROOT

try:
    import ray
except ImportError:
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip(
        "Ray is an optional extra (pip install 'medinn[ray]'), not installed here",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def local_ray():
    # Two logical CPUs, not one: the scorer actor holds one for its lifetime, and the CSV read
    # tasks wait for a free one (with a single CPU the run had not ended after ten minutes).
    ray.init(
        num_cpus=2,
        object_store_memory=200 * 1024**2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}},
    )
    yield
    ray.shutdown()


def test_map_batches_scores_a_csv_like_the_cli(local_ray, saved_binary, cardiology_df, tmp_path):
    import pyarrow.csv as pa_csv

    from medinn_core.batch import BatchScorer
    from medinn_core.io import MISSING_MARKERS

    path = tmp_path / "patients.csv"
    cardiology_df.drop(columns="mace_1y").to_csv(path, index=False)
    assert main(["predict", str(saved_binary), str(path), "--out", str(tmp_path / "cli.csv")]) == 0

    markers = pa_csv.ConvertOptions(null_values=list(MISSING_MARKERS), strings_can_be_null=True)
    scored = (
        ray.data.read_csv(str(path), convert_options=markers)
        .map_batches(
            BatchScorer,
            fn_constructor_args=(str(saved_binary),),
            batch_format="pandas",
            batch_size=256,
            concurrency=1,
        )
        .to_pandas()
    )
    cli = pd.read_csv(tmp_path / "cli.csv")
    scored = scored.sort_values("patient_id", ignore_index=True)
    assert len(scored) == len(cli) == len(cardiology_df)
    assert scored["patient_id"].tolist() == cli["patient_id"].tolist()
    assert (scored["risk"].astype("float32") == cli["risk"].astype("float32")).all()
    assert (scored["prediction"] == cli["prediction"].astype(str)).all()
