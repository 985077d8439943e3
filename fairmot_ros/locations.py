"""Where the package's files live outside its Python modules: one place for every such path.

Installed (colcon, a wheel, the project's venv), the package's data files are in its ament
share folder (``share/fairmot_ros/``: ``config/``, ``launch/``, ``cmake/``). Only when the
package runs from a source checkout with no install of those files are the checkout's copies
used, and caches then stay in the checkout's ``.cache`` as before; elsewhere caches go to
``$XDG_CACHE_HOME/fairmot_ros``. No other module builds paths from ``__file__``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

__all__ = ["cache_dir", "checkout_root", "reference_data_dir", "share_file"]

PACKAGE = "fairmot_ros"


@lru_cache(maxsize=1)
def checkout_root() -> Path | None:
    """The source checkout this package is imported from (its ``package.xml`` names the
    package), or None for an installed copy."""
    root = Path(__file__).resolve().parent.parent
    manifest = root / "package.xml"
    try:
        return root if f"<name>{PACKAGE}</name>" in manifest.read_text(encoding="utf-8") \
            else None
    except OSError:
        return None


def _installed_share() -> Path | None:
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE))
    except Exception:  # noqa: BLE001 - PackageNotFoundError, no ament index at all
        return None


def share_file(relative: str) -> Path:
    """``share/fairmot_ros/<relative>`` of the installed package, else of the source checkout.

    Raises FileNotFoundError naming both places when neither has it.
    """
    places = [p for p in (_installed_share(), checkout_root()) if p is not None]
    for place in places:
        if (place / relative).is_file():
            return place / relative
    where = " or ".join(str(p) for p in places) or "no installed share folder or checkout"
    raise FileNotFoundError(f"{relative} is not in {where}")


def cache_dir() -> Path:
    """The package's cache: the checkout's ``.cache``, else ``$XDG_CACHE_HOME/fairmot_ros``."""
    root = checkout_root()
    if root is not None:
        return root / ".cache"
    base = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / PACKAGE


REFERENCE_DATA_ENV = "FAIRMOT_ROS_DATA"


def reference_data_dir() -> Path:
    """The reference data (ground truth, calibrations), never inside the package:
    ``$FAIRMOT_ROS_DATA`` when set (an installed copy on a robot keeps it anywhere), else
    ``shared/data`` beside the source checkout, or beside the current folder for an installed
    copy."""
    chosen = os.environ.get(REFERENCE_DATA_ENV, "")
    if chosen:
        return Path(chosen).expanduser().resolve()
    return (checkout_root() or Path.cwd()).parent / "shared" / "data"
