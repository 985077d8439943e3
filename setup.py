"""Build script of fairmot_ros, following the ament_python conventions of ROS 2.

Used both by ``colcon build`` (package.xml says build_type ament_python) and by ``pip install
-e .`` in this repository's own virtual environment (scripts/setup). Launch and config files are
globbed so that files added to launch/, config/ or cmake/ are installed without editing this
script.
"""

import re
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "fairmot_ros"
HERE = Path(__file__).resolve().parent


def _version() -> str:
    """Read __version__ from the package so that it is written in one place only."""
    text = (HERE / PACKAGE / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"{PACKAGE}/__init__.py has no __version__")
    return match.group(1)


def _share(folder: str, *patterns: str) -> list[tuple[str, list[str]]]:
    """data_files entry installing folder/<patterns> under share/<package>/<folder>."""
    files = sorted({path for pattern in patterns for path in glob(f"{folder}/{pattern}")})
    return [(f"share/{PACKAGE}/{folder}", files)] if files else []


setup(
    name=PACKAGE,
    version=_version(),
    description="FairMOT multi-object tracking (ONNX Runtime) for ROS 2",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    include_package_data=False,
    # The demonstration model and its card travel inside the package; they are opened by path.
    package_data={f"{PACKAGE}.default_model": ["*.onnx", "MODEL_CARD.md"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        *_share("launch", "*.launch.py", "*.launch.xml", "*.launch.yaml"),
        *_share("config", "*.yaml", "*.rviz"),
        *_share("cmake", "*.cmake"),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    entry_points={
        "console_scripts": [
            "tracker_node = fairmot_ros.ros.node:main",
            "fairmot-bench = fairmot_ros.bench.cli:main",
            "fairmot-export = fairmot_ros.export:main",
            "fairmot-train = fairmot_ros.training.cli:main",
            "fairmot-eval = fairmot_ros.evaluation.cli:main",
            "fairmot-demo = fairmot_ros.replay.demo:main",
            "fairmot-bag = fairmot_ros.replay.cli:main",
        ],
    },
)
