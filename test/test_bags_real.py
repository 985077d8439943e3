"""Every message of the real rosbag2 bags in ../shared/data/rosbag2-real is read.

Those bags were written by rosbag2 itself across releases (metadata versions 4-9, MCAP and
sqlite3, split files, a recording never finalised, service events, an empty bag). Their true
counts, taken with independent readers, are the table of that folder's README; this test parses
the table and compares every bag, topic and file against it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from fairmot_ros.bags import BagError, BagReader


def _table(readme: Path) -> dict[str, dict]:
    """``folder -> {"messages": n, "topics": {name: n} | None, "files": [n, ...] | None,
    "service_events": (k, n) | None}`` from the README's table (fails on an unknown form)."""
    rows = {}
    for line in readme.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[3].isdigit():
            continue
        folder, _, _, total, per_topic = cells
        row = {"messages": int(total), "topics": {}, "files": None, "service_events": None}
        per_topic = re.sub(r"\([^)]*\)", "", per_topic)
        if "declared, no messages" in per_topic:
            names = per_topic.replace("declared, no messages", "").split(",")
            row["topics"] = {n.strip(): 0 for n in names if n.strip()}
        else:
            for item in (i.strip() for i in per_topic.split(",")):
                if m := re.fullmatch(r"(\d+) service-event topics × (\d+)", item):
                    row["service_events"] = (int(m.group(1)), int(m.group(2)))
                elif m := re.fullmatch(r"(\S+) (\d+(?: \+ \d+)+)", item):
                    row["files"] = [int(n) for n in m.group(2).split(" + ")]
                    row["topics"][m.group(1)] = sum(row["files"])
                elif m := re.fullmatch(r"(\S+) (\d+)", item):
                    row["topics"][m.group(1)] = int(m.group(2))
                else:
                    raise AssertionError(f"cannot read {item!r} of {folder} in {readme}")
        rows[folder] = row
    return rows


@pytest.fixture(scope="module")
def real_bags(shared_dir: Path) -> tuple[Path, dict[str, dict]]:
    folder = shared_dir / "data" / "rosbag2-real"
    if not (folder / "README.md").is_file():
        pytest.skip("../shared/data/rosbag2-real is not present")
    table = _table(folder / "README.md")
    assert len(table) == 9, sorted(table)
    return folder, table


def test_every_message_of_every_real_bag_is_read(real_bags):
    folder, table = real_bags
    for name, expected in table.items():
        with BagReader(folder / name) as reader:
            counts = {topic: info.count for topic, info in reader.topics.items()}
            read: dict[str, int] = dict.fromkeys(counts, 0)
            times = []
            for message in reader.messages():
                read[message.topic] += 1
                times.append(message.log_time_ns)
        assert reader.message_count == len(times) == expected["messages"], name
        assert read == counts, name
        assert times == sorted(times), f"{name}: not in log-time order"
        for topic, n in expected["topics"].items():
            assert counts.get(topic) == n, (name, topic, counts)
        if expected["service_events"] is not None:
            topics, each = expected["service_events"]
            events = {t: n for t, n in counts.items() if t.endswith("/_service_event")}
            assert list(events.values()) == [each] * topics, (name, events)
        assert sum(counts.values()) == expected["messages"], name
        assert sum(f.messages for f in reader.files) == expected["messages"], name
        assert all(f.intact for f in reader.files), (name, reader.files)


def test_a_split_recording_never_finalised_is_read_across_all_its_files(real_bags):
    folder, table = real_bags
    expected = table["split_no_metadata_mcap"]["files"]
    with BagReader(folder / "split_no_metadata_mcap") as reader:
        files = [(f.name, f.messages) for f in reader.files]
        note = reader.note
    assert [n for _, n in files] == expected
    assert [name for name, _ in files] == [f"multiple_files_{i}.mcap" for i in range(3)]
    assert "no metadata.yaml" in note and all(name in note for name, _ in files)


def test_every_file_of_a_split_sqlite3_bag_is_read(real_bags):
    folder, table = real_bags
    with BagReader(folder / "split_sqlite3") as reader:
        assert [f.name for f in reader.files] == [f"wbag_{i}.db3" for i in range(5)]
        assert sum(f.messages for f in reader.files) == table["split_sqlite3"]["messages"]
        assert reader.note is None


def test_the_storage_wins_over_metadata_and_the_difference_is_reported(real_bags, tmp_path):
    folder, table = real_bags
    bag = tmp_path / "talker"
    shutil.copytree(folder / "talker_mcap", bag)
    meta_path = bag / "metadata.yaml"
    meta = yaml.safe_load(meta_path.read_text())
    info = meta["rosbag2_bagfile_information"]
    info["message_count"] = 25
    topic = next(t for t in info["topics_with_message_count"]
                 if t["topic_metadata"]["name"] == "/topic")
    topic["message_count"] = 15
    info["relative_file_paths"].append("talker_1.mcap")
    meta_path.write_text(yaml.safe_dump(meta))
    with BagReader(bag) as reader:
        assert reader.topics["/topic"].count == table["talker_mcap"]["topics"]["/topic"]
        assert len(list(reader.messages(["/topic"]))) == reader.topics["/topic"].count
        note = reader.note
    assert "metadata.yaml disagrees with the storage" in note and "/topic 15 -> 10" in note
    assert "25 -> 20 messages" in note
    assert "lists 1 file(s) that are missing: talker_1.mcap" in note


def test_metadata_that_does_not_parse_leaves_the_storage_readable(real_bags, tmp_path):
    folder, table = real_bags
    bag = tmp_path / "broken"
    shutil.copytree(folder / "talker_sqlite3", bag)
    (bag / "metadata.yaml").write_text("rosbag2_bagfile_information: [unclosed\n")
    with BagReader(bag) as reader:
        assert reader.message_count == table["talker_sqlite3"]["messages"]
        assert "does not parse" in reader.note
    (bag / "talker.db3").unlink()
    with pytest.raises(BagError, match="does not parse"):
        BagReader(bag)


def test_an_empty_topic_list_reads_nothing(real_bags):
    folder, _ = real_bags
    with BagReader(folder / "cdr_test_mcap") as reader:
        assert list(reader.messages([])) == []
        assert len(list(reader.messages())) == reader.message_count > 0
