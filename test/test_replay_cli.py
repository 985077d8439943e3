"""``fairmot-bag play`` and ``record`` over DDS without the tracker node: bad input, signals.

Unknown message types are skipped with one warning and counted, out-of-order stamps are
counted, a missing topic or an ambiguous image topic is one line, and ``record`` leaves a bag
that opens whether it is stopped by SIGTERM, SIGINT or ``--duration``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

from node_support import domain_id  # noqa: E402
from test_replay_bags import synthetic_frame  # noqa: E402

from fairmot_ros import bags  # noqa: E402
from fairmot_ros.bags import BagReader, BagWriter, QosSpec  # noqa: E402
from fairmot_ros.replay.frames import IMAGE_TYPE, image_message_bytes  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
UNKNOWN = "acme_msgs/msg/Blob"  # a type no Python package here provides
# Its definition, as the bag carries it: rosbags decodes it, but rosidl refuses the field name
# (upper case), so no message package can be built from it and play must skip the topic.
UNKNOWN_DEFINITION = "int32 Value\nstring note\n"


@pytest.fixture(scope="module")
def odd_bag(tmp_path_factory) -> Path:
    """Images with one stamp out of order, plus a topic of a type that is not installed."""
    assert bags.ensure_type(UNKNOWN, {UNKNOWN: UNKNOWN_DEFINITION})
    bag = tmp_path_factory.mktemp("odd") / "odd"
    with BagWriter(bag) as writer:
        writer.add_topic("/camera/image_raw", IMAGE_TYPE, [QosSpec()])
        writer.add_topic("/blob", UNKNOWN, [QosSpec("best_effort")])
        for i, stamp in enumerate((1, 2, 4, 3, 5), start=1):
            data = image_message_bytes(synthetic_frame(i, (64, 48)), stamp * 10**8, "camera")[1]
            writer.write("/camera/image_raw", i * 10**8, data)
            blob = bags.message_class(UNKNOWN)(Value=i, note="x")
            writer.write("/blob", i * 10**8 + 1, bags.serialize(blob, UNKNOWN))
    return bag


def _cli(domain: int, *args: str, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "fairmot_ros.replay.cli", *args], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kwargs)


def test_play_skips_unknown_types_once_and_counts_disorder(odd_bag):
    domain = domain_id(1)
    recorder = _cli(domain, "record", str(odd_bag.parent / "rec"), "/camera/image_raw")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (odd_bag.parent / "rec").exists():
            time.sleep(0.1)
        time.sleep(2.0)  # the recorder subscribes when the player's publisher appears
        player = _cli(domain, "play", str(odd_bag), "--rate", "4", "--wait", "5")
        out, err = player.communicate(timeout=60)
        time.sleep(1.0)
    finally:
        recorder.send_signal(signal.SIGTERM)
        rec_out, rec_err = recorder.communicate(timeout=30)
    assert player.returncode == 0, err
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["published"] == {"/camera/image_raw": 5}
    assert figures["skipped_unknown_types"] == {UNKNOWN: 5}
    assert figures["image_stamps_out_of_order"] == 1
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 2 and "Traceback" not in err, err
    assert any(UNKNOWN in w and "5 message(s)" in w for w in warnings)
    assert any("out of order" in w for w in warnings)
    # SIGTERM finalised the recording: a bag with metadata that opens and holds the images
    assert recorder.returncode == 0, rec_err
    assert json.loads(rec_out.strip().splitlines()[-1])["stopped_by"] == "SIGTERM"
    with BagReader(odd_bag.parent / "rec") as reader:
        assert reader.note is None and reader.metadata_version == 9
        assert reader.topics["/camera/image_raw"].count >= 1


def test_record_stops_after_duration_with_a_valid_bag(tmp_path):
    domain = domain_id(1)
    done = _cli(domain, "record", str(tmp_path / "empty"), "--duration", "1", "/nothing_here",
                "--storage", "sqlite3")  # options and topics in any order
    out, err = done.communicate(timeout=60)
    assert done.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["stopped_by"] == "duration"
    with BagReader(tmp_path / "empty") as reader:
        assert reader.storage == "sqlite3" and reader.message_count == 0


@pytest.mark.parametrize("args, expected", [
    (("--topics", "/nope"), "has no topic /nope"),
    (("--lockstep", "/out", "--topics", "/blob"), "name exactly one image topic"),
])
def test_play_refuses_bad_topics_in_one_line(odd_bag, args, expected):
    done = _cli(domain_id(1), "play", str(odd_bag), "--wait", "0", *args)
    _, err = done.communicate(timeout=60)
    assert done.returncode == 2 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and expected in err, err


def test_lockstep_needs_one_image_topic(tmp_path):
    bag = tmp_path / "two"
    with BagWriter(bag) as writer:
        for topic in ("/left", "/right"):
            writer.add_topic(topic, IMAGE_TYPE, [QosSpec()])
            writer.write(topic, 1, image_message_bytes(synthetic_frame(1, (32, 24)), 1, "c")[1])
    done = _cli(domain_id(1), "play", str(bag), "--lockstep", "/out", "--wait", "0")
    _, err = done.communicate(timeout=60)
    assert done.returncode == 2 and "several image topics" in err and "--topics" in err, err
    assert len(err.strip().splitlines()) == 1


def test_sim_time_recorder_knows_the_bag_time_before_the_first_message(odd_bag, tmp_path):
    """A recorder on ``use_sim_time`` listens to /clock from its start, and ``play --clock``
    lets it match before the first image: no message is logged at time 0."""
    import threading

    from fairmot_ros.replay.player import BagPlayer, PlayOptions
    from fairmot_ros.replay.recorder import BagRecorder
    from fairmot_ros.replay.session import RosSession

    domain = domain_id(1)
    topic = "/camera/image_raw"
    # no use_sim_time on this node, so rclpy's own /clock subscription cannot stand in
    # for the recorder's (BagRecorder takes its log times from its own subscription)
    recording = RosSession(domain, "sim_recorder")
    playing = RosSession(domain, "sim_player")
    stop = threading.Event()
    spinner = threading.Thread(target=recording.spin_until, args=(stop.is_set, 60))
    reader = BagReader(odd_bag)
    recorder = BagRecorder(recording, BagWriter(tmp_path / "rec"), [topic], sim_time=True)
    spinner.start()
    try:
        # before any /clock publisher exists, the player's graph already shows the subscription
        assert playing.spin_until(lambda: playing.node.count_subscribers("/clock") >= 1, 10)
        player = BagPlayer(playing, reader, PlayOptions(rate=4.0, clock_hz=40.0,
                                                        topics=[topic]))
        assert player.wait_for_subscribers(30)
        stats = player.play()
        assert stats.clock_messages > 0 and stats.published[topic] == 5
        deadline = time.monotonic() + 10
        while recorder.counts.get(topic, 0) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        spinner.join(timeout=10)
        reader.close()
        recorder.close()
        playing.close()
        recording.close()
    with BagReader(tmp_path / "rec") as bag:
        logged = [m.log_time_ns for m in bag.messages([topic])]
    assert len(logged) == 5
    # every image left at or after the bag's first message time (0.1 s) and was logged on it
    assert all(10**8 <= t <= 5 * 10**8 for t in logged), logged
