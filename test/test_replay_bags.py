"""Bags written and read by fairmot_ros.replay, checked against a second, independent reader.

The ``mcap`` + ``mcap-ros2-support`` libraries (the MCAP format maintainers' reader and ROS 2
decoder) must open every MCAP bag written here and decode every message to the same field
values as our reader; the sqlite3 storage must have rosbag2's tables; metadata, type hashes and
QoS must be what rosbag2 on Kilted writes. Bad input gives one line, never a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from fairmot_ros import bags
from fairmot_ros.bags import BagError, BagReader, BagWriter, QosSpec
from fairmot_ros.replay.eval import frame_numbers, read_recorded_run
from fairmot_ros.replay.frames import (
    COMPRESSED_TYPE,
    IMAGE_TYPE,
    bag_frames,
    choose_image_topic,
    image_message_bytes,
    video_to_bag,
)
from fairmot_ros.sequences import open_sequence

mcap_reader = pytest.importorskip("mcap.reader")
mcap_decoder = pytest.importorskip("mcap_ros2.decoder")

REPO = Path(__file__).resolve().parents[1]
SIZE = (192, 128)  # W x H: 73 KB a frame, so 60 frames fill several 1 MB MCAP chunks
FRAMES = 60


def synthetic_frame(index: int, size: tuple[int, int] = SIZE) -> np.ndarray:
    """A textured frame with two boxes moving across it (different every frame)."""
    width, height = size
    rng = np.random.default_rng(index)
    frame = rng.integers(0, 60, (height, width, 3), dtype=np.uint8)
    for k, (dx, y) in enumerate(((3, 30), (-2, 70))):
        x = (20 + dx * index + 60 * k) % (width - 24)
        frame[y : y + 40, x : x + 20] = (200, 120 + 40 * k, 60)
    return frame


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("seq") / "img1"
    folder.mkdir()
    for i in range(1, FRAMES + 1):
        cv2.imwrite(str(folder / f"{i:06d}.png"), synthetic_frame(i))
    return folder


@pytest.fixture(scope="module")
def mcap_bag(image_folder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bags") / "frames"
    video_to_bag(open_sequence(image_folder), out, fps=10.0)
    return out


def _mcap_file(bag: Path) -> Path:
    return next(bag.glob("*.mcap"))


def _fields(obj):
    """(name, value) of a rosbags dataclass or an mcap_ros2 decoded object."""
    if dataclasses.is_dataclass(obj):  # the type's fields, not its constants
        names = [name for name, _ in bags.types.typestore().fielddefs[obj.__msgtype__][1]]
        return {name: getattr(obj, name) for name in names}
    return {k: getattr(obj, k) for k in obj.__slots__}


def assert_same_values(ours, theirs, path: str = "msg") -> None:
    """Recursive field-by-field equality of two decodings of one message."""
    if isinstance(ours, np.ndarray) or isinstance(theirs, bytes | bytearray):
        np.testing.assert_array_equal(np.asarray(ours).ravel(),
                                      np.frombuffer(bytes(theirs), np.uint8)
                                      if isinstance(theirs, bytes | bytearray)
                                      else np.asarray(theirs).ravel(), err_msg=path)
    elif isinstance(ours, list | tuple):
        assert len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_same_values(a, b, f"{path}[{i}]")
    elif hasattr(ours, "__dataclass_fields__"):
        mine, other = _fields(ours), _fields(theirs)
        assert set(mine) == set(other), (path, set(mine) ^ set(other))
        for key in mine:
            assert_same_values(mine[key], other[key], f"{path}.{key}")
    elif isinstance(ours, float):
        assert ours == pytest.approx(theirs, rel=1e-6), path
    else:
        assert ours == theirs, path


def verify_with_mcap(bag: Path) -> int:
    """Decode every message with mcap + mcap-ros2-support and compare with our reader's."""
    with BagReader(bag) as reader:
        ours = [(m.topic, m.log_time_ns, reader.decode(m)) for m in reader.messages()]
    with _mcap_file(bag).open("rb") as handle:
        reader = mcap_reader.make_reader(handle,
                                         decoder_factories=[mcap_decoder.DecoderFactory()])
        summary = reader.get_summary()
        assert summary is not None and summary.statistics.message_count == len(ours)
        assert {s.encoding for s in summary.schemas.values()} == {"ros2msg"}
        assert all(c.message_encoding == "cdr" for c in summary.channels.values())
        theirs = [(channel.topic, message.log_time, decoded)
                  for _, channel, message, decoded in reader.iter_decoded_messages()]
    assert [(t, s) for t, s, _ in ours] == [(t, s) for t, s, _ in theirs]
    for (_, _, a), (_, _, b) in zip(ours, theirs, strict=True):
        assert_same_values(a, b)
    return len(ours)


