"""``tracker.camera_motion`` through the real node over DDS: a panning camera keeps the ids,
the estimate shows up in /diagnostics, and switching to ``none`` brings the original back.

Frames are the dot detector's frames of ``node_support`` on a low-contrast texture (features
for the estimator that the dot model ignores); the camera pans by moving texture and dots
together, 16 px per frame, which the uncompensated tracker cannot follow (24 px wide boxes).
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")
pytest.importorskip("fairmot_ros_msgs.msg")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from node_support import (  # noqa: E402
    INPUT_H,
    INPUT_W,
    STRIDE,
    Bench,
    NodeProcess,
    domain_id,
    dot_frame,
    dot_model,
    image_msg,
)
from rcl_interfaces.srv import SetParameters  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

NODE = "/fairmot_tracker"
PAN = 16  # px per frame, a multiple of the stride so the dots stay on cells
MARGIN = 96
_ticks = itertools.count()


def _texture() -> np.ndarray:
    rng = np.random.default_rng(7)
    coarse = 128 + (rng.random(((INPUT_H + 2 * MARGIN) // 4, (INPUT_W + 2 * MARGIN) // 4)) - 0.5)
    coarse = (coarse - 128) * 60 + 128
    return cv2.resize(coarse.astype(np.uint8), (INPUT_W + 2 * MARGIN, INPUT_H + 2 * MARGIN),
                      interpolation=cv2.INTER_CUBIC)


TEXTURE = _texture()
PEOPLE = [(10, 10), (28, 18)]  # dot cells at pan 0


def camera_frame(pan: int) -> np.ndarray:
    """The scene seen with the camera turned so that everything moves ``pan`` px right."""
    cells = [(c + pan // STRIDE, r) for c, r in PEOPLE]
    dots = dot_frame(cells)
    view = TEXTURE[MARGIN : MARGIN + INPUT_H, MARGIN - pan : MARGIN - pan + INPUT_W]
    frame = np.repeat(view[:, :, None], 3, axis=2)
    white = dots[:, :, 0] == 255
    frame[white] = 255
    return frame


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    domain = domain_id(2)
    node = NodeProcess(dot_model(), domain, params=["tracker.camera_motion:=sparse_flow",
                                                   "diagnostics_period:=0.2"],
                       log_dir=tmp_path_factory.mktemp("node_log"))
    bench = Bench(domain)
    try:
        node.wait_for_log("tracking with", timeout=90)
        outputs = bench.collect(Detection2DArray, f"{NODE}/detections")
        diagnostics = bench.collect(DiagnosticArray, "/diagnostics")
        publisher = bench.publisher(Image, "/image")
        bench.spin_until(lambda: publisher.get_subscription_count() > 0, 30, "node subscription")
        yield bench, publisher, outputs, diagnostics
    finally:
        bench.close()
        node.kill()


def _pan_sequence(bench, publisher, outputs) -> list[list[str]]:
    """3 still frames, then 4 frames panning PAN px each; the ids of every output."""
    reply = bench.call(Trigger, f"{NODE}/reset", Trigger.Request())
    assert reply.success, reply.message
    ids = []
    for k, pan in enumerate([0, 0, 0, PAN, 2 * PAN, 3 * PAN, 4 * PAN]):
        msg = image_msg(camera_frame(pan), 1000.0 + next(_ticks) / 30.0)
        out = bench.send_and_wait(publisher, msg, outputs, timeout=30,
                                  resend_every=1.0 if k == 0 else None)
        ids.append(sorted(d.id for d in out.detections))
    return ids


def _camera_values(diagnostics) -> dict[str, str]:
    for array in reversed(diagnostics):
        for status in array.status:
            if status.name.startswith("fairmot_tracker: cam"):
                return {kv.key: kv.value for kv in status.values}
    return {}


def test_panning_camera_keeps_ids_and_reports_the_motion(setup) -> None:
    bench, publisher, outputs, diagnostics = setup
    ids = _pan_sequence(bench, publisher, outputs)
    assert all(frame_ids == ids[0] for frame_ids in ids), ids
    assert len(ids[0]) == 2
    before = len(diagnostics)
    bench.spin_until(lambda: len(diagnostics) > before + 1, 10, "fresh diagnostics")
    values = _camera_values(diagnostics)
    assert values["camera motion"] == "sparse_flow"
    assert values["camera motion status"] == "ok"
    tx, ty = (float(v) for v in values["camera motion translation (px)"].split(","))
    assert tx == pytest.approx(PAN, abs=1.0) and ty == pytest.approx(0.0, abs=1.0)
    assert float(values["camera motion scale"]) == pytest.approx(1.0, abs=0.01)


def test_switching_to_none_restores_the_still_camera_tracker(setup) -> None:
    bench, publisher, outputs, diagnostics = setup
    request = SetParameters.Request(
        parameters=[Parameter("tracker.camera_motion", value="none").to_parameter_msg()]
    )
    (result,) = bench.call(SetParameters, f"{NODE}/set_parameters", request).results
    assert result.successful, result.reason
    ids = _pan_sequence(bench, publisher, outputs)
    assert ids[2] == ids[0]
    assert all(frame_ids != ids[0] for frame_ids in ids[3:]), ids  # lost at the first pan
    request = SetParameters.Request(
        parameters=[Parameter("tracker.camera_motion", value="gyro").to_parameter_msg()]
    )
    (result,) = bench.call(SetParameters, f"{NODE}/set_parameters", request).results
    assert not result.successful and "camera_motion" in result.reason
