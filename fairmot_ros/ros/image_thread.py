"""The tracker node's frames: subscription callback, mailboxes and the image thread.

The subscription callback (executor thread) only drops the message into the camera's one-slot
mailbox. One image thread takes the newest frame of every camera that has one, decodes them,
runs them through the shared detector in one batch, hands each camera's frame to its
``CameraPipeline`` (camera motion, tracker, store-reset policy, output filters) and publishes
the outcome. So the executor is never blocked by inference, the node always works on the
newest frame, and a frame overwritten in a mailbox is counted as dropped instead of silently
queued or lost.

Failures of single frames never stop the node: each is counted once in /diagnostics under its
reason and warned about at most every few seconds (see doc/failure-behaviour.md). What a frame
did to the store (``FrameEvents``) is counted and warned about here; the pipeline decides it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from fairmot_ros.pipeline import NO_EVENTS, STORE_SIZE_CHANGE, FrameOutcome
from fairmot_ros.ros.cameras import Camera, PendingFrame, publisher_key
from fairmot_ros.ros.image_codec import ImageDecodeError, bgr_to_imgmsg, check_scalable
from fairmot_ros.ros.settings import NodeSettings
from fairmot_ros.ros.track_messages import detection_array, track_array, track_id_string
from fairmot_ros.stamps import NS_PER_SECOND, stamp_to_seconds, time_to_ns
from fairmot_ros.visualize import draw_tracks

__all__ = ["ImageThread"]

# Per-frame warnings are printed at most this often (a bad stream would flood the log).
WARN_EVERY_S = 5.0
# frame_id is copied into the header of every output and every Detection2D: a TF frame name,
# not a payload.
MAX_FRAME_ID = 256


class ImageThread:
    """Mailboxes and the image thread of a ``TrackerRuntime`` (see the module doc).

    ``runtime`` is read at each batch: ``cameras``, ``detector``, ``decoder``, and
    ``apply_settings()``, which returns the settings to use (applying changed ones first).
    """

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.node = runtime.node
        self.logger = self.node.get_logger()
        self._frames = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        # (camera name, what) of the warnings given once per camera.
        self._warned: set[tuple[str, str]] = set()

    # ----- executor side ---------------------------------------------------------------------
    def receive(self, camera: Camera, msg: Any, info: dict) -> None:
        """Subscription callback: put the frame in the camera's mailbox, nothing more."""
        stamp = msg.header.stamp
        received_ns = 0
        if stamp.sec == 0 and stamp.nanosec == 0:  # the clock is read only for unstamped images
            received_ns = self.node.get_clock().now().nanoseconds
        publisher = publisher_key(info)
        frame = PendingFrame(msg, time.perf_counter(), received_ns, publisher)
        with self._frames:
            replaced = camera.offer(frame)
            self._frames.notify()
        camera.stats.record_received(replaced, camera.gaps.missed_before(info), publisher)

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="fairmot_images")
        self._thread.start()

    def stop(self) -> None:
        """Stop after the frame in progress; frames still waiting are discarded."""
        with self._frames:
            self._stopping = True
            for camera in self.runtime.cameras:
                camera.take()
            self._frames.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # ----- the image thread ------------------------------------------------------------------
    def _loop(self) -> None:
        cameras = self.runtime.cameras
        while True:
            with self._frames:
                while not self._stopping and not any(c.pending for c in cameras):
                    self._frames.wait()
                if self._stopping:
                    return
                batch = [(c, c.take()) for c in cameras if c.pending is not None]
            finished: list[Camera] = []
            try:
                self._process(batch, finished)
            except Exception as exc:  # noqa: BLE001 - the node must outlive one bad frame
                if self._stopping or not self.node.context.ok():
                    return
                for camera, _ in batch:
                    if camera not in finished:
                        camera.stats.record_rejected("processing_error", repr(exc))
                self.logger.error(
                    f"frame processing failed: {exc!r}", throttle_duration_sec=5.0
                )

    def _process(self, batch: list[tuple[Camera, PendingFrame]], finished: list[Camera]) -> None:
        """Decode, detect (one batch), track and publish; ``finished`` collects the cameras
        whose frame was fully accounted for (published or rejected)."""
        runtime = self.runtime
        settings = runtime.apply_settings()
        start = time.perf_counter()
        decoded = []
        for camera, frame in batch:
            try:
                image = self._decode(frame, settings)
            except ImageDecodeError as exc:
                camera.stats.record_rejected(exc.reason, exc.detail)
                finished.append(camera)
                self.logger.warning(
                    f"{camera.name}: dropped an image: {exc}", throttle_duration_sec=WARN_EVERY_S,
                )
                continue
            decoded.append((camera, frame, image))
        if not decoded:
            return
        detections = runtime.detector.detect_batch([image for _, _, image in decoded])
        clock = self.node.get_clock()
        for (camera, frame, image), dets in zip(decoded, detections, strict=True):
            stamp = frame.msg.header.stamp
            timestamp = stamp_to_seconds(stamp.sec, stamp.nanosec)
            if frame.received_ns:
                timestamp = frame.received_ns * 1e-9
                if self._once(camera, "zero_stamp"):
                    self.logger.warning(
                        f"{camera.name}: images on {camera.topic} have a zero stamp; tracking "
                        "with receive times (outputs keep the zero stamp)"
                    )
            scene = None
            if camera.spatial is not None:
                scene = camera.spatial.scene(frame.msg.header, timestamp)
            outcome = camera.pipeline.step(image, timestamp, frame.publisher, dets, scene)
            if outcome.events is not NO_EVENTS:
                self._report(camera, frame, outcome, settings)
            self._publish(camera, frame, image, outcome, settings)
            done = time.perf_counter()
            stamp_ns = frame.received_ns or time_to_ns(stamp)
            camera.stats.record_published(
                done - start, done - frame.received_perf,
                (clock.now().nanoseconds - stamp_ns) * 1e-9,
            )
            finished.append(camera)

    def _decode(self, frame: PendingFrame, settings: NodeSettings) -> Any:
        """The frame's BGR image, or ImageDecodeError naming why it cannot be tracked."""
        msg = frame.msg
        if msg.header.stamp.nanosec >= NS_PER_SECOND:
            # builtin_interfaces/Time: nanosec < 1e9. Such a stamp would read up to 4.3 s
            # ahead and the next valid frame would look like a jump back in time.
            raise ImageDecodeError(
                "invalid_stamp",
                f"stamp {msg.header.stamp.sec} s + {msg.header.stamp.nanosec} ns "
                "(nanosec must be below 1e9)",
            )
        if len(msg.header.frame_id) > MAX_FRAME_ID:
            raise ImageDecodeError(
                "bad_frame_id",
                f"frame_id of {len(msg.header.frame_id)} characters (at most {MAX_FRAME_ID})",
            )
        decoder = self.runtime.decoder
        image = decoder.compressed(msg) if settings.compressed else decoder.image(msg)
        contract = self.runtime.detector.engine.contract
        check_scalable(image.shape[0], image.shape[1], contract.input_height, contract.input_width)
        return image

    def _publish(self, camera: Camera, frame: PendingFrame, image: Any, outcome: FrameOutcome,
                 settings: NodeSettings) -> None:
        header = frame.msg.header
        camera.detections_pub.publish(
            detection_array(outcome.tracks, header, settings.class_id, camera.prefix)
        )
        tracks = track_array(outcome.store, header, camera.prefix, settings.publish_embeddings)
        if camera.spatial is not None:
            camera.spatial.add_positions(tracks, outcome)
        camera.tracks_pub.publish(tracks)
        if camera.spatial is not None:
            camera.spatial.publish(header, outcome, settings.class_id, camera.prefix)
        if camera.debug_pub.get_subscription_count() > 0:
            camera.trails.max_points = settings.debug_trail_length
            tracks = outcome.tracks
            ids = [track_id_string(t, camera.prefix) for t in tracks]
            canvas = draw_tracks(image, [t.tlwh for t in tracks], ids, [t.score for t in tracks],
                                 camera.trails)
            camera.debug_pub.publish(bgr_to_imgmsg(canvas, header))

    # ----- what a frame did to the store -----------------------------------------------------
    def _once(self, camera: Camera, what: str) -> bool:
        """True the first time ``what`` is asked for this camera."""
        key = (camera.name, what)
        if key in self._warned:
            return False
        self._warned.add(key)
        return True

    def _report(self, camera: Camera, frame: PendingFrame, outcome: FrameOutcome,
                settings: NodeSettings) -> None:
        """Count and warn about a frame's events (the store emptied, tracks capped, people
        re-identified)."""
        events = outcome.events
        if events.store_emptied is not None:
            camera.trails.clear()
            camera.stats.record_store_reset(events.store_emptied)
            if events.store_emptied == STORE_SIZE_CHANGE:
                (old_w, old_h), (new_w, new_h) = events.previous_size, outcome.size
                self.logger.warning(
                    f"{camera.name}: image size changed from {old_w}x{old_h} to "
                    f"{new_w}x{new_h} on {camera.topic}; tracks were cleared and ids restart "
                    "at 1", throttle_duration_sec=WARN_EVERY_S,
                )
            elif events.other_clock and self._once(camera, "several_clocks"):
                # two publishers take turns: name the likely cause once
                self.logger.warning(
                    f"{camera.name}: several publishers with different clocks send to "
                    f"{self.node.resolve_topic_name(camera.topic)} (publisher GIDs "
                    f"{events.previous_source.hex()[:16]}... and "
                    f"{frame.publisher.hex()[:16]}...): each switch between them empties the "
                    "tracklet store, so tracking cannot work; publish one camera per topic "
                    "(a second camera remapped here by mistake, or a bag playing beside a live "
                    "camera?)"
                )
            else:
                self.logger.warning(
                    f"{camera.name}: image stamps went back in time (bag restarted?); tracks "
                    "were cleared", throttle_duration_sec=WARN_EVERY_S,
                )
        if events.reidentified:
            camera.stats.record_reidentified(len(events.reidentified))
        if events.capped:
            camera.stats.record_capped(events.capped)
            self.logger.warning(
                f"{camera.name}: more than tracker.max_tracks = "
                f"{settings.tracker.max_tracks} live tracks; the tracks lost longest were removed",
                throttle_duration_sec=WARN_EVERY_S,
            )
