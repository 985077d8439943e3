"""Shared pieces of the node tests: a model with predictable output, frames, a node process.

The dot model
-------------
Node tests need boxes in known places without a trained network. ``build_dot_checkpoint``
takes the real ``yolov5s`` network from ``fairmot_ros.model``, zeroes every weight and then
wires one channel from the input to the heatmap head: the Focus convolution averages the
pixel intensities, the stride-4 convolution averages a 3x3 neighbourhood, the two C3 blocks
(layers 2 and 21) pass that channel through their ``cv2`` branch, and the heatmap head maps it
linearly onto logits. Every other path computes zeros. The result is a detector of bright
dots: on a grey frame, a white 8x8 square centred on a stride-4 cell gives exactly one peak
there; the box head is a constant (``BOX_LTRB`` grid cells to each side), the offset head is
zero and every embedding is the same unit vector, so association runs on motion alone.

It goes through the product's own path: ``save_checkpoint`` and the ``fairmot-export`` CLI, so
the node loads an ordinary exported model and nothing in the node is replaced for testing.
"""

from __future__ import annotations

import hashlib
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
INPUT_W, INPUT_H = 192, 128  # model input; test frames have this size, so no letterbox scaling
STRIDE = 4
BOX_LTRB = (3.0, 6.0, 3.0, 6.0)  # grid cells: boxes are 24 x 48 px around the dot
DOT = 8  # side of the white square, px
GREY, WHITE = 128, 255
# Heatmap logits the calibration aims at for a grey cell and for a cell under a dot.
GREY_LOGIT, DOT_LOGIT = -5.0, 2.5


def box_for_cell(col: int, row: int) -> tuple[float, float, float, float]:
    """(cx, cy, w, h) in pixels that the dot model reports for a dot centred on a cell."""
    left, top, right, bottom = BOX_LTRB
    cx, cy = col * STRIDE, row * STRIDE
    return (
        cx + (right - left) * STRIDE / 2, cy + (bottom - top) * STRIDE / 2,
        (left + right) * STRIDE, (top + bottom) * STRIDE,
    )


def dot_frame(cells: Sequence[tuple[int, int]], width: int = INPUT_W, height: int = INPUT_H):
    """A grey BGR frame with a white dot centred on each (col, row) stride-4 cell."""
    frame = np.full((height, width, 3), GREY, np.uint8)
    half = DOT // 2
    for col, row in cells:
        x, y = col * STRIDE, row * STRIDE
        frame[y - half + 1 : y + half + 1, x - half + 1 : x + half + 1] = WHITE
    return frame


