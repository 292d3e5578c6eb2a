"""Kokoro-82M int8 ONNX -> float32 tensors named like kokoro 0.9.4's KModel.

Weights are attributed by the graph, not by initializer names: each weight
belongs to the module whose scope names the node that consumes it (many
weights are anonymous, `onnx::MatMul_6548_3`, and zero points were
de-duplicated across unrelated layers). Scales and zero points are read from
the consuming node's inputs. See shared/KOKORO_ONNX.md sections 2-4.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import numpy_helper

from .errors import WeightsError

log = logging.getLogger(__name__)

CONVERTER_ID = "indextts.weights.onnx_dequant/1"  # bump when the output bytes change
# Scopes directly under /encoder/ that are predictor submodules (F0Ntrain is
# a method of the predictor, so its calls carry no `predictor` scope).
_PREDICTOR_SCOPES = re.compile(r"^(F0\.\d+|N\.\d+|F0_proj|N_proj|shared)$")
# Folded weight norm: the Mul that computed g*v/|v| names the weight.
_FOLDED_WEIGHT = re.compile(r"^/.+/Mul(_\d+)?_output_0(_quantized)?$")
# The exporter's own iSTFT (basis, window sum): not kokoro parameters.
_IGNORED_PREFIXES = ("decoder.decoder.generator.stft.",)
# LSTM gate blocks: ONNX i,o,f,c -> PyTorch i,f,g(=c),o.
_GATE_ORDER = (0, 2, 3, 1)


class ConversionError(WeightsError):
    """The ONNX graph does not look like the Kokoro export this code knows."""


@dataclass
class _Graph:
    """Initializers as lazily converted numpy arrays, plus node producers."""

    model: onnx.ModelProto
    inits: dict[str, onnx.TensorProto] = field(init=False)
    producer: dict[str, onnx.NodeProto] = field(init=False)
    _arrays: dict[str, np.ndarray] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.inits = {t.name: t for t in self.model.graph.initializer}
        self.producer = {out: n for n in self.model.graph.node for out in n.output}

    def array(self, name: str) -> np.ndarray:
        if name not in self._arrays:
            if name not in self.inits:
                raise ConversionError(f"initializer '{name}' not found")
            self._arrays[name] = numpy_helper.to_array(self.inits[name])
        return self._arrays[name]

    def is_init(self, name: str) -> bool:
        return name in self.inits


def torch_key(onnx_name: str) -> str:
    """`encoder.X` -> `X`; `decoder.decoder.X` -> `decoder.X` (export wrapper names)."""
    if onnx_name.startswith("encoder."):
        return onnx_name[len("encoder."):]
    if onnx_name.startswith("decoder.decoder."):
        return "decoder." + onnx_name[len("decoder.decoder."):]
    raise ConversionError(f"unexpected initializer name '{onnx_name}'")


def module_from_scope(node_name: str) -> str:
    """KModel module path of the node's scope, e.g.
    `/encoder/text_encoder/cnn.0/cnn.0.0/Conv_quant` -> `text_encoder.cnn.0.0`."""
    parts: list[str] = []
    for part in node_name.strip("/").split("/")[:-1]:  # last part names the op
        part = re.sub(r"_\d+$", "", part)  # query_3 = 4th call of the shared ALBERT layer
        if parts and part.startswith(parts[-1] + "."):
            parts[-1] = part  # nn.Sequential scopes repeat the parent: cnn.0/cnn.0.0
        else:
            parts.append(part)
    if parts[:1] == ["encoder"] and len(parts) > 1:
        rest = parts[1:]
        return ".".join((["predictor"] if _PREDICTOR_SCOPES.match(rest[0]) else []) + rest)
    if parts[:2] == ["decoder", "decoder"] and len(parts) > 2:
        return ".".join(["decoder"] + parts[2:])
    raise ConversionError(f"cannot map node scope '{node_name}' to a module")


def _dequant(q: np.ndarray, zero_point: np.ndarray, scale: np.ndarray) -> np.ndarray:
    # (q - zp) is exact in int32; one float32 multiply as the runtime does.
    centered = q.astype(np.int32) - zero_point.astype(np.int32)
    return centered.astype(np.float32) * scale.astype(np.float32)


def _linear_int8(g: _Graph, node: onnx.NodeProto) -> tuple[str, dict[str, np.ndarray]]:
    # MatMulInteger: B int8 [in,out], per-output-channel scale/zp; Linear wants [out,in].
    name = node.input[1]
    scale = g.array(name.removesuffix("_quantized") + "_scale")
    w = _dequant(g.array(name), g.array(node.input[3]), scale)
    return name, {"weight": np.ascontiguousarray(w.T)}


def _conv_uint8(g: _Graph, node: onnx.NodeProto) -> tuple[str, dict[str, np.ndarray]]:
    # ConvInteger: W uint8 [out,in,k], one scale and one zp for the tensor.
    # The zp MUST come from input 3: names were de-duplicated by value.
    name = node.input[1]
    scale = g.array(name.removesuffix("_quantized") + "_scale")
    zero_point = g.array(node.input[3])
    if scale.size != 1 or zero_point.size != 1:
        raise ConversionError(f"{node.name}: expected per-tensor conv quantization")
    return name, {"weight": _dequant(g.array(name), zero_point, scale)}


def _float_weight(g: _Graph, node: onnx.NodeProto) -> tuple[str, dict[str, np.ndarray]]:
    # Conv/ConvTranspose keep PyTorch layouts; MatMul [in,out] is transposed.
    w = g.array(node.input[1]).astype(np.float32)
    return node.input[1], {"weight": np.ascontiguousarray(w.T) if node.op_type == "MatMul" else w}


def _reorder_gates(x: np.ndarray) -> np.ndarray:
    blocks = np.split(x, 4, axis=-1)
    return np.concatenate([blocks[i] for i in _GATE_ORDER], axis=-1)


def _lstm(g: _Graph, node: onnx.NodeProto) -> tuple[str, dict[str, np.ndarray]]:
    # DynamicQuantizeLSTM inputs: X W R B seq h0 c0 P W_scale W_zp R_scale R_zp.
    # W [dir,in,4H] and R [dir,H,4H] are stored transposed w.r.t. torch.
    w = _dequant(g.array(node.input[1]), g.array(node.input[9])[:, None, None], g.array(node.input[8])[:, None, None])
    r = _dequant(g.array(node.input[2]), g.array(node.input[11])[:, None, None], g.array(node.input[10])[:, None, None])
    b = g.array(node.input[3]).astype(np.float32)
    hidden4 = w.shape[-1]
    params: dict[str, np.ndarray] = {}
    for d, suffix in enumerate(("_l0", "_l0_reverse")):
        params["weight_ih" + suffix] = np.ascontiguousarray(_reorder_gates(w[d]).T)
        params["weight_hh" + suffix] = np.ascontiguousarray(_reorder_gates(r[d]).T)
        params["bias_ih" + suffix] = _reorder_gates(b[d, :hidden4])
        params["bias_hh" + suffix] = _reorder_gates(b[d, hidden4:])
    return node.input[1], params


def _embedding(g: _Graph, node: onnx.NodeProto) -> tuple[str, dict[str, np.ndarray]] | None:
    # Gather(int8 table) -> DequantizeLinear(scale, zp): dequantize the table.
    gather = g.producer.get(node.input[0])
    if gather is None or gather.op_type != "Gather" or not g.is_init(gather.input[0]):
        return None
    name = gather.input[0]
    return name, {"weight": _dequant(g.array(name), g.array(node.input[2]), g.array(node.input[1]))}


_Handler = Callable[[_Graph, onnx.NodeProto], "tuple[str, dict[str, np.ndarray]] | None"]
_HANDLERS: dict[str, _Handler] = {
    "MatMulInteger": _linear_int8,
    "ConvInteger": _conv_uint8,
    "Conv": _float_weight,
    "ConvTranspose": _float_weight,
    "MatMul": _float_weight,
    "DynamicQuantizeLSTM": _lstm,
    "DequantizeLinear": _embedding,
}


def _weight_input(node: onnx.NodeProto) -> str:
    return node.input[0] if node.op_type == "DequantizeLinear" else node.input[1]


def _has_weight(g: _Graph, node: onnx.NodeProto) -> bool:
    if node.op_type not in _HANDLERS or len(node.input) < 2:
        return False
    if node.op_type == "DequantizeLinear":
        return True  # checked by _embedding through its producer
    name = node.input[1]
    return g.is_init(name) and not name.startswith(_IGNORED_PREFIXES)


def _check_named(weight_name: str, module: str) -> None:
    # Named weights must agree with the scope attribution (guards the mapping).
    if weight_name.startswith("/") or weight_name.startswith("onnx::"):
        return
    key = torch_key(weight_name.removesuffix("_quantized"))
    if key != f"{module}.weight":
        raise ConversionError(f"'{weight_name}' is consumed by module '{module}'")


def _collect_weights(g: _Graph) -> dict[str, tuple[str, dict[str, np.ndarray]]]:
    """weight initializer name -> (module path, params), one per distinct weight."""
    found: dict[str, tuple[str, dict[str, np.ndarray]]] = {}
    for node in g.model.graph.node:
        if not _has_weight(g, node):
            continue
        name = _weight_input(node)
        if node.op_type == "DequantizeLinear":
            gather = g.producer.get(name)
            name = gather.input[0] if gather is not None and gather.input else name
        module = module_from_scope(node.name)
        if name in found:
            if found[name][0] != module:
                raise ConversionError(f"'{name}' used by '{found[name][0]}' and '{module}'")
            continue  # shared ALBERT layer: same weight, 12 nodes
        result = _HANDLERS[node.op_type](g, node)
        if result is not None:
            _check_named(name, module)
            found[name] = (module, result[1])
    return found


def split_weight_norm(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Undo folded weight norm: v = w, g = |w| over all dims but 0 (float64 math).

    Rows that are exactly zero (uint8 rounding zeroed 94 output channels) get
    v = 1, g = 0, so g * v / |v| is 0 instead of 0/0 = NaN.
    """
    rows = np.ascontiguousarray(w.reshape(w.shape[0], -1), dtype=np.float64)
    norm = np.sqrt(np.sum(rows * rows, axis=1))
    zero = norm == 0.0
    g = norm.astype(np.float32).reshape((w.shape[0],) + (1,) * (w.ndim - 1))
    v = w.astype(np.float32, copy=True)
    v[zero] = 1.0
    return g, v, int(zero.sum())


