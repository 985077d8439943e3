"""Export a FairMOT network to a self-describing ONNX model that ONNX Runtime runs.

``export_onnx`` traces :class:`fairmot_ros.model.deploy.DeployWrapper` with torch's dynamo
exporter (the legacy TorchScript exporter cannot express the deformable convolution), maps DCN to
the opset-19 ``DeformConv`` operator, writes the :class:`~fairmot_ros.contract.ModelContract` into
``metadata_props`` and only then moves the file into place, after ``onnx.checker`` and an ONNX
Runtime run have accepted it. ``main`` is the ``fairmot-export`` console script.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import io
import logging
import os
import secrets
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fairmot_ros.contract import (
    INPUT_FLOAT_RGB_NCHW,
    INPUT_NAME,
    INPUT_UINT8_BGR_NHWC,
    ModelContract,
)

__all__ = ["ExportError", "ValidationReport", "export_onnx", "export_with_report", "main"]

MIN_OPSET = 19  # DeformConv
MAX_IR_VERSION = 10  # ONNX Runtime 1.31/1.32 read IR <= 13; 10 keeps older runtimes happy too
DEFAULT_INPUT_SIZE = (1088, 608)  # (W, H)


class ExportError(RuntimeError):
    """The model could not be exported or the written file failed validation."""


@dataclass(frozen=True)
class ValidationReport:
    """What validating an exported file established."""

    providers: tuple[str, ...]
    input_shape: tuple[int, ...]
    output_shapes: dict[str, tuple[int, ...]]
    max_abs_diff: dict[str, float]  # per output, ONNX Runtime vs the PyTorch wrapper
    size_mb: float
    seconds: float


def _example_input(contract: ModelContract, batch: int, seed: int = 0) -> np.ndarray:
    """A deterministic image-like batch in the contract's input format."""
    rng = np.random.default_rng(seed)
    h, w = contract.input_height, contract.input_width
    pixels = rng.integers(0, 256, size=(batch, h, w, 3), dtype=np.uint8)
    if contract.input_format == INPUT_UINT8_BGR_NHWC:
        return pixels
    return np.ascontiguousarray(pixels[..., ::-1].transpose(0, 3, 1, 2)).astype(np.float32) / 255.0


@contextlib.contextmanager
def _quiet_exporter(enabled: bool) -> Iterator[None]:
    """Silence the exporter's progress prints and its irrelevant torchvision warnings."""
    if not enabled:
        yield
        return
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch._dynamo", "torch.export")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _check_model_matches(model, contract: ModelContract) -> None:
    arch = getattr(model, "arch", None)
    reid = getattr(model, "reid_dim", None)
    if arch is not None and arch != contract.arch:
        raise ExportError(f"contract arch {contract.arch!r} differs from the model's {arch!r}")
    if reid is not None and reid != contract.reid_dim:
        raise ExportError(f"contract reid_dim {contract.reid_dim} differs from the model's {reid}")
    cells = contract.output_height * contract.output_width
    if contract.topk > cells:
        raise ExportError(
            f"topk {contract.topk} exceeds the {cells} cells of the "
            f"{contract.output_width}x{contract.output_height} output grid"
        )


def _trace_to_onnx(model, contract: ModelContract, opset: int, quiet: bool):
    """Run the dynamo exporter on the deploy wrapper; returns the ONNX ModelProto."""
    import onnx
    import torch

    from fairmot_ros.model.dcn import onnx_deform_conv_mode, onnx_translation_table
    from fairmot_ros.model.deploy import DeployWrapper

    net = copy.deepcopy(model).eval()
    net = net.half() if contract.precision == "fp16" else net.float()
    wrapper = DeployWrapper(net, contract).eval()
    batch = contract.batch or 2  # a dynamic dim must not be traced at size 1 (it specialises)
    example = torch.from_numpy(_example_input(contract, batch))
    device = next(net.parameters()).device
    example = example.to(device)
    dynamic = None
    if contract.batch == 0:
        dynamic = {"images": {0: torch.export.Dim("batch", min=1, max=1024)}}
    with _quiet_exporter(quiet), onnx_deform_conv_mode(), torch.no_grad():
        program = torch.onnx.export(
            wrapper,
            (example,),
            dynamo=True,
            opset_version=opset,
            custom_translation_table=onnx_translation_table(opset),
            input_names=[INPUT_NAME],
            output_names=list(contract.output_names),
            dynamic_shapes=dynamic,
            verbose=False,
        )
    proto = program.model_proto
    if proto.ir_version > MAX_IR_VERSION:
        proto.ir_version = MAX_IR_VERSION
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, contract.to_metadata())
    proto.doc_string = (
        f"FairMOT {contract.arch} (reid {contract.reid_dim}, {contract.precision}) exported by "
        f"fairmot_ros {contract.exporter_version}"
    )
    return proto, wrapper


