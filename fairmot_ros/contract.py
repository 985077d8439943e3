"""The contract between an exported FairMOT ONNX model and the runtime that runs it.

The exporter writes these facts into the ONNX ``metadata_props`` and the engine reads them
back, so a model file is self-describing: the node needs no side file and never assumes an
input size, embedding width or output layout. This module is the single place where the
names and meanings live; it imports nothing heavier than the standard library.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fairmot_ros import __version__

CONTRACT_VERSION = 1
KEY_PREFIX = "fairmot."

# Input tensor name and its two layouts.
INPUT_NAME = "images"
# (B, 3, H, W) float32 RGB in [0, 1]: the original FairMOT tensor (letterbox, BGR->RGB, /255).
INPUT_FLOAT_RGB_NCHW = "float32_rgb_nchw"
# (B, H, W, 3) uint8 BGR letterboxed image; channel flip, /255 and transpose happen in the graph,
# so only the image bytes cross to the device.
INPUT_UINT8_BGR_NHWC = "uint8_bgr_nhwc"
INPUT_FORMATS = (INPUT_FLOAT_RGB_NCHW, INPUT_UINT8_BGR_NHWC)

# How the letterboxed image is made (spec section 2): documented in the metadata for humans
# and other runtimes; ``fairmot_ros.preprocess`` implements it.
PREPROCESS_DESCRIPTION = (
    "letterbox: r=min(H/h0,W/w0), cv2.resize INTER_AREA to (round(w0*r), round(h0*r)), "
    "pad with 128 (top=round(dh-0.1), left=round(dw-0.1)); BGR->RGB; /255; no mean/std"
)

# Dense outputs (topk == 0), all at stride ``down_ratio``, float32.
OUT_HEATMAP = "heatmap"  # (B, 1, h, w) sigmoid scores, zeroed except at 3x3 local maxima
OUT_LTRB = "ltrb"  # (B, 4, h, w) distances to left, top, right, bottom, grid units
OUT_OFFSET = "offset"  # (B, 2, h, w) sub-cell centre offset, channel 0 = x, 1 = y
OUT_EMBEDDING = "embedding"  # (B, D, h, w) re-ID embedding, unit L2 norm over channels
DENSE_OUTPUTS = (OUT_HEATMAP, OUT_LTRB, OUT_OFFSET, OUT_EMBEDDING)

# Top-K outputs (topk > 0): peak selection inside the graph.
OUT_SCORES = "det_scores"  # (B, K) peak scores, descending
OUT_BOXES = "det_boxes"  # (B, K, 4) x1, y1, x2, y2 in grid units (before the inverse affine)
OUT_EMBEDDINGS = "det_embeddings"  # (B, K, D) unit-norm embeddings at the peaks
TOPK_OUTPUTS = (OUT_SCORES, OUT_BOXES, OUT_EMBEDDINGS)

PRECISIONS = ("fp32", "fp16", "int8")  # int8: static QDQ quantization of an FP32 export


class ContractError(ValueError):
    """A model file does not carry a usable FairMOT contract."""


@dataclass(frozen=True)
class ModelContract:
    """Everything a runtime must know about an exported model.

    ``batch`` is 0 for a dynamic batch dimension. Outputs are float32 whatever the
    ``precision`` of the weights, so the decoding code is the same for every export.
    """

    arch: str
    input_height: int
    input_width: int
    reid_dim: int
    input_format: str = INPUT_FLOAT_RGB_NCHW
    down_ratio: int = 4
    topk: int = 0
    precision: str = "fp32"
    batch: int = 0
    model_name: str = ""
    exporter_version: str = __version__
    quantization: str = ""  # int8: how it was quantized and calibrated (fairmot_ros.quantize)

    def __post_init__(self) -> None:
        problems = []
        if self.input_height <= 0 or self.input_height % 32:
            problems.append(f"input_height {self.input_height} is not a positive multiple of 32")
        if self.input_width <= 0 or self.input_width % 32:
            problems.append(f"input_width {self.input_width} is not a positive multiple of 32")
        if self.reid_dim <= 0:
            problems.append(f"reid_dim {self.reid_dim} must be positive")
        if self.input_format not in INPUT_FORMATS:
            problems.append(f"input_format {self.input_format!r} not in {INPUT_FORMATS}")
        if self.down_ratio != 4:
            problems.append(f"down_ratio {self.down_ratio} unsupported (only 4)")
        if self.topk < 0:
            problems.append(f"topk {self.topk} must be >= 0")
        if self.precision not in PRECISIONS:
            problems.append(f"precision {self.precision!r} not in {PRECISIONS}")
        if self.batch < 0:
            problems.append(f"batch {self.batch} must be >= 0 (0 = dynamic)")
        if problems:
            raise ContractError("invalid FairMOT model contract: " + "; ".join(problems))

    @property
    def output_height(self) -> int:
        return self.input_height // self.down_ratio

    @property
    def output_width(self) -> int:
        return self.input_width // self.down_ratio

    @property
    def output_names(self) -> tuple[str, ...]:
        return TOPK_OUTPUTS if self.topk else DENSE_OUTPUTS

    def to_metadata(self) -> dict[str, str]:
        """The ONNX ``metadata_props`` entries (all strings) that describe this model."""
        values = {
            "contract_version": CONTRACT_VERSION,
            "arch": self.arch,
            "input_name": INPUT_NAME,
            "input_height": self.input_height,
            "input_width": self.input_width,
            "input_format": self.input_format,
            "preprocess": PREPROCESS_DESCRIPTION,
            "reid_dim": self.reid_dim,
            "down_ratio": self.down_ratio,
            "topk": self.topk,
            "precision": self.precision,
            "batch": self.batch,
            "outputs": ",".join(self.output_names),
            "model_name": self.model_name,
            "exporter_version": self.exporter_version,
        }
        if self.quantization:  # written only where there is one: older readers ignore it
            values["quantization"] = self.quantization
        return {KEY_PREFIX + key: str(value) for key, value in values.items()}

    @classmethod
    def from_metadata(cls, props: Mapping[str, str], source: str = "model") -> ModelContract:
        """Read a contract back from ONNX metadata; a clear error names what is missing.

        The metadata comes from a file: anything may be in it, and every problem becomes a
        ``ContractError`` (nothing else escapes).
        """
        not_text = sorted(
            str(key) for key, value in props.items()
            if str(key).startswith(KEY_PREFIX) and not isinstance(value, str)
        )
        if not_text:
            raise ContractError(f"{source} metadata values are not text: {', '.join(not_text)}")
        version = props.get(KEY_PREFIX + "contract_version")
        if version is None:
            raise ContractError(
                f"{source} has no FairMOT metadata ({KEY_PREFIX}contract_version); "
                "export it with fairmot-export"
            )
        if version != str(CONTRACT_VERSION):
            raise ContractError(
                f"{source} uses FairMOT contract version {version}, this runtime reads "
                f"version {CONTRACT_VERSION}; re-export it with this fairmot_ros"
            )
        required = ("arch", "input_height", "input_width", "reid_dim")
        missing = [KEY_PREFIX + key for key in required if KEY_PREFIX + key not in props]
        if missing:
            raise ContractError(f"{source} metadata lacks {', '.join(missing)}")

        def get(key: str, default: str) -> str:
            return props.get(KEY_PREFIX + key, default)

        try:
            contract = cls(
                arch=get("arch", ""),
                input_height=int(get("input_height", "0")),
                input_width=int(get("input_width", "0")),
                reid_dim=int(get("reid_dim", "0")),
                input_format=get("input_format", INPUT_FLOAT_RGB_NCHW),
                down_ratio=int(get("down_ratio", "4")),
                topk=int(get("topk", "0")),
                precision=get("precision", "fp32"),
                batch=int(get("batch", "0")),
                model_name=get("model_name", ""),
                exporter_version=get("exporter_version", ""),
                quantization=get("quantization", ""),
            )
        except ValueError as exc:  # ContractError is a ValueError too
            if isinstance(exc, ContractError):
                raise ContractError(f"{source}: {exc}") from None
            raise ContractError(f"{source} has malformed FairMOT metadata: {exc}") from None
        declared = get("outputs", ",".join(contract.output_names))
        if tuple(declared.split(",")) != contract.output_names:
            raise ContractError(
                f"{source} declares outputs {declared!r}, expected "
                f"{','.join(contract.output_names)!r} for topk={contract.topk}"
            )
        return contract