def _detections(stamp_ns: int):
    cls = bags.message_class
    header = cls("std_msgs/msg/Header")(
        stamp=cls("builtin_interfaces/msg/Time")(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9),
        frame_id="camera")
    pose = cls("geometry_msgs/msg/PoseWithCovariance")(
        pose=cls("geometry_msgs/msg/Pose")(position=cls("geometry_msgs/msg/Point")(x=0, y=0, z=0),
                                           orientation=cls("geometry_msgs/msg/Quaternion")(
                                               x=0, y=0, z=0, w=1)),
        covariance=np.zeros(36))
    detections = []
    for track_id, (cx, cy, w, h, score) in enumerate(((50.5, 60.25, 20, 40, 0.9),
                                                      (120, 30, 18.5, 41, 0.55)), start=1):
        hypothesis = cls("vision_msgs/msg/ObjectHypothesisWithPose")(
            hypothesis=cls("vision_msgs/msg/ObjectHypothesis")(class_id="person", score=score),
            pose=pose)
        bbox = cls("vision_msgs/msg/BoundingBox2D")(
            center=cls("vision_msgs/msg/Pose2D")(
                position=cls("vision_msgs/msg/Point2D")(x=cx, y=cy), theta=0.0),
            size_x=w, size_y=h)
        detections.append(cls("vision_msgs/msg/Detection2D")(header=header, results=[hypothesis],
                                                             bbox=bbox, id=str(track_id)))
    return cls("vision_msgs/msg/Detection2DArray")(header=header, detections=detections)