def _reference_outputs(wrapper, contract: ModelContract, feed: np.ndarray) -> list[np.ndarray]:
    """The PyTorch wrapper's outputs for ``feed`` (FP32 network, as a numeric reference)."""
    import torch

    from fairmot_ros.model.deploy import DeployWrapper

    ref_net = copy.deepcopy(wrapper.model).float().eval()
    fp32 = dataclasses.replace(contract, precision="fp32")
    ref = DeployWrapper(ref_net, fp32).eval()
    device = next(ref_net.parameters()).device
    with torch.no_grad():
        outs = ref(torch.from_numpy(feed).to(device))
    return [o.detach().cpu().numpy() for o in outs]


def validate_onnx(
    path: str | os.PathLike,
    contract: ModelContract,
    reference=None,
    providers: Sequence[str] = ("CPUExecutionProvider",),
) -> ValidationReport:
    """Check a written model: onnx.checker, contract metadata, one ORT run, output shapes.

    With ``reference`` (a DeployWrapper) and dense outputs, the ORT outputs are also compared
    with the FP32 PyTorch network and the largest differences reported (heatmap: at the cells
    both kept as peaks). Only malformed, misshaped or non-finite outputs fail validation.
    """
    import onnx
    import onnxruntime as ort

    start = time.perf_counter()
    path = Path(path)
    try:
        onnx.checker.check_model(str(path), full_check=False)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"onnx.checker rejected {path}: {str(exc).splitlines()[0]}") from None
    proto = onnx.load(str(path), load_external_data=False)
    props = {p.key: p.value for p in proto.metadata_props}
    if ModelContract.from_metadata(props, source=str(path)) != contract:
        raise ExportError(f"{path}: metadata does not round-trip to the export contract")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=list(providers))
    batch = contract.batch or 1
    feed = _example_input(contract, batch, seed=1)
    names = [o.name for o in session.get_outputs()]
    if tuple(names) != contract.output_names:
        raise ExportError(f"{path}: outputs {names} differ from {list(contract.output_names)}")
    outputs = session.run(None, {INPUT_NAME: feed})
    k, d = contract.topk, contract.reid_dim
    h, w = contract.output_height, contract.output_width
    expected = (
        {"det_scores": (batch, k), "det_boxes": (batch, k, 4), "det_embeddings": (batch, k, d)}
        if k
        else {
            "heatmap": (batch, 1, h, w),
            "ltrb": (batch, 4, h, w),
            "offset": (batch, 2, h, w),
            "embedding": (batch, d, h, w),
        }
    )
    shapes = {}
    for name, value in zip(names, outputs, strict=True):
        shapes[name] = tuple(value.shape)
        if value.dtype != np.float32 or tuple(value.shape) != expected[name]:
            raise ExportError(
                f"{path}: output {name} is {value.dtype}{tuple(value.shape)}, "
                f"expected float32{expected[name]}"
            )
        if not np.all(np.isfinite(value)):
            raise ExportError(f"{path}: output {name} has non-finite values")
    diffs: dict[str, float] = {}
    if reference is not None and not contract.topk:
        for name, got, want in zip(
            names, outputs, _reference_outputs(reference, contract, feed), strict=True
        ):
            if name == "heatmap":
                # Peak suppression is discontinuous: compare where both kept a peak.
                both = (got > 0) & (want > 0)
                got, want = got[both], want[both]
            diffs[name] = float(np.max(np.abs(got - want))) if got.size else 0.0
    return ValidationReport(
        providers=tuple(session.get_providers()),
        input_shape=tuple(feed.shape),
        output_shapes=shapes,
        max_abs_diff=diffs,
        size_mb=path.stat().st_size / 1e6,
        seconds=time.perf_counter() - start,
    )


