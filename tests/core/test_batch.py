"""Scoring in chunks: the CLI's streaming predict and the batch scorer for cluster engines."""

import numpy as np
import pandas as pd
import pytest

from medinn_core.batch import BatchScorer, score_iterator
from medinn_core.cli import main
from medinn_core.errors import BundleError, SchemaError
from medinn_core.io import csv_bytes, iter_csv_chunks, read_table
from medinn_core.predict import check_columns, combine_checks, score_frame
from medinn_core.synthetic import make_cardiology_cohort

CHUNK = 500


@pytest.fixture(scope="module")
def patients(tmp_path_factory):
    """3,000 patients whose later chunks hold what the first ones lack."""
    df = make_cardiology_cohort(3000, seed=31, missing=False).drop(columns="mace_1y")
    df["patient_id"] = np.arange(1, 3001).astype(float)
    df.loc[2750, "patient_id"] = np.nan  # IDs: integers, then a gap (floats) in chunk 6
    df.loc[df.index < 2000, "chest_pain"] = "none"  # a known level first seen in chunk 5
    df.loc[2500:2510, "smoking"] = "vaping"  # an unseen category, chunk 6 only
    df.loc[2600:2650, "bmi"] = np.nan  # missing values, chunk 6 only
    df.loc[2900:2905, "diabetes"] = np.nan  # a 0/1 column that turns float in chunk 6
    df = df.astype({"hdl": "object"})
    df.loc[2950, "hdl"] = "<20"  # text in a numeric column, last chunk only
    path = tmp_path_factory.mktemp("chunks") / "patients.csv"
    df.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def model(saved_binary):
    from medinn_core.io import load_bundle

    return load_bundle(saved_binary).model


def _predict(bundle, data, out, *extra):
    assert main(["predict", str(bundle), str(data), "--out", str(out), *extra]) == 0
    return out.read_bytes()


def test_chunked_predict_writes_the_whole_file_output(
    saved_binary, model, patients, tmp_path, capsys, caplog, monkeypatch
):
    # Small blocks, so that the numeric features of the first chunks are parsed as floats and
    # the rest, from the block with '<20' on, as text (the whole file is a single block).
    monkeypatch.setattr("medinn_core.io._parse._STREAM_BLOCK_BYTES", 16384)
    with caplog.at_level("INFO", logger="medinn_core.io"):
        chunked = _predict(
            saved_binary, patients, tmp_path / "chunked.csv", "--chunk-rows", str(CHUNK)
        )
    assert "from chunk 6 on, every column is read as text" in caplog.text
    notes_chunked = capsys.readouterr().err
    whole = _predict(saved_binary, patients, tmp_path / "whole.csv", "--chunk-rows", "100000")
    notes_whole = capsys.readouterr().err
    assert chunked == whole
    assert notes_chunked.splitlines()[:-1] == notes_whole.splitlines()[:-1]  # not "wrote ..."
    assert "'vaping'" in notes_chunked and "'bmi'" in notes_chunked

    out = pd.read_csv(tmp_path / "chunked.csv")
    df = read_table(patients)
    assert list(out.columns) == ["patient_id", "risk", "risk_low", "risk_high", "prediction"]
    assert len(out) == 3000
    pd.testing.assert_series_equal(out["patient_id"], df["patient_id"])  # IDs in order, gap kept
    scores = score_frame(model, df, fixed_shape=True)
    assert np.array_equal(out["risk"].astype(np.float32), scores["risk"].astype(np.float32))
    assert (out["prediction"].astype(str) == scores["prediction"]).all()


def test_chunk_checks_combine_to_the_whole_table_check(model, patients):
    chunks = [check_columns(chunk, model) for chunk in iter_csv_chunks(patients, chunk_rows=CHUNK)]
    combined = combine_checks(chunks, model)
    whole = check_columns(read_table(patients), model)
    assert combined.messages() == whole.messages()
    assert combined.unusual().sum() == whole.unusual().sum()


def test_batch_scorer_on_chunks_equals_scoring_the_whole_frame(saved_binary, patients):
    scorer = BatchScorer(saved_binary)
    chunks = list(iter_csv_chunks(patients, chunk_rows=CHUNK))
    assert len(chunks) == 6
    by_chunk = pd.concat([scorer(chunk) for chunk in chunks])
    whole = score_frame(scorer.bundle.model, read_table(patients), fixed_shape=True)
    pd.testing.assert_frame_equal(by_chunk, whole)
    pd.testing.assert_frame_equal(pd.concat(score_iterator(saved_binary, iter(chunks))), whole)
    assert by_chunk["risk"].between(0, 1).all()


def test_batch_scorer_refuses_a_bad_bundle_and_names_missing_columns(saved_binary, tmp_path):
    with pytest.raises(BundleError):
        BatchScorer(tmp_path)
    batch = make_cardiology_cohort(20, seed=2).drop(columns=["age", "smoking"])
    with pytest.raises(SchemaError, match=r"'age'.*'smoking'"):
        BatchScorer(saved_binary)(batch)


def test_a_failure_part_way_leaves_no_output(saved_binary, tmp_path, capsys):
    # Over 1 MB, so that pyarrow hands out chunks before it meets the long row and pandas'
    # parser takes over from there.
    df = make_cardiology_cohort(12_000, seed=3, n_noise_features=4).drop(columns="mace_1y")
    lines = df.to_csv(index=False).splitlines(keepends=True)
    lines[11_000] = lines[11_000].rstrip("\n") + ",extra\n"
    broken = tmp_path / "broken.csv"
    broken.write_text("".join(lines))
    out = tmp_path / "scores.csv"
    out.write_text("earlier results\n")
    args = ["predict", str(saved_binary), str(broken), "--out", str(out), "--chunk-rows", "4000"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "line 11001" in err[-1]
    assert out.read_text() == "earlier results\n"  # untouched, and no partial file beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.csv", "scores.csv"]


def test_output_folder_that_does_not_exist_is_one_error_line(saved_binary, patients, tmp_path):
    out = tmp_path / "missing" / "scores.csv"
    assert main(["predict", str(saved_binary), str(patients), "--out", str(out)]) == 2


def test_csv_bytes_quotes_and_escapes_like_pandas_and_is_chunkable():
    frame = pd.DataFrame(
        {
            "patient_id": pd.array(["P1", "=HYPERLINK()", 'a,"b"', None, "-x", "two\nlines"]),
            "n": [1, 2, 3, 4, 5, 6],
            "flag": [True, False, True, True, False, False],
            "label": np.array(["0", "1", "-1", "0", "1", "@0"], dtype=object),
            "mixed": np.array([1, "a", None, -2.5, "=x", "b,c"], dtype=object),
        }
    )
    text = csv_bytes(frame)
    from medinn_core.io import escape_formulas

    assert text == escape_formulas(frame).to_csv(index=False).encode()
    parts = csv_bytes(frame.iloc[:2]) + csv_bytes(frame.iloc[2:], header=False)
    assert parts == text
    risk = pd.DataFrame({"risk": np.array([0.1, 1 / 3, np.nan, 1.0], dtype=np.float32)})
    assert csv_bytes(risk) == b"risk\n0.1\n0.33333334\n\n1\n"  # shortest float32 text
