"""Types that are not installed, built from the definitions a real bag carries, and played.

``test_msgs`` (rosbag2's own test messages) is not installed here: the real bag
``cdr_test_mcap`` holds ``test_msgs/msg/Arrays`` and ``BasicTypes`` with their ``ros2msg``
schemas. The builder must turn those into a real interface package (once per cache), whose
classes decode the recorded CDR bytes; ``fairmot-bag play`` must publish every message with
those classes, byte for byte, and skip service events and what cannot be built in one line each.
The cache is a temporary folder shared by the whole test session, so the package is built once.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

from node_support import domain_id  # noqa: E402

from fairmot_ros.bags import BagReader, deserialize, ensure_type, serialize  # noqa: E402
from fairmot_ros.replay import message_packages  # noqa: E402
from fairmot_ros.replay.message_packages import (  # noqa: E402
    MessagePackageError,
    installed_packages,
    message_class,
)

REPO = Path(__file__).resolve().parents[1]
TYPES = ("test_msgs/msg/Arrays", "test_msgs/msg/BasicTypes")
COUNTS = {"/array_topic": 4, "/test_topic": 3}


def _real_bag(shared_dir: Path, name: str) -> Path:
    bag = shared_dir / "data" / "rosbag2-real" / name
    if not bag.is_dir():
        pytest.skip(f"{bag} is not present")
    return bag


@pytest.fixture(scope="session")
def cdr_bag(shared_dir: Path) -> Path:
    if importlib.util.find_spec("test_msgs") is not None:
        pytest.skip("test_msgs is installed here: these tests need a type that is not")
    return _real_bag(shared_dir, "cdr_test_mcap")


@pytest.fixture(scope="session")
def definitions(cdr_bag: Path) -> dict[str, str]:
    """Every definition the bag carries for its two types (as the player merges them)."""
    merged: dict[str, str] = {}
    with BagReader(cdr_bag) as reader:
        for typename in TYPES:
            merged.update(reader.type_definitions(typename))
    return merged


@pytest.fixture(scope="session")
def clean_env() -> dict[str, str]:
    """The environment before any package was loaded into this process."""
    return dict(os.environ)


@pytest.fixture(scope="session")
def cache(tmp_path_factory, clean_env) -> Path:
    """A package cache for the session; what loading changes in this process is undone after."""
    folder = tmp_path_factory.mktemp("xdg_cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(folder))
        for variable in ("LD_LIBRARY_PATH", "AMENT_PREFIX_PATH"):
            patch.setenv(variable, os.environ.get(variable, ""))
        patch.setattr(sys, "path", list(sys.path))
        yield folder


@pytest.fixture(scope="session")
def built(cache: Path, definitions: dict[str, str]) -> dict:
    """The classes of both types, and what the builder announced and recorded doing so."""
    announced: list[tuple[str, Path]] = []
    before = len(installed_packages())
    classes = {t: message_class(t, definitions, on_build=lambda p, x: announced.append((p, x)))
               for t in TYPES}
    return {"classes": classes, "announced": announced,
            "installs": installed_packages()[before:]}


def test_bag_definitions_build_classes_that_round_trip_the_recorded_bytes(built, cache, cdr_bag):
    from rclpy.serialization import deserialize_message, serialize_message

    installs = built["installs"]
    assert [(i.package, i.built) for i in installs] == [("test_msgs", True)]
    prefix = installs[0].prefix
    assert prefix.parent == cache / "fairmot_ros" / "message_packages"
    assert prefix.name.startswith("test_msgs-") and (prefix / ".complete").is_file()
    assert built["announced"] == [("test_msgs", prefix)]
    print(f"first build of test_msgs: {installs[0].seconds:.1f} s")
    seen = dict.fromkeys(COUNTS, 0)
    arrays = None
    with BagReader(cdr_bag) as reader:
        for message in reader.messages():
            cls = built["classes"][message.type]
            assert cls.__module__.startswith("test_msgs.msg")
            assert Path(sys.modules["test_msgs"].__file__).is_relative_to(prefix)
            data = bytes(message.data)
            decoded = deserialize_message(data, cls)
            again = serialize_message(decoded)
            assert len(again) == len(data) and deserialize_message(again, cls) == decoded
            # rclpy's serializer leaves alignment padding uninitialised; every value byte is
            # checked by a second, independent CDR codec (rosbags, from the bag's definitions),
            # which writes zero padding as the recorder did: identical bytes.
            assert ensure_type(message.type, reader.type_definitions(message.type))
            assert serialize(deserialize(again, message.type), message.type) == data
            seen[message.topic] += 1
            arrays = decoded if message.type == TYPES[0] else arrays
    assert seen == COUNTS
    assert list(arrays.int32_values_default) == [0, 2147483647, -2147483648]


def test_a_second_call_or_process_reuses_the_cache(built, cache, definitions, clean_env):
    first = built["installs"][0]
    again = message_class("test_msgs/msg/Arrays", definitions,
                          on_build=lambda *a: pytest.fail("rebuilt"))
    assert again is built["classes"]["test_msgs/msg/Arrays"]
    assert installed_packages()[-1] == first  # nothing new loaded or built
    script = (
        "import json, sys\n"
        "from fairmot_ros.replay.message_packages import installed_packages, message_class\n"
        "defs = json.loads(sys.stdin.read())\n"
        "cls = message_class('test_msgs/msg/BasicTypes', defs,\n"
        "                    on_build=lambda *a: print('built'))\n"
        "print(json.dumps([[i.package, str(i.prefix), i.built] for i in installed_packages()]))\n"
        "print(cls().int32_value)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], input=json.dumps(definitions),
                          env=dict(clean_env, XDG_CACHE_HOME=str(cache)), cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "built" not in lines
    assert json.loads(lines[0]) == [["test_msgs", str(first.prefix), False]]


@pytest.mark.parametrize("typename, text, reason", [
    ("acme_msgs/msg/Outer", "acme_msgs/Inner inner\nint32 count\n",
     "needs acme_msgs/msg/Inner, which is not installed and has no definition here"),
    ("std_msgs/msg/Nope", "int32 x\n", "std_msgs is already installed or loaded here"),
    ("acme_msgs/srv/Ask_Event", "int32 x\n---\nint32 y\n", "is not a message type"),
    ("acme_msgs/msg/Bad", "int32 x\nint32 x\n", "the definition of acme_msgs/msg/Bad is invalid"),
])
def test_what_cannot_be_built_fails_in_one_line_without_building(cache, typename, text, reason):
    with pytest.raises(MessagePackageError) as caught:
        message_class(typename, {typename: text})
    message = str(caught.value)
    assert reason in message and "\n" not in message, message
    assert not list(message_packages.cache_root().glob("acme_msgs*"))


def _play(domain: int, cache: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONUNBUFFERED="1",
               XDG_CACHE_HOME=str(cache))
    return subprocess.Popen([str(Path(sys.executable).parent / "fairmot-bag"), "play", *args],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_play_publishes_the_uninstalled_types_byte_for_byte(built, cache, cdr_bag):
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    from fairmot_ros.replay.session import RosSession

    domain = domain_id(0)
    types = {"/array_topic": TYPES[0], "/test_topic": TYPES[1]}
    with BagReader(cdr_bag) as reader:
        expected = {topic: [bytes(m.data) for m in reader.messages([topic])] for topic in types}
    received: dict[str, list[bytes]] = {topic: [] for topic in types}
    session = RosSession(domain, "message_packages_test_subscriber")
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)  # the recorded publishers'
    try:
        for topic, typename in types.items():
            session.node.create_subscription(
                built["classes"][typename], topic,
                lambda data, t=topic: received[t].append(bytes(data)), qos, raw=True)
        player = _play(domain, cache, str(cdr_bag), "--wait", "60")
        deadline, exited = time.monotonic() + 120, None
        while time.monotonic() < deadline and any(
                len(received[t]) < len(expected[t]) for t in types):
            session.executor.spin_once(timeout_sec=0.05)
            if exited is None and player.poll() is not None:
                exited = time.monotonic()
                deadline = min(deadline, exited + 5)  # what is in flight, then give up
        out, err = player.communicate(timeout=60)
    finally:
        session.close()
    assert player.returncode == 0 and "Traceback" not in err, err
    assert "building message package" not in err, err  # the session's build was reused
    assert "warning" not in err, err
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["published"] == COUNTS and figures["skipped_unknown_types"] == {}
    assert received == expected


def test_play_skips_service_events_and_empty_uninstalled_topics_in_one_line_each(
        cache, shared_dir):
    """Only service events and a topic with no messages of an uninstalled type are chosen:
    nothing is left to publish, which is one line and exit status 2, without any build."""
    bag = _real_bag(shared_dir, "service_events_mcap")
    events = ["/test_service1/_service_event", "/test_service2/_service_event"]
    player = _play(domain_id(0), cache, str(bag), "--wait", "0",
                   "--topics", *events, "/events/write_split")
    out, err = player.communicate(timeout=120)
    assert player.returncode == 2 and "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 3, err
    for topic, line in zip(events, lines[:2], strict=True):
        assert "warning" in line and "4 service event(s)" in line and topic in line, line
    assert "nothing playable" in lines[2] and "/events/write_split" in lines[2], lines[2]
    assert "write_split" not in "".join(lines[:2]) and "building" not in err
    assert not any(message_packages.cache_root().glob("rosbag2_interfaces-*"))
