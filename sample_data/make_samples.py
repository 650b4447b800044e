"""Write medinn's sample data sets, byte for byte the same on every run.

Run from the repository root::

    python sample_data/make_samples.py            # writes into sample_data/
    python sample_data/make_samples.py OUT_DIR    # writes into OUT_DIR

The CSV files in this folder are generated: change this script (or medinn_core.synthetic), never
the files. ``tests/core/test_synthetic.py`` regenerates them and compares the bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from medinn_core.synthetic import (  # noqa: E402
    make_cardiology_cohort,
    make_drug_response,
    make_heartbeat_cohort,
    make_survival_cohort,
    make_toxicity_cohort,
)

HERE = Path(__file__).resolve().parent
CARDIOLOGY_SEED, HOLDOUT_SEED, NEW_PATIENTS_SEED, MESSY_SEED = 0, 1, 2, 3
DRUG_RESPONSE_SEED, TOXICITY_SEED, SURVIVAL_SEED, HEARTBEAT_SEED = 0, 0, 0, 0
# Messy headers: stray spaces around some names, as a hand-edited spreadsheet export has them.
MESSY_HEADERS = {"age": " age", "sex": "sex ", "systolic_bp": " systolic_bp ", "hba1c": "hba1c "}
MESSY_MISSING = ("", "NA", "?")


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """Plain UTF-8 CSV, ``\\n`` line ends, shortest float text: the same bytes on every OS."""
    return df.to_csv(index=False, lineterminator="\n", float_format="%.10g").encode("utf-8")


def breast_cancer_frame() -> pd.DataFrame:
    """scikit-learn's bundled copy of the Wisconsin diagnostic breast-cancer data, tidied."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    features = bunch.data.rename(columns=lambda name: name.replace(" ", "_"))
    ids = pd.DataFrame({"id": [f"BC{i:04d}" for i in range(1, len(features) + 1)]})
    diagnosis = pd.Series(
        bunch.target_names[bunch.target.to_numpy()], name="diagnosis", dtype="str"
    )
    return pd.concat([ids, features, diagnosis], axis=1)


def _messy_cell(value: object, rng: np.random.Generator) -> str:
    if pd.isna(value):
        return MESSY_MISSING[rng.integers(len(MESSY_MISSING))]
    if isinstance(value, float):
        return format(value, ".10g")
    return str(value)


def messy_export_bytes() -> bytes:
    """~300 cardiology rows as a careless export: BOM, ``;``, CRLF, mixed missing markers."""
    df = make_cardiology_cohort(300, seed=MESSY_SEED, id_start=900_001)
    rng = np.random.default_rng(MESSY_SEED)
    pad_sex = rng.random(len(df)) < 0.1
    pad_smoking = rng.random(len(df)) < 0.15
    df["sex"] = df["sex"].where(~pad_sex, df["sex"] + " ")
    df["smoking"] = df["smoking"].where(~pad_smoking, " " + df["smoking"])
    lines = [";".join(MESSY_HEADERS.get(column, column) for column in df.columns)]
    for row in df.itertuples(index=False):
        lines.append(";".join(_messy_cell(value, rng) for value in row))
    return b"\xef\xbb\xbf" + ("\r\n".join(lines) + "\r\n").encode("utf-8")


def sample_files() -> dict[str, bytes]:
    """Every sample file, name to bytes."""
    new_patients = make_cardiology_cohort(200, seed=NEW_PATIENTS_SEED, id_start=5001)
    return {
        "breast_cancer.csv": to_csv_bytes(breast_cancer_frame()),
        "cardiology.csv": to_csv_bytes(make_cardiology_cohort(4000, seed=CARDIOLOGY_SEED)),
        "cardiology_holdout.csv": to_csv_bytes(
            make_cardiology_cohort(1000, seed=HOLDOUT_SEED, id_start=4001)
        ),
        "new_patients.csv": to_csv_bytes(new_patients.drop(columns="mace_1y")),
        "drug_response.csv": to_csv_bytes(make_drug_response(2000, seed=DRUG_RESPONSE_SEED)),
        "toxicity.csv": to_csv_bytes(make_toxicity_cohort(2000, seed=TOXICITY_SEED)),
        "messy_export.csv": messy_export_bytes(),
        "survival.csv": to_csv_bytes(make_survival_cohort(2500, seed=SURVIVAL_SEED)),
        "heartbeat.csv": to_csv_bytes(make_heartbeat_cohort(2000, seed=HEARTBEAT_SEED)[0]),
    }


def write_samples(out_dir: Path) -> list[Path]:
    """Write every sample file into ``out_dir`` (created if needed); return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, content in sample_files().items():
        path = out_dir / name
        path.write_bytes(content)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out_dir = Path(args[0]) if args else HERE
    for path in write_samples(out_dir):
        print(f"{path}  {path.stat().st_size:>9,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