def _module_tensors(weight_name: str, module: str, params: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
    if weight_name.startswith("/"):
        if not _FOLDED_WEIGHT.match(weight_name):
            raise ConversionError(f"unrecognised folded weight '{weight_name}'")
        g, v, zeros = split_weight_norm(params["weight"])
        return {f"{module}.weight_g": g, f"{module}.weight_v": v}, zeros
    return {f"{module}.{k}": v for k, v in params.items()}, 0


def _named_floats(g: _Graph, consumed: set[str]) -> dict[str, np.ndarray]:
    """Biases, norms, Snake alphas...: float initializers named by module path."""
    out: dict[str, np.ndarray] = {}
    for name, proto in g.inits.items():
        named = name.startswith("encoder.") or name.startswith("decoder.decoder.")
        if (not named or proto.data_type != onnx.TensorProto.FLOAT or name in consumed
                or name.endswith("_scale") or name.startswith(_IGNORED_PREFIXES)):
            continue
        out[torch_key(name)] = g.array(name).astype(np.float32)
    return out


def _adain_affine(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    # AdaIN1d's InstanceNorm1d(affine=True) is identity-initialised and the
    # export dropped it. DurationEncoder's AdaLayerNorm has no such norm.
    out: dict[str, np.ndarray] = {}
    for key, w in tensors.items():
        if key.endswith(".fc.weight") and not key.startswith("predictor.text_encoder."):
            prefix, channels = key[: -len("fc.weight")], w.shape[0] // 2
            out[prefix + "norm.weight"] = np.ones(channels, np.float32)
            out[prefix + "norm.bias"] = np.zeros(channels, np.float32)
    return out


def _merge(into: dict[str, np.ndarray], new: dict[str, np.ndarray]) -> None:
    clash = sorted(set(into) & set(new))
    if clash:
        raise ConversionError(f"duplicate tensors: {clash[:5]}")
    into.update(new)


def convert_model(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Float32 state dict (KModel names, minus bert.pooler) from the int8 ONNX."""
    g = _Graph(model)
    weights = _collect_weights(g)
    tensors: dict[str, np.ndarray] = {}
    zero_channels = 0
    for name, (module, params) in weights.items():
        module_tensors, zeros = _module_tensors(name, module, params)
        _merge(tensors, module_tensors)
        zero_channels += zeros
    _merge(tensors, _named_floats(g, set(weights)))
    _merge(tensors, _adain_affine(tensors))
    _check_finite(tensors)
    log.info("converted %d weights into %d tensors (%d zero weight-norm channels)",
             len(weights), len(tensors), zero_channels)
    return tensors


def _check_finite(tensors: dict[str, np.ndarray]) -> None:
    bad = sorted(k for k, v in tensors.items() if not np.isfinite(v).all())
    if bad:
        raise ConversionError(f"non-finite values in {bad[:5]}")


def convert_onnx_file(path: Path) -> dict[str, np.ndarray]:
    """Load the ONNX file and convert it (see convert_model)."""
    return convert_model(onnx.load(str(path)))
