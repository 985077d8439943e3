"""The same frames through the live node and through ``CameraPipeline`` directly: identical.

The node keeps only ROS; its per-frame work is ``CameraPipeline.step``. Frames of the dot model
(``node_support``) go to a ``tracker_node`` over DDS and, in this process, through a pipeline
built from the same parameter values around a detector on the same model: people walking, a
frame over ``tracker.max_tracks``, stamps going back, a new image size, a frame without anyone.
Every published ``Detection2DArray`` and ``TrackArray`` must equal the messages built from the
pipeline's outcome, and the node's store-reset and cap counters must equal the pipeline's
events. The same again with the re-identification gallery on (``tracker.reid_memory_s``:
every dot has the same embedding, so tracks born after others were removed take their ids),
whose count in ``/diagnostics`` must equal the pipeline's re-identifications.
"""

from __future__ import annotations

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")
pytest.importorskip("fairmot_ros_msgs.msg")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from fairmot_ros_msgs.msg import TrackArray  # noqa: E402
from node_support import Bench, NodeProcess, domain_id, dot_frame, dot_model, image_msg  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from fairmot_ros.detector import Detector  # noqa: E402
from fairmot_ros.engine import Engine  # noqa: E402
from fairmot_ros.pipeline import STORE_SIZE_CHANGE, STORE_TIME_REVERSAL, CameraPipeline  # noqa: E402
from fairmot_ros.ros import diagnostic_keys as keys  # noqa: E402
from fairmot_ros.ros.settings import settings_from_values  # noqa: E402
from fairmot_ros.ros.track_messages import detection_array, track_array  # noqa: E402

NODE = "/fairmot_tracker"
PARAMS = {"qos_reliability": "reliable", "tracker.frame_rate": 10.0, "tracker.max_tracks": 4,
          "providers": ["CPUExecutionProvider"], "intra_op_threads": 1}


def _frames() -> list[tuple[float, object]]:
    """(stamp, BGR frame): walkers, a crowd over the cap, a newcomer after one walker left,
    a replay, a new size, an empty one."""
    frames = []
    for k in range(6):
        frames.append((10.0 + k / 10, dot_frame([(10 + k, 12), (34 - k, 20)])))
    frames.append((10.6, dot_frame([(16, 12), (28, 20), (40, 8), (6, 26), (22, 4)])))
    frames.append((10.7, dot_frame([(17, 12), (27, 20)])))
    # One walker leaves for longer than the lost-track budget (1 s) and someone comes in.
    frames.append((10.8, dot_frame([(18, 12)])))
    frames += [(12.0 + k / 10, dot_frame([(18, 12), (40, 26)])) for k in range(3)]
    for k in range(3):  # the bag played again: stamps go back
        frames.append((5.0 + k / 10, dot_frame([(10 + k, 12), (34 - k, 20)])))
    for k in range(3):  # another resolution
        frames.append((5.3 + k / 10, dot_frame([(12 + k, 14), (40 - k, 30)], 256, 160)))
    frames.append((5.6, dot_frame([], 256, 160)))
    return frames


def _param_value(value) -> str:
    if isinstance(value, list):
        return "[" + ",".join(value) + "]"
    return str(value)


GALLERY = {"tracker.reid_memory_s": 30.0}


@pytest.fixture(scope="module", params=[{}, GALLERY], ids=["original", "reid_gallery"])
def node_run(request, tmp_path_factory):
    """The node's Detection2DArray and TrackArray for each frame, its last counters and the
    parameter values it ran with."""
    values = {**PARAMS, **request.param}
    domain = domain_id(3)
    params = [f"{k}:={_param_value(v)}" for k, v in values.items() if k != "intra_op_threads"]
    node = NodeProcess(dot_model(), domain, params, log_dir=tmp_path_factory.mktemp("pipe"))
    bench = Bench(domain)
    try:
        node.wait_for_log("tracking with", timeout=120)
        outputs = bench.collect(Detection2DArray, f"{NODE}/detections")
        stores = bench.collect(TrackArray, f"{NODE}/tracks")
        diagnostics = bench.collect(DiagnosticArray, "/diagnostics")
        publisher = bench.publisher(Image, "/image", reliable=True)
        bench.spin_until(lambda: publisher.get_subscription_count() > 0, 30, "subscription")
        bench.send_and_wait(publisher, image_msg(dot_frame([]), 1.0), outputs, timeout=60,
                            resend_every=2.0)  # discovery; then forget it
        bench.spin_for(1.0)
        assert bench.call(Trigger, f"{NODE}/reset", Trigger.Request()).success
        answers = []
        for stamp, frame in _frames():
            msg = image_msg(frame, stamp)
            detections = bench.send_and_wait(publisher, msg, outputs, timeout=30)
            key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
            bench.spin_until(lambda k=key: any((s.header.stamp.sec, s.header.stamp.nanosec)
                                               == k for s in stores), 10, "tracks")
            store = next(s for s in stores if (s.header.stamp.sec, s.header.stamp.nanosec)
                         == key)
            answers.append((msg.header, detections, store))
        counts = bench.camera_values_after_now(diagnostics)
    finally:
        bench.close()
        node.kill()
    return answers, counts, values


def test_node_outputs_equal_the_pipeline_step_by_step(node_run):
    answers, counts, values = node_run
    settings = settings_from_values(values)
    engine = Engine(dot_model(), providers=settings.providers, threads=1,
                    heads_at_peaks=settings.heads_at_peaks)
    detector = Detector(engine, conf_thres=settings.tracker.detector_threshold,
                        topk=settings.topk)
    pipeline = CameraPipeline(settings.tracker, detector)
    pipeline.step(dot_frame([]), 1.0)  # the node's first frame, then its ~/reset
    pipeline.reset()
    events = []
    for (header, detections, store), (stamp, frame) in zip(answers, _frames(), strict=True):
        outcome = pipeline.step(frame, stamp)
        assert detections == detection_array(outcome.tracks, header, settings.class_id), stamp
        assert store == track_array(outcome.store, header, "", settings.publish_embeddings), stamp
        events.append(outcome.events)
    assert sum(len(d.detections) for _, d, _ in answers) > len(answers)  # people tracked
    reversals = sum(e.store_emptied == STORE_TIME_REVERSAL for e in events)
    resizes = sum(e.store_emptied == STORE_SIZE_CHANGE for e in events)
    capped = sum(e.capped for e in events)
    assert (reversals, resizes) == (1, 1) and capped > 0
    assert int(counts[keys.STORE_EMPTIED_TIME]) == reversals
    assert int(counts[keys.STORE_EMPTIED_SIZE]) == resizes
    assert int(counts[keys.TRACKS_CAPPED]) == capped
    reidentified = sum(len(e.reidentified) for e in events)
    assert int(counts[keys.PEOPLE_REIDENTIFIED]) == reidentified
    assert (reidentified > 0) == ("tracker.reid_memory_s" in values)