# ----- format ----------------------------------------------------------------------------------
def test_video_bag_is_what_rosbag2_writes(mcap_bag, image_folder):
    meta = yaml.safe_load((mcap_bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["version"] == 9 and meta["storage_identifier"] == "mcap"
    assert meta["relative_file_paths"] == [_mcap_file(mcap_bag).name]
    (topic,) = meta["topics_with_message_count"]
    assert topic["message_count"] == FRAMES
    info = topic["topic_metadata"]
    assert info["type"] == IMAGE_TYPE and info["serialization_format"] == "cdr"
    assert info["type_description_hash"].startswith("RIHS01_")
    (qos,) = info["offered_qos_profiles"]  # a YAML list of profiles, names as strings
    assert (qos["reliability"], qos["durability"], qos["history"], qos["depth"]) == \
        ("reliable", "volatile", "keep_last", 10)
    assert qos["deadline"] == {"sec": 9223372036, "nsec": 854775807}
    with BagReader(mcap_bag) as reader:
        frames = list(bag_frames(reader, "/camera/image_raw"))
    assert [f.stamp_ns for f in frames] == [round(i * 1e8) for i in range(1, FRAMES + 1)]
    assert [f.log_time_ns for f in frames] == [f.stamp_ns for f in frames]
    for i, frame in enumerate(frames, start=1):
        np.testing.assert_array_equal(frame.image, synthetic_frame(i))


def test_every_mcap_message_decodes_the_same_with_the_mcap_library(tmp_path):
    bag = tmp_path / "mixed"
    with BagWriter(bag) as writer:
        writer.add_topic("/cam", IMAGE_TYPE, [QosSpec()])
        writer.add_topic("/cam/compressed", COMPRESSED_TYPE, [QosSpec("best_effort")])
        writer.add_topic("/det", "vision_msgs/msg/Detection2DArray", [QosSpec()])
        for i in range(1, 4):
            stamp = i * 100_000_000
            writer.write("/cam", stamp, image_message_bytes(synthetic_frame(i), stamp, "cam")[1])
            writer.write("/cam/compressed", stamp,
                         image_message_bytes(synthetic_frame(i), stamp, "cam", "jpeg")[1])
            data = bags.serialize(_detections(stamp), "vision_msgs/msg/Detection2DArray")
            writer.write("/det", stamp + 5, data)
    assert verify_with_mcap(bag) == 9


def test_type_hashes_equal_the_installed_rosidl_descriptions():
    """RIHS01 from rosidl's installed .json where present, and rosbags computes the same."""
    store = bags.types.typestore()
    checked = 0
    for typename in (IMAGE_TYPE, COMPRESSED_TYPE, "vision_msgs/msg/Detection2DArray",
                     "fairmot_ros_msgs/msg/TrackArray", "diagnostic_msgs/msg/DiagnosticArray",
                     "rosgraph_msgs/msg/Clock"):
        assert bags.ensure_type(typename)
        computed = store.hash_rihs01(typename)
        assert bags.type_hash(typename) == computed
        path = bags.types._interface_file(typename, ".json")
        if path is not None:
            hashes = json.loads(path.read_text())["type_hashes"]
            assert next(h["hash_string"] for h in hashes if h["type_name"] == typename) == computed
            checked += 1
    if not checked:
        pytest.skip("no installed rosidl type descriptions (share/<pkg>/msg/*.json) here")


def test_cdr_bytes_equal_rclpy_serialisation():
    pytest.importorskip("rclpy")
    vision = pytest.importorskip("vision_msgs.msg")
    from rclpy.serialization import deserialize_message, serialize_message

    data = bags.serialize(_detections(40_100_000_000), "vision_msgs/msg/Detection2DArray")
    msg = deserialize_message(data, vision.Detection2DArray)
    assert [d.id for d in msg.detections] == ["1", "2"]
    assert msg.detections[0].bbox.center.position.x == 50.5
    # Same layout and values; rclpy leaves alignment padding uninitialised, so its bytes are
    # compared after a round trip through rosbags, which writes zero padding.
    theirs = serialize_message(msg)
    assert len(theirs) == len(data)
    typename = "vision_msgs/msg/Detection2DArray"
    assert bags.serialize(bags.deserialize(theirs, typename), typename) == data


def test_sqlite3_bag_has_rosbag2s_schema(image_folder, tmp_path):
    out = tmp_path / "sq"
    video_to_bag(open_sequence(f"{image_folder}:1-5"), out, storage="sqlite3",
                 compressed="png", topic="/camera/image_raw/compressed")
    (db,) = out.glob("*.db3")
    with sqlite3.connect(db) as con:
        tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
        columns = {r[1] for r in con.execute("pragma table_info(topics)")}
        (count,) = con.execute("select count(*) from messages").fetchone()
    assert {"schema", "metadata", "topics", "messages", "message_definitions"} <= tables
    assert {"name", "type", "serialization_format", "offered_qos_profiles",
            "type_description_hash"} <= columns and count == 5
    with BagReader(out) as reader:
        assert reader.storage == "sqlite3" and reader.metadata_version == 9
        assert reader.topics["/camera/image_raw/compressed"].type == COMPRESSED_TYPE
        images = [f.image for f in bag_frames(reader, "/camera/image_raw/compressed")]
    for i, image in enumerate(images, start=1):  # PNG: exactly the source pixels
        np.testing.assert_array_equal(image, synthetic_frame(i))


def test_a_bag_from_another_writer_is_read(tmp_path):
    """An MCAP file written by the mcap library's ROS 2 writer, without metadata.yaml."""
    writer_module = pytest.importorskip("mcap_ros2.writer")
    path = tmp_path / "foreign"
    path.mkdir()
    schema_text = bags.types.typestore().generate_msgdef(IMAGE_TYPE, ros_version=2)[0]
    with (path / "foreign.mcap").open("wb") as handle:
        writer = writer_module.Writer(handle)
        schema = writer.register_msgdef(IMAGE_TYPE, schema_text)
        for i in (1, 2, 3):
            frame = synthetic_frame(i)
            writer.write_message("/cam", schema, {
                "header": {"stamp": {"sec": 7, "nanosec": i * 1000}, "frame_id": "c"},
                "height": SIZE[1], "width": SIZE[0], "encoding": "bgr8", "is_bigendian": 0,
                "step": SIZE[0] * 3, "data": frame.tobytes()}, log_time=i, publish_time=i)
        writer.finish()
    with BagReader(path) as reader:
        assert "no metadata.yaml" in reader.note
        assert choose_image_topic(reader) == "/cam" and reader.topics["/cam"].count == 3
        frames = list(bag_frames(reader, "/cam"))
    assert [f.stamp_ns for f in frames] == [7 * 10**9 + i * 1000 for i in (1, 2, 3)]
    np.testing.assert_array_equal(frames[2].image, synthetic_frame(3))


# ----- bad input ---------------------------------------------------------------------------------
def test_truncated_mcap_is_read_up_to_its_intact_part(mcap_bag, tmp_path):
    cut = tmp_path / "cut"
    cut.mkdir()
    data = _mcap_file(mcap_bag).read_bytes()
    (cut / "metadata.yaml").write_bytes((mcap_bag / "metadata.yaml").read_bytes())
    (cut / _mcap_file(mcap_bag).name).write_bytes(data[: int(len(data) * 0.6)])
    with BagReader(cut) as reader:
        assert reader.note is not None and "cut short" in reader.note
        assert f"of {int(len(data) * 0.6)}" in reader.note
        stamps = [f.stamp_ns for f in bag_frames(reader, "/camera/image_raw")]
    assert 0 < len(stamps) < FRAMES
    assert stamps == [round(i * 1e8) for i in range(1, len(stamps) + 1)]
    assert reader.topics["/camera/image_raw"].count == len(stamps)


def test_reader_and_writer_refuse_bad_paths(mcap_bag, tmp_path):
    with pytest.raises(BagError, match="no such file"):
        BagReader(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(BagError, match="not a bag"):
        BagReader(tmp_path / "notes.txt")
    with pytest.raises(BagError, match="not a bag"):
        BagReader(tmp_path)
    with pytest.raises(BagError, match="exists; pass --overwrite"):
        BagWriter(mcap_bag)
    with BagReader(mcap_bag) as reader, pytest.raises(BagError, match="has no topic /nope"):
        list(reader.messages(["/nope"]))


def test_several_image_topics_need_a_choice(tmp_path):
    bag = tmp_path / "two"
    with BagWriter(bag) as writer:
        for topic in ("/left", "/right"):
            writer.add_topic(topic, IMAGE_TYPE, [QosSpec()])
            writer.write(topic, 1, image_message_bytes(synthetic_frame(1), 1, "c")[1])
    with BagReader(bag) as reader:
        with pytest.raises(BagError, match="several image topics .*--topics"):
            choose_image_topic(reader)
        assert choose_image_topic(reader, ["/right"]) == "/right"


def test_out_of_order_stamps_are_counted_and_numbered_in_order():
    numbers = frame_numbers([300, 100, 200, 200, 400], first_frame=11)
    assert numbers.by_stamp == {100: 11, 200: 12, 300: 13, 400: 14}
    assert (numbers.out_of_order, numbers.duplicates, numbers.last) == (2, 1, 14)


def test_eval_pairs_outputs_with_input_frames(mcap_bag, tmp_path):
    out = tmp_path / "outputs"
    with BagWriter(out) as writer:
        writer.add_topic("/det", "vision_msgs/msg/Detection2DArray", [QosSpec()])
        for frame in (1, 2, 4):
            data = bags.serialize(_detections(round(frame * 1e8)),
                                   "vision_msgs/msg/Detection2DArray")
            writer.write("/det", frame, data)
        writer.write("/det", 9, bags.serialize(_detections(123), "vision_msgs/msg/"
                                                "Detection2DArray"))
    run = read_recorded_run(out, mcap_bag)
    assert sorted(run.results) == [1, 2, 4] and run.unmatched_outputs == 1
    assert run.unanswered == [3, *range(5, FRAMES + 1)]
    np.testing.assert_allclose(run.results[2].tlwh, [[40.5, 40.25, 20, 40], [110.75, 9.5, 18.5,
                                                                              41]])
    assert run.results[1].ids == ["1", "2"] and run.results[1].frame_id == "camera"


def _cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fairmot_ros.replay.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONUNBUFFERED="1"))


def test_cli_errors_are_one_line(mcap_bag, tmp_path):
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(_mcap_file(mcap_bag).read_bytes()[:5000])
    cases = [
        (("info", str(tmp_path / "missing")), "no such file or directory"),
        (("info", str(REPO / "README.md")), "is not a bag"),
        (("eval", str(mcap_bag), "--gt", str(tmp_path / "gt.txt")), "Detection2DArray topic"),
        (("from-video", str(tmp_path / "nothing.avi"), str(tmp_path / "x")), "not found"),
        (("from-video", str(REPO / "README.md"), str(tmp_path / "x")), "neither a folder"),
        (("render", str(mcap_bag), "--input", str(mcap_bag), "--video",
          str(tmp_path / "no" / "v.mp4")), "does not exist"),
    ]
    for args, expected in cases:
        done = _cli(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, \
            done.stderr
        assert expected in done.stderr, (args, done.stderr)
    done = _cli("info", str(cut))  # a truncated file: facts of the intact part + a warning
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert "cut short" in done.stderr and "Messages:" in done.stdout


def test_cli_from_video_and_info(image_folder, tmp_path):
    out = tmp_path / "b"
    done = _cli("from-video", str(image_folder), str(out), "--frames", "3-12", "--fps", "5",
                "--resize", "96x64", "--compressed", "jpeg")
    assert done.returncode == 0, done.stderr
    assert "10 CompressedImage message(s)" in done.stdout and "frames 3-12" in done.stdout
    assert _cli("from-video", str(image_folder), str(out)).returncode == 2  # exists
    info = json.loads(_cli("info", str(out), "--json").stdout)
    assert info["messages"] == 10 and info["storage"] == "mcap"
    assert info["duration_s"] == pytest.approx(1.8)
    assert info["custom_data"]["fairmot_ros.first_frame"] == "3"
    (topic,) = info["topics"]
    assert topic["type"] == COMPRESSED_TYPE and topic["type_hash"].startswith("RIHS01_")
    with BagReader(out) as reader:
        image = next(bag_frames(reader, "/camera/image_raw")).image
    assert image.shape == (64, 96, 3)
    assert verify_with_mcap(out) == 10


def test_bag_io_eval_and_render_run_without_ros(mcap_bag, repo_root):
    """bags, frames, eval, render and results stay ROS-free: they read a bag with rclpy
    blocked."""
    script = f"""
import importlib.abc, sys
BLOCKED = ("rclpy", "sensor_msgs", "vision_msgs", "std_msgs", "builtin_interfaces",
           "fairmot_ros_msgs", "rosgraph_msgs", "torch")

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(name + " is blocked in this test")

sys.meta_path.insert(0, Blocker())
from fairmot_ros import bags
from fairmot_ros.replay import eval, frames, render, results
with bags.BagReader({str(mcap_bag)!r}) as reader:
    first = next(frames.bag_frames(reader, "/camera/image_raw"))
assert first.image.shape == (128, 192, 3)
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", script], cwd=repo_root, capture_output=True,
                          text=True, timeout=120, env=dict(env, PYTHONPATH=str(repo_root)))
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
