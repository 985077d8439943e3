"""``fairmot-bag``: make, inspect, play, record, score and draw rosbag2 bags.

    fairmot-bag from-video SRC OUT [--topic T] [--fps F] [--frames A-B] [--resize WxH]
                                   [--compressed jpeg|png] [--storage mcap|sqlite3]
    fairmot-bag info BAG
    fairmot-bag play BAG [--rate R] [--loop] [--clock [HZ]] [--topics T ...]
                         [--remap FROM:=TO] [--qos-reliability R] [--lockstep OUT [--timeout S]]
    fairmot-bag record OUT TOPIC... [--all] [--storage S] [--duration S]
    fairmot-bag eval OUTPUT_BAG --gt gt.txt [--input INPUT_BAG] [--json F]
    fairmot-bag render OUTPUT_BAG --input INPUT_BAG --video out.mp4
    fairmot-bag people3d [--mode ground|depth|depth+ground] [--frames A-B] [--out DIR]
    fairmot-bag eval3d OUTPUT_BAG --input INPUT_BAG --gt gt.txt [--calibration YAML]

Every failure is one line on stderr (``fairmot-bag: ...``) and exit status 2; warnings about
skipped messages are one line each, counted in the figures printed at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fairmot_ros.bags import STORAGES, BagError, BagReader
from fairmot_ros.stamps import ns_to_seconds, seconds_to_ns

__all__ = ["Progress", "build_parser", "main"]

PROG = "fairmot-bag"


def warn(text: str) -> None:
    print(f"{PROG}: warning: {text}", file=sys.stderr, flush=True)


class Progress:
    """A one-line progress bar on stderr for long runs (a terminal), silent otherwise."""

    def __init__(self, total: int, label: str, stream: Any = None) -> None:
        self.total, self.label = max(total, 0), label
        self.stream = stream or sys.stderr
        self.enabled = self.total >= 20 and self.stream.isatty()
        self.started = time.monotonic()
        self._shown = -1.0

    def __call__(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._shown < 0.2 and done < self.total:
            return
        self._shown = now
        fraction = min(done / self.total, 1.0) if self.total else 1.0
        bar = "#" * int(30 * fraction)
        rate = done / max(now - self.started, 1e-9)
        self.stream.write(f"\r{self.label} [{bar:<30}] {done}/{self.total} {rate:.1f}/s")
        if done >= self.total:
            self.stream.write("\n")
        self.stream.flush()


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WxH") from None
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive size")
    return width, height


def _remap(text: str) -> tuple[str, str]:
    source, sep, target = text.partition(":=")
    if not sep or not source or not target:
        raise argparse.ArgumentTypeError(f"{text!r} is not FROM:=TO")
    return source, target


def _domain() -> int | None:
    value = os.environ.get("ROS_DOMAIN_ID", "")
    return int(value) if value.isdigit() else None


# ----- from-video ----------------------------------------------------------------------------
def cmd_from_video(args: argparse.Namespace) -> int:
    from fairmot_ros.replay.frames import video_to_bag
    from fairmot_ros.sequences import SequenceError, open_sequence

    spec = str(args.src) + (f":{args.frames}" if args.frames else "")
    try:
        sequence = open_sequence(spec)
    except SequenceError as exc:
        raise BagError(str(exc)) from None
    t0 = None if args.t0 is None else seconds_to_ns(args.t0)
    total = (sequence.last - sequence.first + 1) if sequence.last else 0
    summary = video_to_bag(
        sequence, Path(args.out), args.topic, args.frame_id, args.fps, t0, args.resize,
        args.compressed, args.storage, args.overwrite, Progress(total, "from-video"),
    )
    print(f"{summary.path}: {summary.frames} {summary.type.rsplit('/', 1)[-1]} message(s) on "
          f"{summary.topic}, frames {summary.first_frame}-{summary.last_frame}, "
          f"{summary.size[0]}x{summary.size[1]} at {summary.fps:g} fps, {args.storage}")
    return 0


# ----- info ----------------------------------------------------------------------------------
def describe(reader: BagReader) -> dict[str, Any]:
    """``ros2 bag info``'s facts about a bag, as a JSON-ready dict."""
    duration = ns_to_seconds(reader.end_ns - reader.start_ns) if reader.message_count else 0.0
    return {
        "path": str(reader.path),
        "storage": reader.storage,
        "metadata_version": reader.metadata_version,
        "ros_distro": reader.ros_distro,
        "duration_s": round(duration, 3),
        "start_ns": reader.start_ns,
        "end_ns": reader.end_ns,
        "messages": reader.message_count,
        "files": [dataclasses.asdict(f) for f in reader.files],
        "note": reader.note,
        "topics": [
            {"name": t.name, "type": t.type, "count": t.count,
             "serialization": t.serialization_format, "type_hash": t.type_hash,
             "qos": [f"{q.reliability}/{q.durability}/{q.history}:{q.depth}" for q in t.qos]}
            for t in sorted(reader.topics.values(), key=lambda t: t.name)
        ],
        "custom_data": reader.custom_data,
    }