def _create_temp_beside(path: Path) -> Path:
    """A new empty file next to ``path`` (same file system, so the final rename is atomic).

    Created like any ordinary file, mode 0666 less the umask, which the kernel applies: unlike
    ``tempfile.mkstemp`` (0600) it lets nodes running as other users read the model, and no
    process-wide umask has to be read and restored."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"no free temporary name beside {path}")


def _check_writable(path: Path) -> None:
    if path.is_dir():
        raise ExportError(f"output path is a directory: {path}")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create output directory {parent}: {exc.strerror}") from None
    if not os.access(parent, os.W_OK):
        raise ExportError(f"output directory is not writable: {parent}")


def export_with_report(
    model,
    path: str | os.PathLike,
    contract: ModelContract,
    opset: int = MIN_OPSET,
    *,
    compare: bool = True,
    quiet: bool = True,
    calibration=None,
    calibration_method: str = "minmax",
) -> tuple[Path, ValidationReport]:
    """:func:`export_onnx`, also returning the validation report (used by the CLI).

    A ``precision="int8"`` contract needs ``calibration`` (a
    :class:`fairmot_ros.quantize.CalibrationSet`): the network is exported in FP32, checked,
    and quantized (:func:`fairmot_ros.quantize.quantize_int8`) before the INT8 file is
    validated and moved into place; the report's differences are then INT8 against the FP32
    PyTorch network.
    """
    import onnx

    if opset < MIN_OPSET:
        raise ExportError(f"opset {opset} is too old: DeformConv needs opset >= {MIN_OPSET}")
    int8 = contract.precision == "int8"
    if int8 and calibration is None:
        raise ExportError("an INT8 export needs calibration frames (--calibration SOURCE)")
    if int8 and contract.topk:
        raise ExportError("INT8 quantization needs dense outputs (--topk 0)")
    _check_model_matches(model, contract)
    path = Path(path)
    _check_writable(path)
    traced = dataclasses.replace(contract, precision="fp32", quantization="") if int8 else contract
    try:
        proto, wrapper = _trace_to_onnx(model, traced, opset, quiet)
    except ExportError:
        raise
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"ONNX export failed: {type(exc).__name__}: {message}") from exc
    temps: list[Path] = []
    try:
        tmp = _create_temp_beside(path)
        temps.append(tmp)
        onnx.save_model(proto, str(tmp))
        if int8:
            from fairmot_ros.quantize import quantize_int8

            validate_onnx(tmp, traced)  # the FP32 graph must be right before it is quantized
            fp32_file, tmp = tmp, _create_temp_beside(path)
            temps.append(tmp)
            contract = quantize_int8(fp32_file, tmp, traced, calibration, calibration_method)
        report = validate_onnx(tmp, contract, reference=wrapper if compare else None)
        os.replace(tmp, path)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)
    return path, report


def export_onnx(model, path: str | os.PathLike, contract: ModelContract, opset: int = 19) -> Path:
    """Export ``model`` (raw-head FairMOT network) to ``path`` following ``contract``.

    The file appears at ``path`` only after ``onnx.checker`` and an ONNX Runtime CPU run have
    accepted it; ExportError otherwise. The caller's model is not modified (FP16 works on a copy).
    """
    written, _ = export_with_report(model, path, contract, opset, compare=False)
    return written


# --------------------------------------------------------------------------------------------
# fairmot-export


def parse_input_size(text: str) -> tuple[int, int]:
    """argparse type for WIDTHxHEIGHT; the networks need multiples of 32 (stride 32)."""
    try:
        w_text, h_text = text.lower().split("x")
        width, height = int(w_text), int(h_text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"input size {text!r} is not WIDTHxHEIGHT") from None
    if width <= 0 or height <= 0 or width % 32 or height % 32:
        raise argparse.ArgumentTypeError(
            f"input size {width}x{height} must be positive multiples of 32 (e.g. 1088x608)"
        )
    return width, height


def int_at_least(text: str, minimum: int, what: str = "value") -> int:
    """argparse type for a bounded integer, with the value named in the one-line error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} {text!r} is not an integer") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{what} {value} must be >= {minimum}")
    return value


def _parse_batch(text: str) -> int:
    """'dynamic' -> 0 (the contract's dynamic batch), else a fixed batch >= 1."""
    return 0 if text.lower() == "dynamic" else int_at_least(text, 1, "batch (or 'dynamic')")


def _non_negative(text: str) -> int:
    return int_at_least(text, 0)


