"""The README's test command is what CI runs, so the two cannot drift apart."""

import re

from .conftest import ROOT


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    commands = [line for block in blocks for line in block.splitlines() if line and line[0] != "#"]
    test_command = next(c for c in commands if "pytest" in c)
    assert test_command in (ROOT / ".ci" / "run").read_text()
    run_command = next(c for c in commands if "streamlit run app.py" in c)
    assert run_command.startswith("pip install -r requirements.txt")
