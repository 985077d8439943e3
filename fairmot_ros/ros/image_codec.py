"""Image messages <-> BGR uint8 arrays for the node: the ROS side of
:mod:`fairmot_ros.image_bytes`, where the bytes themselves are read and written.

:class:`ImageDecoder` turns ``sensor_msgs/Image`` and ``CompressedImage`` messages into BGR
arrays, with one exception type for every failure; :func:`bgr_to_imgmsg` builds the node's
``bgr8`` debug image. ``cv_bridge`` is used for raw images when it is importable (a full ROS
install); the built-in conversion of :mod:`fairmot_ros.image_bytes` is used otherwise and is
what the tests exercise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# ImageDecodeError, check_scalable and raw_to_bgr stay importable from here for the node's
# runtime and the benchmarks; their home is fairmot_ros.image_bytes.
from fairmot_ros.image_bytes import (
    DEFAULT_MAX_IMAGE_PIXELS,
    ImageDecodeError,
    bgr8_fields,
    byte_array,
    check_pixels,
    check_scalable,
    compressed_to_bgr,
    raw_to_bgr,
)

__all__ = [
    "ImageDecodeError",
    "ImageDecoder",
    "bgr_to_imgmsg",
    "check_scalable",
    "raw_to_bgr",
]


def _load_cv_bridge() -> Any | None:
    """A ``CvBridge`` instance where cv_bridge is installed (a full ROS install), else None."""
    try:
        from cv_bridge import CvBridge
    except ImportError:
        return None
    return CvBridge()


class ImageDecoder:
    """Turns ``sensor_msgs/Image`` or ``CompressedImage`` messages into BGR uint8 arrays.

    Every failure, from cv_bridge or from the built-in path, comes out as ``ImageDecodeError``
    so the caller has exactly one exception to count and log.
    """

    def __init__(
        self, use_cv_bridge: bool = True, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    ) -> None:
        self._bridge = _load_cv_bridge() if use_cv_bridge else None
        self.max_pixels = max_pixels

    @property
    def backend(self) -> str:
        return "cv_bridge" if self._bridge is not None else "builtin"

    def image(self, msg: Any) -> np.ndarray:
        """Decode a ``sensor_msgs/Image``."""
        if self._bridge is not None:
            check_pixels(msg.width, msg.height, self.max_pixels, "image")
            return self._bridge_image(msg)
        return raw_to_bgr(
            msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data,
            self.max_pixels,
        )

    def compressed(self, msg: Any) -> np.ndarray:
        """Decode a ``sensor_msgs/CompressedImage``."""
        return compressed_to_bgr(msg.format, msg.data, self.max_pixels)

    def _bridge_image(self, msg: Any) -> np.ndarray:
        try:
            image = self._bridge.imgmsg_to_cv2(msg, desired_encoding="bgr8")
        except Exception as exc:  # CvBridgeError and the cv2/numpy errors it lets through
            raise ImageDecodeError("cv_bridge", str(exc)) from None
        return image


def bgr_to_imgmsg(image: np.ndarray, header: Any) -> Any:
    """A ``bgr8`` ``sensor_msgs/Image`` of a BGR uint8 array, carrying ``header`` (debug output)."""
    from sensor_msgs.msg import Image

    fields = bgr8_fields(image)
    fields["data"] = byte_array(fields["data"])
    return Image(header=header, **fields)