def cmd_info(args: argparse.Namespace) -> int:
    with BagReader(args.bag) as reader:
        info = describe(reader)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"Bag:               {info['path']}")
    for report in reader.files:
        print(f"File:              {report.describe()}")
    version = info["metadata_version"] or "none"
    print(f"Storage id:        {info['storage']} (metadata version {version})")
    print(f"Duration:          {info['duration_s']:.3f} s")
    print(f"Start:             {ns_to_seconds(info['start_ns']):.3f} s")
    print(f"End:               {ns_to_seconds(info['end_ns']):.3f} s")
    print(f"Messages:          {info['messages']}")
    print("Topic information:")
    for topic in info["topics"]:
        print(f"  Topic: {topic['name']} | Type: {topic['type']} | Count: {topic['count']} | "
              f"Serialization Format: {topic['serialization']} | QoS: "
              f"{', '.join(topic['qos']) or '-'}")
    if info["note"]:
        warn(info["note"])
    return 0


# ----- play ----------------------------------------------------------------------------------
def cmd_play(args: argparse.Namespace) -> int:
    from fairmot_ros.replay.node_reports import DROPPED, CameraReports
    from fairmot_ros.replay.player import (
        DEFAULT_CLOCK_HZ,
        IMAGE_TYPES,
        AnswerWatcher,
        BagPlayer,
        PlayOptions,
    )
    from fairmot_ros.replay.session import ReplayError, RosSession

    reader = BagReader(args.bag)
    if reader.note:
        warn(reader.note)
    options = PlayOptions(
        rate=args.rate, loop=args.loop,
        clock_hz=None if args.clock is None else (args.clock or DEFAULT_CLOCK_HZ),
        topics=args.topics, remap=dict(args.remap), reliability=args.qos_reliability,
        lockstep=args.lockstep is not None, timeout=args.timeout,
    )
    if options.lockstep and options.loop:
        raise BagError("--lockstep and --loop cannot be combined")
    session = RosSession(_domain(), "fairmot_bag_player")
    try:
        player = BagPlayer(session, reader, options, warn=warn)
        watcher = reports = None
        if options.lockstep:
            watcher = AnswerWatcher(session, args.lockstep, args.wait)
            image_topic = player.image_topic
            # the node reports frames it refuses or drops: those need not wait for --timeout
            reports = CameraReports(
                session.node.resolve_topic_name(player.published_name(image_topic)))
            reports.subscribe(session.node)
            if not session.spin_until(lambda: watcher.matched() and player.publishers[
                    image_topic].get_subscription_count() > 0, args.wait):
                raise ReplayError(f"nothing subscribed to {player.published_name(image_topic)} "
                                  f"within {args.wait:.0f} s")
            reports.settle(session.spin_until)
        elif args.wait > 0:
            player.wait_for_subscribers(args.wait)
        images = sum(reader.topics[t].count for t in player.publishers
                     if (t == player.image_topic) or (player.image_topic is None and
                                                      reader.topics[t].type in IMAGE_TYPES))
        stats = player.play(answered=watcher.answered if watcher else None,
                            progress=Progress(0 if args.loop else images, "play"),
                            reports=reports)
        if not options.lockstep:
            session.spin_for(0.5)  # let reliable writers deliver the last messages
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    finally:
        session.close()
        reader.close()
    figures = {
        "published": dict(stats.published),
        "seconds": round(stats.seconds, 2),
        "skipped_unknown_types": stats.skipped_types,
        "skipped_service_events": stats.skipped_service_events,
        "image_stamps_out_of_order": stats.stamps_out_of_order,
        "late_publishes": stats.late_publishes,
        "clock_messages": stats.clock_messages,
    }
    if options.lockstep:
        outcomes = Counter(stats.reported.values())
        dropped = outcomes.pop(DROPPED, 0)
        refused = dict(sorted(outcomes.items()))
        figures.update(images_sent=len(stats.images_sent),
                       answered=len(stats.images_sent) - len(stats.timed_out)
                       - len(stats.reported),
                       refused=refused, dropped=dropped, timed_out=len(stats.timed_out))
        if stats.reported:
            warn(f"the node refused {sum(refused.values())} image(s) "
                 f"({', '.join(f'{k} {v}' for k, v in refused.items()) or 'none'}) and "
                 f"dropped {dropped}; counted, not waited for")
    print(json.dumps(figures))
    return 1 if stats.timed_out else 0


