"""The environment a report records."""

from __future__ import annotations

import sys

from audit.records import Environment


def environment(seed: int, command_line: str) -> Environment:
    """What a report needs to be reproduced: Python, the packages that decide results, the seed and the command."""
    from importlib.metadata import PackageNotFoundError, version

    packages = {}
    for name in ("cloak-audit", "torch", "numpy", "faiss-cpu", "scikit-learn", "facenet-pytorch", "pillow"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    return Environment(python=sys.version.split()[0], packages=packages, seed=seed, command_line=command_line)
