"""Generated interfaces: vision_msgs is wire-compatible with 4.x; ours are as designed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

vision_msgs_msg = pytest.importorskip(
    "vision_msgs.msg", reason="ROS interfaces are not importable: run through scripts/ros-env"
)
fairmot_ros_msgs_msg = pytest.importorskip("fairmot_ros_msgs.msg")
ament_index = pytest.importorskip("ament_index_python.packages")

# docs/ros2-env.md's table of the vision_msgs 4.x definitions, in .msg syntax.
VISION_MSGS_TABLE = {
    "Detection2DArray": "std_msgs/Header header, Detection2D[] detections",
    "Detection2D": "std_msgs/Header header, ObjectHypothesisWithPose[] results, "
    "BoundingBox2D bbox, string id",
    "BoundingBox2D": "vision_msgs/Pose2D center, float64 size_x, float64 size_y",
    "Pose2D": "vision_msgs/Point2D position, float64 theta",
    "Point2D": "float64 x, float64 y",
    "ObjectHypothesisWithPose": "ObjectHypothesis hypothesis, "
    "geometry_msgs/PoseWithCovariance pose",
    "ObjectHypothesis": "string class_id, float64 score",
    "Detection3DArray": "std_msgs/Header header, Detection3D[] detections",
    "Detection3D": "std_msgs/Header header, ObjectHypothesisWithPose[] results, "
    "BoundingBox3D bbox, string id",
    "BoundingBox3D": "geometry_msgs/Pose center, geometry_msgs/Vector3 size",
}

# RIHS01 type hashes that rosidl (Kilted) computes from the .msg files of upstream vision_msgs
# 4.1.1. DDS peers compare these; equal hashes mean our build talks to real vision_msgs nodes.
UPSTREAM_TYPE_HASHES = {
    "Point2D": "RIHS01_eab0e83f44ab4de92ceaf76dd7d0e7638f2bdd1d16ffbe16c7a136c48e407247",
    "Pose2D": "RIHS01_b0b5d1d7b4c20dd4fcde3ed1d4b289a919290572007d67a97043814db25d3648",
    "BoundingBox2D": "RIHS01_008eacbb0cf8f26e83795547bed013eec3675485ef386ec056d80eaaf1c1ce2f",
    "ObjectHypothesis": "RIHS01_51da43cec11c01957a64d1e05a24acd18aae7745ec30b74348ad5f6d634f7f90",
    "ObjectHypothesisWithPose":
        "RIHS01_41c12344c0396c48b81df12467c192d99b2a0eb1463c5c37194e4223251c80bc",
    "Detection2D": "RIHS01_0d12b69df5c593b3455b7346fac8205437a7d4bcb09b9e0e0b2dde787ded38ea",
    "Detection2DArray":
        "RIHS01_214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968",
    "BoundingBox3D": "RIHS01_bbb73a65c163d7f9bb29009c7bde9f7faa576bd2d23299c4511d19230dab4698",
    "Detection3D": "RIHS01_ddd703be132ab0b69d33121f1bb034132bfbb3b0ac5f9fb1516005ba1c8a265b",
    "Detection3DArray":
        "RIHS01_793f5eab9595ac1c0da07873cc859db42eae51f0ee76056db8562515d830e018",
}

_PRIMITIVES = {"float64": "double", "float32": "float", "string": "string", "uint8": "uint8",
               "uint64": "uint64"}


def _generated_type(msg_type: str, package: str) -> str:
    """The type string rosidl_generator_py reports for a .msg field type."""
    sequence = msg_type.endswith("[]")
    base = msg_type.removesuffix("[]")
    if base in _PRIMITIVES:
        base = _PRIMITIVES[base]
    elif "/" not in base:
        base = f"{package}/{base}"
    return f"sequence<{base}>" if sequence else base


def _expected_fields(spec: str, package: str) -> dict[str, str]:
    fields = {}
    for item in spec.split(", "):
        msg_type, name = item.split()
        fields[name] = _generated_type(msg_type, package)
    return fields


@pytest.mark.parametrize("name", sorted(VISION_MSGS_TABLE))
def test_vision_msgs_field_layout_matches_table(name: str) -> None:
    cls = getattr(vision_msgs_msg, name)
    fields = cls.get_fields_and_field_types()
    expected = _expected_fields(VISION_MSGS_TABLE[name], "vision_msgs")
    # dicts compare without order: compare the ordered item lists.
    assert list(fields.items()) == list(expected.items())
    assert len(cls.SLOT_TYPES) == len(expected)


@pytest.mark.parametrize("name", sorted(UPSTREAM_TYPE_HASHES))
def test_vision_msgs_type_hash_equals_upstream(name: str) -> None:
    share = Path(ament_index.get_package_share_directory("vision_msgs"))
    description = share / "msg" / f"{name}.json"
    if not description.is_file():
        pytest.skip(f"{description} not installed (a distribution older than Iron)")
    hashes = json.loads(description.read_text())["type_hashes"]
    own = next(h for h in hashes if h["type_name"] == f"vision_msgs/msg/{name}")
    assert own["hash_string"] == UPSTREAM_TYPE_HASHES[name]


def test_track_message_layout() -> None:
    Track = fairmot_ros_msgs_msg.Track
    assert list(Track.get_fields_and_field_types().items()) == [
        ("id", "string"),
        ("track_id", "uint64"),
        ("state", "uint8"),
        ("score", "double"),
        ("bbox", "vision_msgs/BoundingBox2D"),
        ("velocity_x", "double"),
        ("velocity_y", "double"),
        ("start_stamp", "builtin_interfaces/Time"),
        ("age", "builtin_interfaces/Duration"),
        ("time_since_update", "builtin_interfaces/Duration"),
        ("embedding", "sequence<float>"),
        ("position_valid", "boolean"),
        ("position", "geometry_msgs/Point"),
        ("velocity_3d", "geometry_msgs/Vector3"),
        ("position_covariance", "double[36]"),
        ("height", "double"),
        ("height_plausible", "boolean"),
    ]
    # Numbering of the original tracker's states (New, Tracked, Lost).
    assert (Track.STATE_TENTATIVE, Track.STATE_TRACKED, Track.STATE_LOST) == (0, 1, 2)
    assert len(Track().embedding) == 0


def test_track_array_layout() -> None:
    fields = fairmot_ros_msgs_msg.TrackArray.get_fields_and_field_types()
    assert list(fields.items()) == [
        ("header", "std_msgs/Header"),
        ("tracks", "sequence<fairmot_ros_msgs/Track>"),
        ("position_frame_id", "string"),
    ]


def test_installed_interface_definitions_are_the_repository_ones(repo_root: Path) -> None:
    """The generated package was built from msg/ as it is now (setup rebuilds on change)."""
    share = Path(ament_index.get_package_share_directory("fairmot_ros_msgs"))
    for source in sorted((repo_root / "msg").glob("*.msg")):
        installed = share / "msg" / source.name
        assert installed.is_file(), f"{source.name} is not installed: run make setup"
        assert installed.read_text() == source.read_text(), f"{source.name}: run make setup"


def test_fallback_vision_msgs_is_ours_only_when_built_here(repo_root: Path) -> None:
    manifest = Path(ament_index.get_package_share_directory("vision_msgs")) / "package.xml"
    marker = "fairmot_ros:fallback-vision_msgs"
    ours = (repo_root / "interfaces" / "vision_msgs" / "package.xml").read_text()
    assert marker in ours
    if marker in manifest.read_text():
        # Our build: every definition installed is the repository's.
        for source in sorted((repo_root / "interfaces" / "vision_msgs" / "msg").glob("*.msg")):
            assert (manifest.parent / "msg" / source.name).read_text() == source.read_text()