def _positive(text: str) -> int:
    return int_at_least(text, 1)


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line (no usage dump), exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from fairmot_ros.model import ARCHS

    parser = OneLineParser(
        prog="fairmot-export",
        description="Export a FairMOT checkpoint to ONNX (DeformConv opset 19) with its "
        "post-processing and self-describing metadata, validated with ONNX Runtime.",
    )
    parser.add_argument(
        "checkpoint",
        nargs="?",
        help="FairMOT .pth (original container or bare), or a yolov5s .onnx export to export "
        "again (its FP16/FP32 weights, e.g. to make an INT8 file of it)",
    )
    parser.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    parser.add_argument("--arch", default="auto", help=f"auto (default) or one of {ARCHS}")
    parser.add_argument("--reid-dim", type=int, default=None, help="default: from checkpoint")
    parser.add_argument(
        "--input-size",
        type=parse_input_size,
        default=None,
        metavar="WxH",
        help="network input, multiples of 32 (default 1088x608, or an .onnx source's own)",
    )
    parser.add_argument("--fp16", action="store_true", help="FP16 weights/compute, FP32 outputs")
    parser.add_argument(
        "--int8",
        action="store_true",
        help="static INT8 QDQ quantization of the FP32 export (ONNX Runtime's tools): weights "
        "per channel, activations calibrated on --calibration frames; FP32 outputs",
    )
    parser.add_argument(
        "--calibration",
        default=None,
        metavar="SOURCE",
        help="frames for --int8: a sequence as fairmot-eval takes it (PATH[:FIRST-LAST], or "
        "pets:FIRST-LAST within the training frames 1-400)",
    )
    parser.add_argument(
        "--calibration-frames",
        type=_positive,
        default=20,
        metavar="N",
        help="evenly spaced frames of SOURCE used for calibration (default 20)",
    )
    parser.add_argument(
        "--calibration-scales",
        default=None,
        metavar="S,S,...",
        help="also see each calibration frame at these scales, through the fixed centred views "
        "of python -m fairmot_ros.evaluation.scales (e.g. 1,2,3; default 1: the frames as "
        "recorded)",
    )
    parser.add_argument(
        "--calibration-method",
        choices=("minmax", "entropy", "percentile"),
        default="minmax",
        help="activation range estimate (default minmax)",
    )
    parser.add_argument(
        "--uint8-input",
        action="store_true",
        help="take the letterboxed uint8 BGR NHWC image; conversion happens in the graph",
    )
    parser.add_argument(
        "--batch", type=_parse_batch, default=0, metavar="dynamic|N", help="default dynamic"
    )
    parser.add_argument(
        "--topk",
        type=_non_negative,
        default=0,
        metavar="K",
        help="select the K best peaks in the graph (0 = dense outputs, the default)",
    )
    parser.add_argument("--opset", type=int, default=MIN_OPSET, help="ONNX opset (>= 19)")
    parser.add_argument(
        "--random-weights",
        metavar="ARCH",
        default=None,
        help="export a freshly initialised ARCH instead of a checkpoint (tests, benchmarks)",
    )
    parser.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="allow full unpickling of checkpoints that hold more than tensors",
    )
    parser.add_argument(
        "--no-compare",
        action="store_true",
        help="skip the PyTorch-vs-ONNX Runtime comparison during validation (faster)",
    )
    parser.add_argument("--name", default=None, help="model_name metadata (default: file stem)")
    return parser


def _load_network(args: argparse.Namespace):
    from fairmot_ros.model import build_model, canonical_arch
    from fairmot_ros.model.checkpoint import load_checkpoint

    if args.random_weights is not None:
        if args.checkpoint is not None:
            raise ExportError("give either CHECKPOINT or --random-weights ARCH, not both")
        import torch

        torch.manual_seed(0)
        arch = canonical_arch(args.random_weights)
        model = build_model(arch, reid_dim=args.reid_dim).eval()
        return model, "random_" + arch
    if args.checkpoint is None:
        raise ExportError("no CHECKPOINT given (or use --random-weights ARCH)")
    if Path(args.checkpoint).suffix.lower() == ".onnx":
        return _load_exported(args)
    arch = None if args.arch.lower() == "auto" else canonical_arch(args.arch)
    model, _ = load_checkpoint(args.checkpoint, arch, args.reid_dim, trusted=args.trust_checkpoint)
    return model, Path(args.checkpoint).stem


