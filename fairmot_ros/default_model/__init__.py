"""The demonstration model shipped inside the package (see MODEL_CARD.md beside this file).

A compact FairMOT (yolov5s, 64-d re-ID) trained only on PETS09-S2L1 frames 1-400, so that a
fresh install tracks people in scenes like that one without downloading anything. For general
use export the released FairMOT weights with ``fairmot-export`` and point the node at them.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODEL_NAME = "fairmot_yolov5s_pets_384x288.onnx"
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / DEFAULT_MODEL_NAME
MODEL_CARD_PATH = Path(__file__).resolve().parent / "MODEL_CARD.md"


def default_model_path() -> Path:
    """Path of the shipped ONNX model; FileNotFoundError says how to get one if it is missing."""
    if not DEFAULT_MODEL_PATH.is_file():
        raise FileNotFoundError(
            f"default model {DEFAULT_MODEL_PATH} is missing from this install; "
            "export one with fairmot-export and pass its path"
        )
    return DEFAULT_MODEL_PATH
