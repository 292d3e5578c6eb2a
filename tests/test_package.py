"""The package's public names: ``from indextts import Engine`` works, and importing the package loads no torch."""

from __future__ import annotations

import pytest


def test_the_package_exports_the_engine_without_loading_torch_on_import():
    import subprocess
    import sys

    code = ("import sys, indextts; loaded = 'torch' in sys.modules; "
            "from indextts import Engine, Settings, EmotionSpec, InputError; "
            "sys.exit(10 if loaded else 0 if Engine.__module__ == 'indextts.engine' and 'torch' in sys.modules else 11)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
    import indextts

    with pytest.raises(AttributeError, match="no attribute 'Enigne'"):
        indextts.Enigne  # noqa: B018
    assert "Engine" in dir(indextts) and set(indextts.__all__) <= set(dir(indextts))
