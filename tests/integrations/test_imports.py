"""`import phasewatch` stays light: the framework callbacks import their framework only when used."""

import subprocess
import sys


def test_importing_phasewatch_imports_no_training_framework():
    code = (
        "import sys, phasewatch, phasewatch.integrations; "
        "print(sorted(m for m in ('transformers', 'lightning', 'pytorch_lightning') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
