"""Named, seeded image perturbations for robustness evaluation (uint8 BGR HxWx3 in and out).

A spec names one or more steps applied in order, ``NAME:LEVEL`` joined by ``+``::

    noise:8            Gaussian noise, sigma 8 grey levels
    noise:8+jpeg:40    the same noise, then JPEG at quality 40
    brightness:+40     (a ``+`` inside a level is a sign, not a separator)
    color:0.9,1,1.2    per-channel gains in R,G,B order

Each level is in the unit listed in :data:`KINDS` (grey levels, pixels, a factor, a quality),
so a table of results reads without looking anything up. The levels that leave an image
unchanged (``noise:0``, ``contrast:1``, ...) return it exactly, so a neutral step can never be
what moves a score. Random steps draw from a generator seeded by ``(seed, frame index, step
position)``: the same frame gets the same noise in every run (and a step's noise does not
depend on what earlier steps did to the image), while consecutive frames get independent noise
as a real sensor would give.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields

import cv2
import numpy as np

from fairmot_ros.sequences import MotSequence

Levels = tuple[float, ...]


class PerturbationError(ValueError):
    """A perturbation spec or level cannot be used."""


def _lut(image: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Apply a float look-up table of 256 (shared) or 256x3 (per channel) values, rounded."""
    table = np.clip(np.rint(table), 0, 255).astype(np.uint8).reshape(256, 1, -1)
    return cv2.LUT(image, table)


_GREY = np.arange(256, dtype=np.float64)


def _noise(image: np.ndarray, level: Levels, rng: np.random.Generator) -> np.ndarray:
    sigma = level[0]
    if sigma == 0:
        return image.copy()
    noisy = image.astype(np.float32) + sigma * rng.standard_normal(image.shape, np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _blur(image: np.ndarray, level: Levels, rng: np.random.Generator) -> np.ndarray:
    sigma = level[0]
    if sigma == 0:  # OpenCV would derive a sigma from the (zero) kernel size instead
        return image.copy()
    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma)


def _motion_blur(image: np.ndarray, level: Levels, rng: np.random.Generator) -> np.ndarray:
    length = int(level[0])
    if length == 1:
        return image.copy()
    kernel = np.full((1, length), 1.0 / length, dtype=np.float32)
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT_101)


def _jpeg(image: np.ndarray, level: Levels, rng: np.random.Generator) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(level[0])])
    if not ok:
        raise PerturbationError("JPEG encoding failed")
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def _brightness(image: np.ndarray, level: Levels, rng: np.random.Generator) -> np.ndarray:
    return _lut(image, _GREY + level[0])


def _contrast(image: np.ndarray, level: Levels, rng: np.random.Generator) -> np.ndarray:
    # Around the image's own mean, so the overall exposure stays where it was.
    mean = float(image.mean())
    return _lut(image, mean + level[0] * (_GREY - mean))


def _gamma(image: np.ndarray, level: Levels, rng: np.random.Generator) -> np.ndarray:
    return _lut(image, 255.0 * (_GREY / 255.0) ** level[0])


def _color(image: np.ndarray, level: Levels, rng: np.random.Generator) -> np.ndarray:
    red, green, blue = (level[0], 1.0, 1.0 / level[0]) if len(level) == 1 else level
    return _lut(image, _GREY[:, None] * np.array([blue, green, red]))  # BGR channel order


