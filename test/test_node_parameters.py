"""Parameter declarations: one table for the node, the YAML file and doc/parameters.md."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from fairmot_ros.ros.parameter_files import markdown_table, yaml_config
from fairmot_ros.ros.parameters import (
    ALL_PARAMETERS,
    NODE_PARAMETERS,
    SPATIAL_PARAMETERS,
    TRACKER_PARAMETERS,
    TRACKER_PREFIX,
)
from fairmot_ros.ros.settings import settings_from_values
from fairmot_ros.tracking import TrackerConfig

REPO = Path(__file__).resolve().parents[1]
READ_ONLY = {
    "model", "providers", "require_gpu", "intra_op_threads", "heads_at_peaks",
    "image_topics",
    "camera_names", "compressed", "qos_reliability", "queue_depth", "diagnostics_period",
    *(spec.name for spec in SPATIAL_PARAMETERS),  # read when the node is configured
}


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def test_every_tracker_field_is_a_documented_parameter() -> None:
    defaults = TrackerConfig()
    names = {spec.name: spec for spec in TRACKER_PARAMETERS}
    assert set(names) == {TRACKER_PREFIX + f.name for f in fields(TrackerConfig)}
    for field in fields(TrackerConfig):
        spec = names[TRACKER_PREFIX + field.name]
        assert spec.default == getattr(defaults, field.name)
        assert type(spec.default) is spec.kind
        assert not spec.description.startswith("TrackerConfig."), f"{spec.name} undocumented"
        assert not spec.read_only  # JDETracker.configure applies every field between frames


def test_read_only_parameters_are_those_needing_a_restart() -> None:
    assert {spec.name for spec in ALL_PARAMETERS if spec.read_only} == READ_ONLY
    assert len({spec.name for spec in ALL_PARAMETERS}) == len(ALL_PARAMETERS)


def test_descriptors_carry_type_range_and_mutability() -> None:
    pytest.importorskip("rcl_interfaces")
    from rcl_interfaces.msg import ParameterType

    by_name = {spec.name: spec.descriptor() for spec in ALL_PARAMETERS}
    conf = by_name["tracker.conf_thres"]
    assert conf.type == ParameterType.PARAMETER_DOUBLE
    assert (conf.floating_point_range[0].from_value, conf.floating_point_range[0].to_value) == (
        0.0, 1.0,
    )
    assert not conf.read_only and conf.description
    depth = by_name["queue_depth"]
    assert depth.type == ParameterType.PARAMETER_INTEGER and depth.read_only
    assert depth.integer_range[0].from_value == 1
    assert by_name["image_topics"].type == ParameterType.PARAMETER_STRING_ARRAY
    assert "best_effort" in by_name["qos_reliability"].additional_constraints


def test_defaults_are_valid_and_derive_camera_names() -> None:
    settings = settings_from_values({})
    assert settings.image_topics == ("image",) and settings.camera_names == ("cam0",)
    assert settings.tracker == TrackerConfig()
    assert settings.subscribed_topics == ("image",)
    two = settings_from_values({"image_topics": ["/a/image", "/b/image"], "compressed": True})
    assert two.camera_names == ("cam0", "cam1")
    assert two.subscribed_topics == ("/a/image/compressed", "/b/image/compressed")


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"qos_reliability": "sometimes"}, "qos_reliability"),
        ({"image_topics": ["/a", "/b"], "camera_names": ["left"]}, "camera_names has 1"),
        ({"image_topics": ["/a", "/b"], "camera_names": ["x", "x"]}, "duplicates"),
        ({"image_topics": ["/a", "/a"]}, "duplicates"),
        ({"camera_names": ["front cam"]}, "camera_names"),
        ({"image_topics": []}, "at least one"),
        ({"tracker.frame_rate": 0.0}, "frame_rate"),
        ({"tracker.conf_thres": 1.5}, "conf_thres"),
        ({"tracker.conf_thres": float("nan")}, "NaN"),
        ({"tracker.byte_enabled": True, "tracker.byte_low_thres": 0.5}, "byte_low_thres"),
        ({"nonsense": 1}, "unknown"),
        ({"image_topics": ["bad topic!"]}, "not a valid topic name"),
        ({"image_topics": [f"/cam{i}" for i in range(17)]}, "at most 16"),
        ({"class_id": "x" * 257}, "at most 256"),
        ({"class_id": "per\x00son"}, "class_id contains a NUL"),
        ({"model": "/models/a\x00.onnx"}, "model contains a NUL"),
        ({"tracker.frame_rate": 1e-300}, "frame_rate"),
        ({"tracker.max_tracks": 0}, "max_tracks"),
        ({"max_image_pixels": 0}, "max_image_pixels"),
        ({"spatial.mode": "lidar"}, "spatial.mode"),
        ({"spatial.camera_rotation": [0.0, 0.0, 0.0, 0.0]}, "spatial.camera_rotation"),
        ({"spatial.depth_min": 5.0, "spatial.depth_max": 4.0}, "spatial.depth_min"),
        ({"spatial.mode": "ground", "spatial.pose_source": "height_pitch_roll"},
         "camera_height > 0"),
        ({"spatial.depth_topics": ["a", "b"]}, "spatial.depth_topics has 2 entries"),
    ],
)
def test_invalid_values_are_rejected_with_a_reason(values: dict, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        settings_from_values(values)


def test_shipped_yaml_holds_every_parameter_at_its_default() -> None:
    loaded = yaml.safe_load((REPO / "config" / "tracker.yaml").read_text())
    values = _flatten(loaded["/**"]["ros__parameters"])
    expected = {spec.name: list(spec.default) if spec.kind is tuple else spec.default
                for spec in ALL_PARAMETERS if spec.default != []}  # YAML has lists, no tuples
    assert values == expected
    for name, value in values.items():  # 30.0 not 30: ROS refuses an int for a double
        assert type(value) is type(expected[name]), name
    assert yaml.safe_load(yaml_config()) == loaded


def test_markdown_table_lists_every_parameter_once() -> None:
    table = markdown_table()
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == [spec.name for spec in ALL_PARAMETERS]
    assert "| `tracker.conf_thres` | double | `0.4` | [0, 1] |" in table
    assert "<" not in table  # would be read as HTML by markdown renderers


def test_documented_table_equals_the_generated_one() -> None:
    text = (REPO / "doc" / "parameters.md").read_text()
    assert "| parameter | type |" in text, "doc/parameters.md lost its parameter table"
    start = text.index("| parameter | type |")
    end = text.find("\n\n", start)
    assert text[start : end if end >= 0 else None].rstrip("\n") + "\n" == markdown_table(), (
        "regenerate with: python -m fairmot_ros.ros.parameter_files --markdown"
    )


def test_declared_on_a_node_with_the_yaml_file_and_ranges_enforced() -> None:
    rclpy = pytest.importorskip("rclpy")
    from rclpy.parameter import Parameter

    from fairmot_ros.ros.parameters import declare_parameters

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=91)
    try:
        node = rclpy.create_node(
            "fairmot_tracker", context=context,
            cli_args=["--ros-args", "--params-file", str(REPO / "config" / "tracker.yaml"),
                      "-p", "tracker.conf_thres:=0.25", "-p", "camera_names:=[front]"],
        )
        settings = settings_from_values(declare_parameters(node))
        assert settings.tracker.conf_thres == 0.25
        assert settings.camera_names == ("front",)
        assert settings.class_id == "person"
        names = {spec.name for spec in NODE_PARAMETERS + TRACKER_PARAMETERS}
        assert all(node.has_parameter(name) for name in names)
        result = node.set_parameters([Parameter("tracker.conf_thres", value=2.0)])[0]
        assert not result.successful and "range" in result.reason
        result = node.set_parameters([Parameter("model", value="other.onnx")])[0]
        assert not result.successful and "read-only" in result.reason
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
