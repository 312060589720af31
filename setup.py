"""Build hook: ship the demo's example app inside the package.

``aws-helper-sync demo`` runs ``examples/land_records``. A source checkout has it
at the repository root, but an installed wheel has only the package, so the
build copies the example's Python files to ``aws_helper_sync/_example/land_records``
(the demo looks there first). The example stays where it is in the repository:
one copy to edit, tested in place. Editable installs skip the copy (the demo
then finds the checkout's ``examples/``). Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

EXAMPLE = Path("examples") / "land_records"
PACKAGED = Path("aws_helper_sync") / "_example" / "land_records"


class BuildPyWithExample(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / PACKAGED
        if target.exists():
            shutil.rmtree(target)
        for source in sorted(EXAMPLE.rglob("*.py")):
            if "__pycache__" in source.parts:
                continue
            destination = target / source.relative_to(EXAMPLE)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)


setup(cmdclass={"build_py": BuildPyWithExample})