def _downscale(image: np.ndarray, level: Levels, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    small = (max(1, round(width * level[0])), max(1, round(height * level[0])))
    if small == (width, height):
        return image.copy()
    reduced = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
    return cv2.resize(reduced, (width, height), interpolation=cv2.INTER_LINEAR)


@dataclass(frozen=True)
class Kind:
    """One perturbation: what it does, its level's unit and valid range, its neutral level."""

    apply: Callable[[np.ndarray, Levels, np.random.Generator], np.ndarray]
    unit: str
    low: float
    high: float
    neutral: Levels | None
    low_open: bool = False
    integer: bool = False
    arity: tuple[int, ...] = (1,)
    signed: bool = False  # written with its sign in specs ("brightness:+40")
    random: bool = False  # draws from the per-(seed, frame) generator


KINDS: dict[str, Kind] = {
    "noise": Kind(_noise, "Gaussian sigma in grey levels, per pixel and channel", 0, 255,
                  (0.0,), random=True),
    "blur": Kind(_blur, "Gaussian sigma in pixels", 0, 50, (0.0,)),
    "motion_blur": Kind(_motion_blur, "horizontal box kernel length in pixels", 1, 101, (1.0,),
                        integer=True),
    "jpeg": Kind(_jpeg, "JPEG quality, 1-100, lower is stronger, no neutral level", 1, 100,
                 None, integer=True),
    "brightness": Kind(_brightness, "grey levels added to every channel", -255, 255, (0.0,),
                       signed=True),
    "contrast": Kind(_contrast, "factor around the image mean, < 1 flattens", 0, 10, (1.0,)),
    "gamma": Kind(_gamma, "exponent on intensities scaled to [0, 1], > 1 darkens", 0, 10, (1.0,),
                  low_open=True),
    "downscale": Kind(_downscale, "resolution factor, area-resized down then bilinear back up",
                      0, 1, (1.0,), low_open=True),
    "color": Kind(_color, "colour cast: K = red x K and blue / K, or R,G,B gains", 0, 10, (1.0,),
                  low_open=True, arity=(1, 3)),
}


@dataclass(frozen=True)
class Perturbation:
    """One step of a spec: a name from :data:`KINDS` and its level(s)."""

    name: str
    level: Levels

    def __str__(self) -> str:
        form = "+g" if KINDS[self.name].signed else "g"
        return f"{self.name}:" + ",".join(format(v, form) for v in self.level)

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return KINDS[self.name].apply(image, self.level, rng)


@dataclass(frozen=True)
class PerturbationChain:
    """Steps applied in order to each frame; ``seed`` with the frame index drives the noise."""

    steps: tuple[Perturbation, ...]
    seed: int = 0

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise PerturbationError(f"perturbation seed must be >= 0, got {self.seed}")

    @property
    def spec(self) -> str:
        return "+".join(str(step) for step in self.steps)

    def describe(self) -> dict[str, object]:
        """What a report records so that the run can be repeated exactly."""
        return {"spec": self.spec, "seed": self.seed,
                "units": {s.name: KINDS[s.name].unit for s in self.steps}}

    def __call__(self, image: np.ndarray, frame_index: int) -> np.ndarray:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise PerturbationError(
                f"perturbations take uint8 HxWx3 images, got {image.dtype} {image.shape}"
            )
        for position, step in enumerate(self.steps):
            rng = np.random.default_rng([self.seed, frame_index, position])
            image = step.apply(image, rng)
        return image


def parse_step(text: str) -> Perturbation:
    """``"blur:1.5"`` -> ``Perturbation("blur", (1.5,))``, checked against the kind's range."""
    name, sep, level_text = text.strip().partition(":")
    name = name.strip().lower()
    if name not in KINDS:
        raise PerturbationError(
            f"unknown perturbation {name!r} in {text.strip()!r}; known: {', '.join(KINDS)}"
        )
    kind = KINDS[name]
    if not sep or not level_text.strip():
        raise PerturbationError(f"perturbation {name!r} needs a level: {name}:LEVEL ({kind.unit})")
    try:
        level = tuple(float(v) for v in level_text.split(","))
    except ValueError:
        raise PerturbationError(f"level {level_text!r} of {name!r} is not a number") from None
    if len(level) not in kind.arity:
        counts = " or ".join(str(n) for n in kind.arity)
        raise PerturbationError(f"{name!r} takes {counts} value(s), got {len(level)}")
    for value in level:
        too_low = value <= kind.low if kind.low_open else value < kind.low
        if not math.isfinite(value) or too_low or value > kind.high:
            bracket = "(" if kind.low_open else "["
            raise PerturbationError(
                f"level {value:g} of {name!r} is outside {bracket}{kind.low:g}, {kind.high:g}]"
                f" ({kind.unit})"
            )
        if kind.integer and value != int(value):
            raise PerturbationError(f"level of {name!r} must be an integer, got {value:g}")
    return Perturbation(name, level)


def parse_perturbations(spec: str, seed: int = 0) -> PerturbationChain:
    """Parse ``"noise:8+jpeg:40"`` into a chain; a ``+`` followed by a digit is a sign."""
    if not spec.strip():
        raise PerturbationError("empty perturbation spec")
    parts = re.split(r"\+(?=\s*[A-Za-z_])", spec)
    if any(not part.strip() for part in parts) or spec.strip().endswith("+"):
        raise PerturbationError(f"empty step in perturbation spec {spec!r}")
    return PerturbationChain(tuple(parse_step(part) for part in parts), seed)


@dataclass(frozen=True)
class PerturbedSequence(MotSequence):
    """A :class:`MotSequence` whose frames pass through a chain on their way out.

    Being a ``MotSequence`` it goes wherever one goes (``track_sequence``, ground truth, sub-
    ranges with ``with_range``), so the evaluation loop needs no knowledge of perturbations.
    """

    perturbation: PerturbationChain | None = None

    def frames(self) -> Iterator[tuple[int, np.ndarray]]:
        for index, image in super().frames():
            yield index, image if self.perturbation is None else self.perturbation(image, index)


def perturb_sequence(sequence: MotSequence, chain: PerturbationChain) -> PerturbedSequence:
    """``sequence`` with every frame perturbed by ``chain`` (frame index = source index)."""
    values = {f.name: getattr(sequence, f.name) for f in fields(MotSequence)}
    return PerturbedSequence(**values, perturbation=chain)