# ----- record --------------------------------------------------------------------------------
def cmd_record(args: argparse.Namespace) -> int:
    from fairmot_ros.bags import BagWriter
    from fairmot_ros.replay.recorder import BagRecorder
    from fairmot_ros.replay.session import RosSession

    if not args.topics and not args.all:
        raise BagError("name the topics to record, or pass --all")
    stop = {"reason": ""}

    def on_signal(signum: int, _frame: object) -> None:
        stop["reason"] = signal.Signals(signum).name

    session = RosSession(_domain(), "fairmot_bag_recorder",
                         parameters=_sim_time_parameter(args.use_sim_time))
    try:
        writer = BagWriter(args.out, args.storage, args.overwrite)
    except BagError:
        session.close()
        raise
    def matched(topic: str, typename: str) -> None:
        print(f"recording {topic} ({typename})", flush=True)

    recorder = BagRecorder(session, writer, args.topics, args.all, warn=warn,
                           on_matched=matched, sim_time=args.use_sim_time)
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    print(f"recording into {args.out} ({args.storage}): "
          f"{'all topics' if args.all else ', '.join(args.topics)}", flush=True)
    deadline = time.monotonic() + args.duration if args.duration else None
    try:
        while not stop["reason"]:
            if deadline is not None and time.monotonic() >= deadline:
                stop["reason"] = "duration"
                break
            session.executor.spin_once(timeout_sec=0.05)
        _drain(session, recorder)
    finally:
        recorder.close()
        session.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    counts = recorder.counts
    print(json.dumps({"bag": str(args.out), "stopped_by": stop["reason"], "messages": counts,
                      "not_recorded": recorder.skipped}), flush=True)
    return 0


def _drain(session: Any, recorder: Any, quiet: float = 0.5, limit: float = 10.0) -> None:
    """Take what the middleware still holds: spin until nothing arrived for ``quiet`` s."""
    total, last_change = sum(recorder.counts.values()), time.monotonic()
    give_up = last_change + limit
    while time.monotonic() - last_change < quiet and time.monotonic() < give_up:
        session.executor.spin_once(timeout_sec=0.02)
        now_total = sum(recorder.counts.values())
        if now_total != total:
            total, last_change = now_total, time.monotonic()


def _sim_time_parameter(enabled: bool) -> list:
    if not enabled:
        return []
    from rclpy.parameter import Parameter

    return [Parameter("use_sim_time", Parameter.Type.BOOL, True)]


