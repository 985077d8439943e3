"""``info``, ``play``, ``eval``, ``render`` and ``fairmot-demo --bag`` agree on what a bag holds.

On each of the nine real rosbag2 bags (../shared/data/rosbag2-real) and on hostile ones made
here, every tool either does its job (exit 0) or prints one line saying why and exits non-zero;
none prints a traceback. ``play`` accounts for every message ``info`` counts: published,
skipped for a type it cannot publish, or skipped as a service event. A subscriber receives what
``play`` publishes, byte for byte.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

from node_support import domain_id  # noqa: E402
from test_bags_real import real_bags  # noqa: E402, F401 - the fixture

from fairmot_ros.bags import BagReader  # noqa: E402
from fairmot_ros.replay import cli, demo  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
REAL = ["cdr_test_mcap", "convert_a_mcap", "convert_b_sqlite3", "empty_sqlite3",
        "service_events_mcap", "split_no_metadata_mcap", "split_sqlite3", "talker_mcap",
        "talker_sqlite3"]
# What cannot be played, and why: no definitions of its test_msgs types (sqlite3 before
# Iron keeps none), or no message at all.
UNPLAYABLE = {"convert_b_sqlite3": "cannot be built", "empty_sqlite3": "no messages"}


def _in_process(main, args: list[str], capsys) -> tuple[int, str, str]:
    """A console script's main in this process: (status, stdout, stderr); an exception that
    escapes it fails the test, as a traceback would."""
    status = main(args)
    out, err = capsys.readouterr()
    return status, out, err


def _play(bag: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id(2)), PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "fairmot_ros.replay.cli", "play", str(bag),
                           *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def _one_line_failure(status: int, err: str, expected: str) -> None:
    assert status != 0, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert expected in err, err


@pytest.mark.parametrize("name", REAL)
def test_every_tool_agrees_on_a_real_bag(real_bags, name, tmp_path, capsys):  # noqa: F811
    folder, table = real_bags
    bag = folder / name
    status, out, err = _in_process(cli.main, ["info", str(bag), "--json"], capsys)
    assert status == 0 and "Traceback" not in err
    info = json.loads(out)
    assert info["messages"] == table[name]["messages"]
    counts = {t["name"]: t["count"] for t in info["topics"]}

    played = _play(bag, "--wait", "0", "--rate", "50")
    assert "Traceback" not in played.stderr, played.stderr
    if name in UNPLAYABLE:
        _one_line_failure(played.returncode, played.stderr.splitlines()[-1],
                          "nothing playable")
        assert UNPLAYABLE[name] in played.stderr
    else:
        assert played.returncode == 0, played.stderr
        figures = json.loads(played.stdout.strip().splitlines()[-1])
        accounted = {**figures["published"], **figures["skipped_service_events"]}
        assert accounted == {t: n for t, n in counts.items() if n}, (figures, counts)
        assert not figures["skipped_unknown_types"]

    gt = tmp_path / "gt.txt"
    gt.write_text("1,1,10,10,20,20,1,-1,-1,-1\n")
    status, _, err = _in_process(cli.main, ["eval", str(bag), "--gt", str(gt)], capsys)
    _one_line_failure(status, err, "no vision_msgs/msg/Detection2DArray topic")
    status, _, err = _in_process(cli.main, ["render", str(bag), "--input", str(bag), "--video",
                                            str(tmp_path / "v.mp4")], capsys)
    _one_line_failure(status, err, "no vision_msgs/msg/Detection2DArray topic")
    status, _, err = _in_process(demo.main, ["--bag", str(bag), "--out", str(tmp_path / "d")],
                                 capsys)
    _one_line_failure(status, err, "no sensor_msgs Image or CompressedImage topic")


def test_play_of_a_foxy_bag_reaches_a_subscriber_byte_for_byte(real_bags):  # noqa: F811
    """talker_mcap (metadata v4, 2020): every /topic message arrives with its recorded bytes."""
    from std_msgs.msg import String

    from fairmot_ros.replay.session import RosSession

    folder, table = real_bags
    bag = folder / "talker_mcap"
    with BagReader(bag) as reader:
        recorded = [bytes(m.data) for m in reader.messages(["/topic"])]
    assert len(recorded) == table["talker_mcap"]["topics"]["/topic"]
    session = RosSession(domain_id(2), "real_bag_subscriber")
    received: list[bytes] = []
    try:
        session.node.create_subscription(String, "/topic", received.append, 100, raw=True)
        env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id(2)), PYTHONUNBUFFERED="1")
        player = subprocess.Popen(
            [sys.executable, "-m", "fairmot_ros.replay.cli", "play", str(bag), "--topics",
             "/topic", "--wait", "20", "--rate", "5"], cwd=REPO, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        session.spin_until(lambda: player.poll() is not None
                           and len(received) >= len(recorded), 90)
        out, err = player.communicate(timeout=30)
    finally:
        session.close()
    assert player.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["published"] == {"/topic": len(recorded)}
    assert received == recorded


@pytest.fixture()
def hostile(tmp_path, real_bags) -> dict[str, tuple[Path, int]]:  # noqa: F811
    """Damaged bags and non-bags, with the exit status ``info`` must give (0: readable)."""
    folder, _ = real_bags
    cut = tmp_path / "cut.mcap"  # a single MCAP file cut in its middle
    data = (folder / "split_no_metadata_mcap" / "multiple_files_0.mcap").read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage"  # metadata that does not parse and no storage
    garbage.mkdir()
    (garbage / "metadata.yaml").write_text("rosbag2_bagfile_information: [\n")
    not_sqlite = tmp_path / "not_sqlite"
    not_sqlite.mkdir()
    (not_sqlite / "x_0.db3").write_bytes(b"not a database" * 100)
    (tmp_path / "notes.txt").write_text("hello\n")
    return {"cut": (cut, 0), "garbage": (garbage, 2), "not_sqlite": (not_sqlite, 2),
            "notes": (tmp_path / "notes.txt", 2), "missing": (tmp_path / "nowhere", 2)}


def test_every_tool_gives_one_line_on_hostile_bags(hostile, tmp_path, capsys):
    gt = tmp_path / "gt.txt"
    gt.write_text("1,1,10,10,20,20,1,-1,-1,-1\n")
    for label, (bag, info_status) in hostile.items():
        status, out, err = _in_process(cli.main, ["info", str(bag)], capsys)
        assert status == info_status, (label, err)
        assert "Traceback" not in err
        if info_status:
            _one_line_failure(status, err, "")
        else:
            assert "cut short or damaged" in err and "Messages:" in out, (label, err)
        played = _play(bag, "--wait", "0", "--rate", "50")
        assert "Traceback" not in played.stderr, (label, played.stderr)
        if info_status:
            _one_line_failure(played.returncode, played.stderr, "")
        else:
            assert played.returncode == 0, (label, played.stderr)
        for main, args in ((cli.main, ["eval", str(bag), "--gt", str(gt)]),
                           (cli.main, ["render", str(bag), "--input", str(bag), "--video",
                                       str(tmp_path / "v.mp4"), "--overwrite"]),
                           (demo.main, ["--bag", str(bag), "--out", str(tmp_path / "d")])):
            status, _, err = _in_process(main, args, capsys)
            _one_line_failure(status, err.strip().splitlines()[-1] if err.strip() else err, "")
            assert "Traceback" not in err, (label, args, err)