def _load_exported(args: argparse.Namespace):
    """The network of an exported file (:mod:`fairmot_ros.model.recover`: its weights with
    every BatchNorm as the folded bias, so the eval-mode function is the file's); the file's
    input size becomes the default."""
    import onnx

    from fairmot_ros.contract import ContractError
    from fairmot_ros.model import build_model, canonical_arch
    from fairmot_ros.model.recover import load_exported_weights

    path = Path(args.checkpoint)
    if not path.is_file():
        raise ExportError(f"checkpoint not found: {path}")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - onnx raises DecodeError, OSError, ...
        raise ExportError(f"{path} is not a readable ONNX model ({exc})") from None
    props = {p.key: p.value for p in proto.metadata_props}
    contract = ModelContract.from_metadata(props, source=str(path))
    if contract.precision == "int8":
        raise ContractError(f"{path} is quantized already; export from its FP16/FP32 file")
    if args.arch.lower() != "auto" and canonical_arch(args.arch) != contract.arch:
        raise ContractError(f"{path} is an export of {contract.arch}, not {args.arch}")
    if args.reid_dim is not None and args.reid_dim != contract.reid_dim:
        raise ContractError(f"{path} has reid_dim {contract.reid_dim}, not {args.reid_dim}")
    model = build_model(contract.arch, reid_dim=contract.reid_dim).eval()
    load_exported_weights(model, path, contract.arch)
    if args.input_size is None:
        args.input_size = (contract.input_width, contract.input_height)
    args.uint8_input = args.uint8_input or contract.input_format == INPUT_UINT8_BGR_NHWC
    return model, contract.model_name or path.stem


def main(argv: Sequence[str] | None = None) -> int:
    """``fairmot-export``: checkpoint -> validated ONNX; one-line errors, non-zero exit."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from fairmot_ros.contract import ContractError
    from fairmot_ros.model.checkpoint import CheckpointError

    try:
        if args.opset < MIN_OPSET:
            raise ExportError(f"--opset {args.opset}: DeformConv needs opset >= {MIN_OPSET}")
        if args.int8 and args.fp16:
            raise ExportError("--int8 and --fp16 exclude each other (INT8 starts from FP32)")
        if args.int8 and args.calibration is None:
            raise ExportError("--int8 needs --calibration SOURCE (frames from training data)")
        if args.calibration is not None and not args.int8:
            raise ExportError("--calibration is for --int8 exports")
        if args.calibration_scales is not None and not args.int8:
            raise ExportError("--calibration-scales is for --int8 exports")
        from fairmot_ros.quantize import (
            DEFAULT_CALIBRATION_SCALES,
            calibration_frames,
            parse_calibration_scales,
        )

        scales = DEFAULT_CALIBRATION_SCALES
        if args.calibration_scales is not None:  # checked before the network is loaded
            scales = parse_calibration_scales(args.calibration_scales)
        output = Path(args.output)
        _check_writable(output)
        model, stem = _load_network(args)
        width, height = args.input_size or DEFAULT_INPUT_SIZE
        contract = ModelContract(
            arch=model.arch,
            input_height=height,
            input_width=width,
            reid_dim=model.reid_dim,
            input_format=INPUT_UINT8_BGR_NHWC if args.uint8_input else INPUT_FLOAT_RGB_NCHW,
            topk=args.topk,
            precision="int8" if args.int8 else "fp16" if args.fp16 else "fp32",
            batch=args.batch,
            model_name=args.name or stem,
        )
        calibration = None
        if args.int8:
            calibration = calibration_frames(args.calibration, args.calibration_frames, contract,
                                             scales)  # fmt: skip
        path, report = export_with_report(
            model, output, contract, args.opset, compare=not args.no_compare,
            calibration=calibration, calibration_method=args.calibration_method,
        )  # fmt: skip
    except (CheckpointError, ContractError, ExportError, ValueError) as exc:
        print(f"fairmot-export: error: {exc}", file=sys.stderr)
        return 1
    outputs = ", ".join(
        f"{name} {'x'.join(map(str, shape))}" for name, shape in report.output_shapes.items()
    )
    diff = ""
    if report.max_abs_diff and calibration is not None:  # INT8: per output, they differ a lot
        diff = "; max |ORT - torch| " + ", ".join(
            f"{name} {value:.2g}" for name, value in report.max_abs_diff.items())
    elif report.max_abs_diff:
        diff = f"; max |ORT - torch| {max(report.max_abs_diff.values()):.2g}"
    batch = "dynamic" if contract.batch == 0 else str(contract.batch)
    if calibration is not None:
        diff += f"; INT8 {args.calibration_method} calibration on {calibration.describe()}"
    print(
        f"fairmot-export: wrote {path} ({report.size_mb:.1f} MB): {contract.arch} reid "
        f"{contract.reid_dim} {contract.precision}, input {contract.input_format} "
        f"{width}x{height} batch {batch}; outputs {outputs}; validated with onnx.checker and "
        f"onnxruntime {'/'.join(report.providers)}{diff}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