# ----- eval / render -------------------------------------------------------------------------
def cmd_eval(args: argparse.Namespace) -> int:
    from fairmot_ros.evaluation.metrics import REPORT_METRICS
    from fairmot_ros.replay.eval import evaluate_run, read_recorded_run

    run = read_recorded_run(args.output_bag, args.input, args.topic, args.topics,
                            args.first_frame)
    report = evaluate_run(run, Path(args.gt))
    for note in report["notes"]:
        warn(note)
    metrics = report["metrics"]
    keys = REPORT_METRICS
    print(f"frames {report['first_frame']}-{report['last_frame']}: {report['answered']} of "
          f"{report['frames']} answered, {report['unmatched_outputs']} output(s) matching no "
          f"input image")
    print("  ".join(f"{k:>9}" for k in keys))
    print("  ".join(f"{metrics[k]:>9}" for k in keys))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from fairmot_ros.replay.render import render_bags

    video = Path(args.video)
    if not video.parent.is_dir():
        raise BagError(f"{video.parent} does not exist")
    if video.exists() and not args.overwrite:
        raise BagError(f"{video} exists; pass --overwrite to replace it")
    rendered = render_bags(args.output_bag, args.input, video, args.topics, args.topic)
    print(f"video      {rendered.video or 'none (no codec opened)'}")
    print(f"snapshot   {rendered.snapshot} (frame {rendered.snapshot_frame})")
    print(f"contact    {rendered.contact_sheet}")
    print(f"frames     {rendered.frames_drawn} drawn, {len(rendered.frames_without_output)} "
          "without output")
    return 0


def _people3d(name: str) -> Any:
    """A command of :mod:`fairmot_ros.replay.people3d`, imported when it runs."""

    def run(args: argparse.Namespace) -> int:
        from fairmot_ros.replay import people3d

        return getattr(people3d, name)(args)

    return run


