"""A column name is text from a file too: a spreadsheet would run a header cell that starts
like a formula, so the CSV a user downloads escapes it as it escapes cells."""

import io

import pandas as pd

from medinn_core.io import csv_bytes, escape_formulas

HOSTILE = ['=HYPERLINK("http://example.invalid/x","click")', "+cmd|' /C calc'!A0", "@SUM(A1)"]


def test_formula_column_names_are_escaped_in_the_header():
    frame = pd.DataFrame({name: ["=1+2", "ok"] for name in [*HOSTILE, "risk, %"]})
    written = csv_bytes(frame)
    back = pd.read_csv(io.BytesIO(written))
    assert list(back.columns) == [f"'{name}" for name in HOSTILE] + ["risk, %"]
    assert back.iloc[0].tolist() == ["'=1+2"] * 4
    assert written == escape_formulas(frame).to_csv(index=False, lineterminator="\n").encode()
