"""BGR images in, (boxes, scores, embeddings) out: letterbox + ONNX Runtime + decoding.

>>> detector = Detector("fairmot.onnx", conf_thres=0.4)
>>> dets = detector.detect(frame)            # frame: HxWx3 uint8 BGR
>>> dets.boxes, dets.scores, dets.embeddings

Several frames (e.g. one per camera, any sizes) go through one session run when the model has
a dynamic batch (``detect_batch``); a fixed-batch model is run in chunks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fairmot_ros.contract import ModelContract
from fairmot_ros.decode import DEFAULT_TOPK, Detections, decode_outputs
from fairmot_ros.engine import Engine
from fairmot_ros.preprocess import LetterboxInfo, letterbox_batch, to_input_tensor

__all__ = ["Detections", "Detector"]


class Detector:
    """FairMOT detector + re-ID embedder around an :class:`Engine`.

    ``engine_or_path``: an Engine, or a model path (extra keyword arguments go to Engine).
    ``conf_thres``: keep scores strictly above it (the original 0.4). With the tracker's BYTE
    pass on, use ``TrackerConfig.detector_threshold`` so low-score detections reach it.
    ``topk``: peaks decoded per frame (500 as in the original).
    ``last_timings``: seconds spent in preprocess / inference / decode for the latest call.
    """

    def __init__(
        self,
        engine_or_path: Engine | str | Path,
        conf_thres: float = 0.4,
        topk: int = DEFAULT_TOPK,
        **engine_kwargs,
    ):
        if isinstance(engine_or_path, Engine):
            if engine_kwargs:
                raise TypeError("engine options only apply when a model path is given")
            self.engine = engine_or_path
        else:
            self.engine = Engine(engine_or_path, **engine_kwargs)
        self.conf_thres = conf_thres
        self.topk = topk
        self.last_timings: dict[str, float] = {"preprocess": 0.0, "inference": 0.0, "decode": 0.0}

    @property
    def contract(self) -> ModelContract:
        return self.engine.contract

    @property
    def conf_thres(self) -> float:
        return self._conf_thres

    @conf_thres.setter
    def conf_thres(self, value: float) -> None:
        value = float(value)
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise ValueError(f"conf_thres must be in [0, 1], got {value}")
        self._conf_thres = value

    @property
    def topk(self) -> int:
        return self._topk

    @topk.setter
    def topk(self, value: int) -> None:
        if int(value) != value or value <= 0:
            raise ValueError(f"topk must be a positive integer, got {value}")
        self._topk = int(value)

    def preprocess(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, list[LetterboxInfo]]:
        """Letterbox every image to the model input and stack them into one blob."""
        c = self.contract
        batch, infos = letterbox_batch(images, c.input_height, c.input_width)
        return to_input_tensor(batch, c.input_format), infos

    def detect(self, image: np.ndarray) -> Detections:
        """Detections of one HxWx3 uint8 BGR frame, in its pixel coordinates."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detections for each frame; frames may have different sizes."""
        images = list(images)
        if not images:
            return []
        t0 = time.perf_counter()
        blob, infos = self.preprocess(images)
        t1 = time.perf_counter()
        outputs = self.engine.run(blob)
        t2 = time.perf_counter()
        sizes = [(info.image_height, info.image_width) for info in infos]
        results = decode_outputs(
            outputs, self.contract, sizes, self.conf_thres, self.topk, self.engine.peak_heads
        )
        t3 = time.perf_counter()
        self.last_timings = {"preprocess": t1 - t0, "inference": t2 - t1, "decode": t3 - t2}
        return results
