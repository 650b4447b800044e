import subprocess
import sys

from ..conftest import ROOT


def _modules_after(statement):
    code = f"import sys; {statement}; print(','.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True, text=True
    )
    return set(out.stdout.strip().split(","))


def test_core_never_imports_streamlit():
    loaded = _modules_after(
        "import medinn_core, medinn_core.cli, medinn_core.train, medinn_core.io, "
        "medinn_core.predict, medinn_core.evaluation, medinn_core.explain, medinn_core.security, "
        "medinn_core.figures, medinn_core.style"
    )
    assert "streamlit" not in loaded


def test_light_modules_do_not_import_tensorflow():
    loaded = _modules_after(
        "import medinn_core.io, medinn_core.schema, medinn_core.validate, medinn_core.preprocess"
    )
    assert "tensorflow" not in loaded and "keras" not in loaded and "shap" not in loaded
