"""Lock-step replay of a bag with frames the node refuses: no frame waits for the timeout.

A bag of twelve dot frames (the dot model of ``node_support``) holds three that the node
refuses: two with a ``frame_id`` of 5,000 characters (``bad_frame_id``) and one stamped with
``nanosec`` >= 10^9 (``invalid_stamp``). The node reports each refused frame on
``/diagnostics`` at once, so ``fairmot-demo --bag`` and ``fairmot-bag play --lockstep`` count it
by reason and send the next frame: the run takes about the nine good frames' time, far below
one lock-step timeout (the player used to wait the whole timeout for each refused frame).
A frame that is neither answered nor reported still waits for the timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")
pytest.importorskip("fairmot_ros_msgs.msg")

from node_support import NodeProcess, domain_id, dot_frame, dot_model  # noqa: E402

from fairmot_ros.bags import BagWriter, message_class, serialize  # noqa: E402
from fairmot_ros.replay.frames import IMAGE_QOS, IMAGE_TYPE  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TOPIC = "/camera/image_raw"
FRAMES = 12
REFUSED = {3: "bad_frame_id", 6: "invalid_stamp", 9: "bad_frame_id"}  # 1-based frame numbers
GOOD = FRAMES - len(REFUSED)
TIMEOUT = 20.0  # lock-step timeout of the runs: the old player took 3 x 20 s here
# What a refused frame may cost: its way to the node, the node's prompt report and its way back.
PER_REFUSED_S = 0.5


def _image_bytes(frame: int, refused: str | None) -> tuple[int, bytes]:
    """(log time, CDR) of frame ``frame``: a dot moving right, 10 frames a second."""
    stamp_ns = 1000 * 10**9 + frame * 10**8
    sec, nanosec = divmod(stamp_ns, 10**9)
    if refused == "invalid_stamp":  # the same instant, written with nanosec >= 1e9
        sec, nanosec = sec - 1, nanosec + 10**9
    frame_id = "f" * 5000 if refused == "bad_frame_id" else "camera"
    pixels = dot_frame([(8 + 2 * frame, 16)])
    height, width = pixels.shape[:2]
    header = message_class("std_msgs/msg/Header")(
        stamp=message_class("builtin_interfaces/msg/Time")(sec=sec, nanosec=nanosec),
        frame_id=frame_id)
    msg = message_class(IMAGE_TYPE)(header=header, height=height, width=width,
                                    encoding="bgr8", is_bigendian=0, step=width * 3,
                                    data=pixels.reshape(-1))
    return stamp_ns, serialize(msg, IMAGE_TYPE)


def _write_bag(path: Path, frames: list[int]) -> Path:
    with BagWriter(path) as writer:
        writer.add_topic(TOPIC, IMAGE_TYPE, [IMAGE_QOS])
        for frame in frames:
            writer.write(TOPIC, *_image_bytes(frame, REFUSED.get(frame)))
    return path


@pytest.fixture(scope="module")
def bags(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("refused_bags")
    return {
        "hostile": _write_bag(root / "hostile", list(range(1, FRAMES + 1))),
        "good": _write_bag(root / "good", [f for f in range(1, FRAMES + 1) if f not in REFUSED]),
    }


def _play(domain: int, bag: Path, output: str = "/fairmot_tracker/detections",
          timeout: float = TIMEOUT, status: int = 0) -> tuple[dict, str]:
    done = subprocess.run(
        [sys.executable, "-m", "fairmot_ros.replay.cli", "play", str(bag), "--lockstep",
         output, "--remap", f"{TOPIC}:=/image", "--timeout", str(timeout)],
        cwd=REPO, env=dict(os.environ, ROS_DOMAIN_ID=str(domain)), capture_output=True,
        text=True, timeout=8 * TIMEOUT)
    assert done.returncode == status, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_play_lockstep_counts_refused_frames_by_reason_and_does_not_wait(bags, tmp_path):
    domain = domain_id(1)
    node = NodeProcess(dot_model(), domain, ["qos_reliability:=reliable",
                                             "tracker.frame_rate:=10.0",
                                             "providers:=[CPUExecutionProvider]"],
                       log_dir=tmp_path)
    try:
        node.wait_for_log("tracking with", timeout=120)
        good, _ = _play(domain, bags["good"])  # the good frames alone: the node's frame time
        hostile, stderr = _play(domain, bags["hostile"])
        # the node's counters are totals: a second run must not count the first run's frames
        again, _ = _play(domain, bags["hostile"])
        # outputs stamped otherwise (the diagnostics themselves): only the refused are reported
        unanswered, _ = _play(domain, bags["hostile"], "/diagnostics", timeout=0.3, status=1)
    finally:
        node.kill()
    assert (good["images_sent"], good["answered"], good["timed_out"]) == (GOOD, GOOD, 0)
    assert good["refused"] == {} and good["dropped"] == 0
    assert (hostile["images_sent"], hostile["answered"], hostile["timed_out"]) == (FRAMES,
                                                                                   GOOD, 0)
    assert hostile["refused"] == {"bad_frame_id": 2, "invalid_stamp": 1}
    assert hostile["dropped"] == 0
    assert {k: again[k] for k in ("answered", "refused", "dropped", "timed_out")} == {
        k: hostile[k] for k in ("answered", "refused", "dropped", "timed_out")}
    # neither answered nor reported: waits the timeout (a slow node may drop some of them)
    assert unanswered["answered"] == 0 and unanswered["timed_out"] >= 1
    assert (sum(unanswered["refused"].values()) + unanswered["dropped"]
            + unanswered["timed_out"]) == FRAMES
    assert "refused 3 image(s) (bad_frame_id 2, invalid_stamp 1)" in stderr
    assert hostile["seconds"] < TIMEOUT / 4, hostile
    assert hostile["seconds"] < good["seconds"] + len(REFUSED) * PER_REFUSED_S + 1.0, (
        good, hostile)


def test_demo_counts_refused_frames_by_reason_and_does_not_wait(bags, tmp_path):
    out = tmp_path / "demo"
    # domains 1..19 like the other demo tests: below node_support's 20..99
    command = [sys.executable, "-m", "fairmot_ros.replay.demo", "--bag", str(bags["hostile"]),
               "--model", str(dot_model()), "--out", str(out),
               "--domain-id", str(1 + (os.getpid() + 11) % 19), "--no-debug-image",
               "--frame-timeout", str(TIMEOUT), "--param", "intra_op_threads:=1",
               "--param", "providers:=[CPUExecutionProvider]"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                          timeout=8 * TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((out / "summary.json").read_text())
    run, node = summary["run"], summary["node"]
    assert (run["frames_sent"], run["frames_answered"]) == (FRAMES, GOOD)
    assert run["frames_refused"] == {"bad_frame_id": 2, "invalid_stamp": 1}
    assert run["refused_frames"] == {"bad_frame_id": [3, 9], "invalid_stamp": [6]}
    assert run["dropped_frames"] == [] and run["unanswered_frames"] == []
    assert run["timed_out_frames"] == []
    assert node["frames_rejected"] == 3
    assert node["rejection_reasons"] == {"bad_frame_id": 2, "invalid_stamp": 1}
    assert "refused 3 (bad_frame_id 2, invalid_stamp 1)" in done.stdout
    # the good frames' round trips plus a little for each refused frame
    answers = [json.loads(line) for line in (out / "detections.jsonl").read_text().splitlines()]
    assert [a["frame"] for a in answers] == [f for f in range(1, FRAMES + 1) if f not in REFUSED]
    good_s = sum(a["round_trip_ms"] for a in answers) / 1000
    assert run["seconds"] < TIMEOUT / 4, run
    assert run["seconds"] < good_s + len(REFUSED) * PER_REFUSED_S + 1.0, (good_s, run)


def test_reports_name_the_reason_whose_count_rose_and_nothing_before_a_report():
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    from fairmot_ros.replay.node_reports import DROPPED, CameraReports
    from fairmot_ros.ros import diagnostic_keys as keys

    def report(topic: str, reasons: dict[str, int], dropped: int) -> DiagnosticArray:
        values = [KeyValue(key=keys.REJECTION_REASONS, value=keys.format_reasons(reasons)),
                  KeyValue(key=keys.FRAMES_DROPPED, value=str(dropped))]
        return DiagnosticArray(status=[
            DiagnosticStatus(name=keys.INFERENCE_STATUS, hardware_id="CPUExecutionProvider"),
            DiagnosticStatus(name=keys.STATUS_PREFIX + "cam0", hardware_id=topic,
                             values=values)])

    reports = CameraReports("/image")
    assert reports.mark() is None and reports.outcome_since(reports.mark()) is None
    reports.on_diagnostics(report("/image", {"bad_size": 4}, 1))  # totals of earlier runs
    mark = reports.mark()
    assert reports.outcome_since(mark) is None
    reports.on_diagnostics(report("/other", {"bad_size": 9}, 5))  # another camera
    assert reports.outcome_since(mark) is None
    reports.on_diagnostics(report("/image", {"bad_size": 4, "truncated": 1}, 1))
    assert reports.outcome_since(mark) == "truncated"
    mark = reports.mark()
    reports.on_diagnostics(report("/image", {"bad_size": 4, "truncated": 1}, 2))
    assert reports.outcome_since(mark) == DROPPED
    assert keys.parse_reasons(keys.format_reasons({"b": 2, "a": 10})) == {"a": 10, "b": 2}
    assert keys.parse_reasons("none") == {} and keys.parse_reasons("garbage") == {}


def test_a_node_that_never_matches_is_reported_with_what_discovery_found():
    """No tracker_node on the domain: the connection fails after its timeout and names the
    nodes seen and each direction's matches, so a discovery failure can be told apart from a
    node that never started."""
    from types import SimpleNamespace

    from sensor_msgs.msg import Image

    from fairmot_ros.replay.lockstep import NodeObserver
    from fairmot_ros.replay.session import ReplayError, RosSession

    session = RosSession(domain_id(2), "fairmot_lonely_player")
    try:
        observer = NodeObserver(session, "lonely", {}, debug_image=False)
        publisher = session.node.create_publisher(Image, observer.image_topic, 1)
        player = SimpleNamespace(publishers={observer.image_topic: publisher})
        with pytest.raises(ReplayError) as raised:
            observer.connect(player, observer.image_topic, (64, 48), 1, timeout=0.5)
    finally:
        session.close()
    text = str(raised.value)
    assert "no tracker_node subscribed to /lonely/image" in text
    assert "nodes seen: " in text and "/fairmot_lonely_player" in text
    assert "image subscribers 0, detections publishers 0, tracks publishers 0" in text
