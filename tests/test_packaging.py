"""The package build: every data folder is a declared package, so the wheel carries the
templates, static files, translations, migrations and rulesets without setuptools warnings."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_holds_every_data_file_and_the_build_warns_of_no_undeclared_package(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("api", "scoring"):
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-v",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    output = built.stdout + built.stderr
    assert built.returncode == 0, output[-3000:]
    assert "is absent from the `packages` configuration" not in output
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = [
        path.relative_to(source).as_posix()
        for pattern in (
            "api/templates/**/*.html",
            "api/static/**/*.*",
            "api/web/translations/*.yaml",
            "api/migrations/script.py.mako",
            "api/migrations/versions/*.py",
            "scoring/rulesets/*.yaml",
        )
        for path in source.glob(pattern)
    ]
    assert len(expected) > 40
    assert sorted(set(expected) - names) == []