# ----- parser --------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Make, inspect, play, record, score and draw rosbag2 bags "
        "(MCAP or sqlite3) for replaying recordings through tracker_node.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("from-video", help="a video or image folder becomes an image bag")
    p.add_argument("src", help="video file, image folder (MOT img1/) or sequence folder, or "
                   "'pets' for PETS09-S2L1")
    p.add_argument("out", type=Path, help="bag folder to create")
    p.add_argument("--topic", default="/camera/image_raw")
    p.add_argument("--frame-id", default="camera")
    p.add_argument("--fps", type=float, default=None, help="default: the source's rate, else 30")
    p.add_argument("--t0", type=float, default=None, metavar="SECONDS",
                   help="stamp of frame 1 (default one frame period: stamps = frame / fps)")
    p.add_argument("--frames", default=None, metavar="A-B", help="1-based inclusive range")
    p.add_argument("--resize", type=_size, default=None, metavar="WxH")
    p.add_argument("--compressed", choices=("jpeg", "png"), default=None,
                   help="write sensor_msgs/CompressedImage instead of raw bgr8 Image")
    p.add_argument("--storage", choices=STORAGES, default="mcap")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=cmd_from_video)

    p = sub.add_parser("info", help="topics, types, counts, duration, storage of a bag")
    p.add_argument("bag", type=Path)
    p.add_argument("--json", action="store_true", help="print the facts as JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("play", help="publish a bag over DDS (recorded timing or lock-step)")
    p.add_argument("bag", type=Path)
    p.add_argument("--rate", type=float, default=1.0, help="speed factor of the recorded timing")
    p.add_argument("--loop", action="store_true", help="play again and again")
    p.add_argument("--clock", type=float, nargs="?", const=0.0, default=None, metavar="HZ",
                   help="publish /clock with the bag's time (default 40 Hz) for use_sim_time")
    p.add_argument("--topics", nargs="+", default=None, help="play only these topics")
    p.add_argument("--remap", type=_remap, action="append", default=[], metavar="FROM:=TO")
    p.add_argument("--qos-reliability", choices=("reliable", "best_effort"), default=None,
                   help="publish with this reliability instead of the recorded one")
    p.add_argument("--lockstep", default=None, metavar="OUTPUT_TOPIC",
                   help="send image k+1 only when the output stamped like image k arrived")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds to wait for one output in lock-step (default 30)")
    p.add_argument("--wait", type=float, default=30.0,
                   help="seconds to wait for subscribers before playing (default 30; 0: none)")
    p.set_defaults(func=cmd_play)

    p = sub.add_parser("record", help="record topics from DDS into a bag")
    p.add_argument("out", type=Path, help="bag folder to create")
    p.add_argument("topics", nargs="*", metavar="TOPIC")
    p.add_argument("--all", action="store_true", help="every topic with a known type")
    p.add_argument("--storage", choices=STORAGES, default="mcap")
    p.add_argument("--duration", type=float, default=None, metavar="S",
                   help="stop after S seconds (default: SIGINT/SIGTERM)")
    p.add_argument("--use-sim-time", action="store_true",
                   help="stamp messages with /clock time (as ros2 bag record --use-sim-time)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=cmd_record)
    record_parser = p

    p = sub.add_parser("eval", help="score recorded Detection2DArrays with TrackEval")
    p.add_argument("output_bag", type=Path)
    p.add_argument("--gt", required=True, help="MOT ground truth (gt.txt)")
    p.add_argument("--input", type=Path, default=None,
                   help="the input bag: frame numbers come from its image stamps")
    p.add_argument("--topic", default=None, help="the detections topic (default: the only one)")
    p.add_argument("--topics", nargs="+", default=None, help="the input's image topic")
    p.add_argument("--first-frame", type=int, default=None,
                   help="frame number of the first image (default: from the bag, else 1)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the report here")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("render", help="annotated video + contact sheet of a recorded run")
    p.add_argument("output_bag", type=Path)
    p.add_argument("--input", type=Path, required=True, help="the input bag")
    p.add_argument("--video", required=True, help="video to write (snapshot/contact beside)")
    p.add_argument("--topic", default=None, help="the detections topic (default: the only one)")
    p.add_argument("--topics", nargs="+", default=None, help="the input's image topic")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("people3d", help="people in 3D through an (RGB-D) bag and tracker_node, "
                       "scored against the ground truth's ground positions (JSON)")
    p.add_argument("--mode", choices=("ground", "depth", "depth+ground"), default="ground")
    p.add_argument("--sequence", default="pets", help="'pets' (default) or a MOT sequence")
    p.add_argument("--frames", default="401-795", metavar="A-B")
    p.add_argument("--gt", default=None, help="ground truth (default: the sequence's)")
    p.add_argument("--calibration", default=None, metavar="YAML",
                   help="camera calibration (default: PETS09-S2L1's)")
    p.add_argument("--input", type=Path, default=None, help="use this input bag")
    p.add_argument("--rebuild", action="store_true", help="make the cached input bag again")
    p.add_argument("--seed", type=int, default=0, help="seed of the depth sensor's noise")
    p.add_argument("--exact-depth", action="store_true", help="depth without noise or holes")
    p.add_argument("--out", default=".cache/people3d", help="output folder")
    p.add_argument("--param", action="append", default=[], metavar="NAME:=VALUE")
    p.add_argument("--domain-id", type=int, default=None)
    p.add_argument("--frame-timeout", type=float, default=30.0)
    p.add_argument("--radius", type=float, default=1.0, help="match radius (m)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the report here")
    p.set_defaults(func=_people3d("cmd_people3d"))

    p = sub.add_parser("eval3d", help="score a recorded run's ~/detections_3d positions")
    p.add_argument("output_bag", type=Path)
    p.add_argument("--input", type=Path, required=True, help="the input bag (frame numbers)")
    p.add_argument("--gt", required=True, help="MOT ground truth (gt.txt)")
    p.add_argument("--calibration", default=None, metavar="YAML")
    p.add_argument("--radius", type=float, default=1.0, help="match radius (m)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the report here")
    p.set_defaults(func=_people3d("cmd_eval3d"))
    parser.set_defaults(record_parser=record_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``fairmot-bag``; exit status 0, 1 (lock-step frames unanswered), 2."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "record":  # topics may come before or after the options
        words = list(sys.argv[1:] if argv is None else argv)
        args = args.record_parser.parse_intermixed_args(words[words.index("record") + 1:])
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except BagError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, ValueError, OSError) as exc:  # ReplayError, SequenceError, ...
        print(f"{PROG}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