def build_dot_checkpoint(path: Path) -> Path:
    """Write the dot model as an original-format FairMOT checkpoint (see the module doc)."""
    import torch

    from fairmot_ros.model import build_model
    from fairmot_ros.model.checkpoint import save_checkpoint

    model = build_model("yolov5s").eval()
    state = model.state_dict()
    with torch.no_grad():
        for key, value in state.items():
            if value.is_floating_point():
                value.zero_()
            if key.endswith("running_var"):
                value.fill_(1.0)

        def route(conv: str, out_ch: int, in_ch: int, weight: float, bn: str | None) -> None:
            state[conv][out_ch, in_ch] = weight
            if bn is not None:
                state[bn + ".weight"][out_ch] = 1.0

        b = "backbone.model."
        state[b + "0.conv.conv.weight"][0, :, 1, 1] = 1.0 / 12  # mean of 4 phases x 3 colours
        state[b + "0.conv.bn.weight"][0] = 1.0
        route(b + "1.conv.weight", 0, 0, 1.0 / 9, b + "1.bn")  # 3x3 mean, stride 4
        route(b + "2.cv2.conv.weight", 0, 0, 1.0, b + "2.cv2.bn")
        route(b + "2.cv3.conv.weight", 0, 32, 1.0, b + "2.cv3.bn")  # cv2 half of the concat
        route(b + "21.cv2.conv.weight", 0, 64, 1.0, b + "21.cv2.bn")  # layer 2 half of concat
        route(b + "21.cv3.conv.weight", 0, 32, 1.0, b + "21.cv3.bn")
        state["hm.0.weight"][0, 0, 1, 1] = 1.0
        state["hm.2.weight"][0, 0] = 1.0
        state["wh.2.bias"][:] = torch.tensor(BOX_LTRB)
        state["id.2.bias"][:] = 1.0
        model.load_state_dict(state)

        def hidden(value: int) -> float:
            frame = np.full((1, 3, INPUT_H, INPUT_W), value / 255.0, np.float32)
            hm = model(torch.from_numpy(frame))["hm"]
            return float(hm[0, 0, INPUT_H // 8, INPUT_W // 8])

        grey, white = hidden(GREY), hidden(WHITE)
        gain = (DOT_LOGIT - GREY_LOGIT) / (white - grey)
        state["hm.2.weight"][0, 0] = gain
        state["hm.2.bias"][0] = GREY_LOGIT - gain * grey
        model.load_state_dict(state)
    return save_checkpoint(path, model, epoch=0)


def _model_sources_digest() -> str:
    """Hash of everything the exported dot model depends on: a stale cache cannot be used."""
    package = REPO / "fairmot_ros"
    sources = [Path(__file__), package / "export.py", package / "contract.py"]
    sources += sorted((package / "model").glob("*.py"))
    digest = hashlib.sha256()
    for source in sources:
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def dot_model() -> Path:
    """The dot model exported with ``fairmot-export``, cached under .cache/ by source hash."""
    directory = REPO / ".cache" / "node-test-models" / _model_sources_digest()
    onnx_path = directory / "dot_detector.onnx"
    if onnx_path.is_file():
        return onnx_path
    directory.mkdir(parents=True, exist_ok=True)
    checkpoint = build_dot_checkpoint(directory / "dot_detector.pth")
    command = [
        sys.executable, "-m", "fairmot_ros.export", str(checkpoint), "-o", str(onnx_path),
        "--input-size", f"{INPUT_W}x{INPUT_H}", "--name", "dot-detector", "--no-compare",
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    if result.returncode:
        raise RuntimeError(f"fairmot-export failed:\n{result.stdout}\n{result.stderr}")
    return onnx_path


def tracker_node_command() -> list[str]:
    """The installed console script (as users start it); ``python -m`` where it is missing."""
    script = Path(sys.executable).with_name("tracker_node")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "fairmot_ros.ros.node"]


class NodeProcess:
    """``tracker_node`` in a subprocess with its own ROS domain; always killed on exit."""

    def __init__(
        self, model: Path, domain_id: int, params: Sequence[str] = (),
        extra_args: Sequence[str] = (), log_dir: Path | None = None,
    ) -> None:
        args = [*tracker_node_command(), *extra_args, "--ros-args",
                "--params-file", str(REPO / "config" / "tracker.yaml"),
                "-p", f"model:={model}", "-p", "intra_op_threads:=1"]
        for param in params:
            args += ["-p", param]
        env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), PYTHONUNBUFFERED="1")
        log_dir = log_dir or Path("/tmp")
        self.stderr_path = log_dir / f"tracker_node_{domain_id}_{time.monotonic_ns()}.log"
        self._stderr = self.stderr_path.open("w+b")
        self.process = subprocess.Popen(
            args, cwd=REPO, env=env, stdout=self._stderr, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.output()
            if text in out:
                return out
            if self.process.poll() is not None:
                raise AssertionError(f"node exited ({self.process.returncode}):\n{out}")
            time.sleep(0.1)
        raise AssertionError(f"no {text!r} in node output within {timeout}s:\n{self.output()}")

    def interrupt(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """End the node: SIGINT first, so that it leaves the DDS domain cleanly (a killed
        participant leaves its shared-memory segments in /dev/shm), SIGKILL after 10 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._stderr.close()


DOMAIN_BLOCK = 8  # domains per test process: module offsets 0..7


def domain_id(module_offset: int) -> int:
    """A ROS domain for one test module: distinct per module offset, varied by process id so
    that concurrent test runs on one machine do not hear each other (domains 20..99: ten
    blocks of eight, so no offset of one run reaches into another run's block)."""
    if not 0 <= module_offset < DOMAIN_BLOCK:
        raise ValueError(f"module offset {module_offset} outside 0..{DOMAIN_BLOCK - 1}")
    return 20 + (os.getpid() % 10) * DOMAIN_BLOCK + module_offset


def stamp_of(seconds: float):
    from builtin_interfaces.msg import Time

    sec = int(seconds)
    return Time(sec=sec, nanosec=round((seconds - sec) * 1e9))


def image_msg(frame: np.ndarray, seconds: float, frame_id: str = "camera", encoding="bgr8"):
    """A ``sensor_msgs/Image`` of a BGR frame (rgb8 is converted, rows padded by 4 bytes)."""
    from sensor_msgs.msg import Image

    from fairmot_ros.image_bytes import byte_array

    pixels = frame[:, :, ::-1] if encoding == "rgb8" else frame
    rows = np.ascontiguousarray(pixels).reshape(frame.shape[0], -1)
    padded = np.concatenate([rows, np.zeros((rows.shape[0], 4), np.uint8)], axis=1)
    msg = Image(height=frame.shape[0], width=frame.shape[1], encoding=encoding, is_bigendian=0)
    msg.header.stamp = stamp_of(seconds)
    msg.header.frame_id = frame_id
    msg.step = padded.shape[1]
    msg.data = byte_array(padded)
    return msg


class Bench:
    """The test side of the DDS link: publishers, collecting subscriptions, service calls.

    Everything runs on one executor spun by the waiting helpers, so callbacks only ever run
    inside ``spin_until``.
    """

    def __init__(self, domain: int, name: str = "node_test_bench") -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received: dict[str, list] = {}

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.context)

    @staticmethod
    def qos(reliable: bool, depth: int = 10):
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

        return QoSProfile(
            reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
            history=HistoryPolicy.KEEP_LAST, depth=depth,
        )

    def publisher(self, msg_type, topic: str, reliable: bool = False):
        return self.node.create_publisher(msg_type, topic, self.qos(reliable))

    def collect(self, msg_type, topic: str, reliable: bool = True, depth: int = 50) -> list:
        """Subscribe and append every message to the returned list."""
        messages = self.received.setdefault(topic, [])
        self.node.create_subscription(msg_type, topic, messages.append, self.qos(reliable, depth))
        return messages

    def spin_until(self, predicate, timeout: float = 20.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                detail = what() if callable(what) else what
                raise AssertionError(f"timed out after {timeout}s waiting for {detail}")
            self.executor.spin_once(timeout_sec=0.05)

    def camera_values_after_now(self, diagnostics: list) -> dict[str, str]:
        """The first camera's values in a /diagnostics report whose period started after this
        call (``diagnostics``: the list a subscription appends to), so it counts every frame
        sent before."""
        from fairmot_ros.ros import diagnostic_keys as keys

        count = len(diagnostics)
        self.spin_until(lambda: len(diagnostics) > count + 1, 10, "a report after the frames")
        return next({kv.key: kv.value for kv in status.values}
                    for status in diagnostics[-1].status
                    if status.name.startswith(keys.STATUS_PREFIX + "cam"))

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)

    def call(self, srv_type, name: str, request, timeout: float = 20.0):
        client = self.node.create_client(srv_type, name)
        self.spin_until(lambda: client.service_is_ready(), timeout, f"service {name}")
        future = client.call_async(request)
        self.spin_until(future.done, timeout, f"reply of {name}")
        self.node.destroy_client(client)
        return future.result()

    def send_and_wait(self, publisher, msg, outputs: list, timeout: float = 20.0,
                      resend_every: float | None = None):
        """Publish ``msg`` and wait for the output carrying its stamp; returns that output.

        ``resend_every`` re-publishes until an answer comes (for the very first frame, which
        may go out before discovery has finished on both sides)."""
        stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)

        def answered():
            return any((o.header.stamp.sec, o.header.stamp.nanosec) == stamp for o in outputs)

        deadline = time.monotonic() + timeout
        while True:
            publisher.publish(msg)
            step = resend_every or timeout
            try:
                self.spin_until(answered, min(step, max(0.0, deadline - time.monotonic())),
                                f"output stamped {stamp}")
                break
            except AssertionError:
                if resend_every is None or time.monotonic() > deadline:
                    raise
        return next(o for o in outputs if (o.header.stamp.sec, o.header.stamp.nanosec) == stamp)


def png_declaring(width: int, height: int, body: bytes = b"", colour: int = 2) -> bytes:
    """A well-formed PNG (IHDR, one IDAT of ``body`` deflated, IEND) declaring ``width`` x
    ``height``: with a large size and a small body, a decompression bomb."""

    def chunk(kind: bytes, content: bytes) -> bytes:
        crc = zlib.crc32(kind + content) & 0xFFFFFFFF
        return struct.pack(">I", len(content)) + kind + content + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(body, 9)) + chunk(b"IEND", b""))


def jpeg_declaring(width: int, height: int) -> bytes:
    """A real 16x16 JPEG whose frame header is rewritten to declare ``width`` x ``height``."""
    import cv2

    ok, data = cv2.imencode(".jpg", np.full((16, 16, 3), 90, np.uint8))
    assert ok
    data = bytearray(data.tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)
