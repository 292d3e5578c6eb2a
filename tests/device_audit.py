"""Device audit: shows on a CPU-only machine where code would break with its model on a GPU.

On CUDA, an op that mixes a GPU tensor with a CPU tensor raises, and so does ``.numpy()`` of a GPU
tensor. The development machines and CI have no GPU, so everything lives on the CPU and those bugs
stay silent until a user runs the app on a GPU. ``DeviceAudit`` pretends the given modules live on
another device: it tags their parameters and buffers as *placed*, carries the tag through every
torch function and Tensor method while it is active (a ``TorchFunctionMode``), and records every op
that CUDA would refuse. Ops run exactly as they would without it, so the audio does not change.

    with DeviceAudit(engine.model) as audit:
        engine.synthesize("Hello there.")
    assert audit.violations == [], audit.report()

Placed: the modules' parameters and buffers at entry (and those of any module moved with ``.to(device)``
/ ``.cuda()`` during the audit); the result of an op with a placed operand; ``t.to(device)`` /
``t.cuda()`` / ``t.to(placed_tensor)``; a factory given ``device=`` (``torch.zeros(..., device=d)``),
``*_like`` and ``new_*`` of a placed tensor. Unplaced: everything else (``torch.from_numpy``, factories
without a device, ``.cpu()``, ``.to("cpu")``).

A device is judged by where it comes from: ``t.device`` read during the audit is the model's device when
``t`` is placed, the host otherwise. A device string is the host when it says "cpu" (so is
``str(model.device)`` here: pass the ``torch.device``). Any other ``torch.device`` of type "cpu" (built
with ``torch.device(...)``, or read before the audit began) is the model's when product code passes it,
the host when torch's own code does (torch.load). So write ``.to(model.device)``, ``.to(x.device)`` or
``device=x.device``, as device-clean code does anyway, and "cpu" / ``.cpu()`` for the host.

Limits: only the thread that entered the audit is watched (torch function modes are per thread); code
behind a CPU-only branch (``if x.device.type == "cpu"``) runs here as on a CPU, so audit the
configuration a GPU would run (no int8 kernels, no compiled CPU kernels); autograd's backward pass is
not seen (it runs outside torch functions; gradients land on their leaf's device anyway).
"""

from __future__ import annotations

import functools
import itertools
import sys
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Iterator

import torch
from torch import nn
from torch.overrides import TorchFunctionMode, resolve_name
from torch.utils.weak import WeakTensorKeyDictionary

_ROOT = Path(__file__).resolve().parent.parent
_PRODUCT = _ROOT / "indextts"  # violations are reported at the innermost frame in here
_TORCH = Path(torch.__file__).resolve().parent
_HERE = Path(__file__).resolve()

# `t.device` reaches the mode as this descriptor's bound __get__.
_DEVICE_DESCRIPTOR = torch.Tensor.device
# On CUDA, .numpy() raises; np.asarray(t) goes through __array__, which calls .numpy().
_TO_NUMPY = {torch.Tensor.numpy, torch.Tensor.__array__}
_MOVES = {torch.Tensor.to, torch.Tensor.cpu, torch.Tensor.cuda, torch.Tensor.type_as}
# Indexing: the position of the index argument. CUDA accepts CPU index tensors into a GPU tensor
# (they are copied over), so unplaced index tensors never count; placed ones into an unplaced tensor do
# (CUDA indices into a CPU tensor raise), except 0-dim ones, which index as plain integers.
_INDEXING = {torch.Tensor.__getitem__: 1, torch.Tensor.__setitem__: 1, torch.Tensor.index_put_: 1,
             torch.Tensor.index_put: 1, torch.index_put_: 1, torch.index_put: 1}
# Tensors built from data: the result is where the data (torch.tensor(t)) or self (t.new_zeros(n)) is;
# their other tensor arguments are values copied in, not operands, so nothing is mixed.
_FROM_DATA = {torch.tensor, torch.as_tensor, torch.asarray, torch.Tensor.new_tensor, torch.Tensor.new_zeros,
              torch.Tensor.new_ones, torch.Tensor.new_full, torch.Tensor.new_empty}


class DeviceAudit(TorchFunctionMode):
    """Tags the given modules' parameters and buffers as 'placed' (on the model's device) and fails on
    any op that mixes placed and unplaced non-scalar tensors, and on .numpy() of a placed tensor.

    ``violations`` lists each distinct finding once, as "op: what at indextts/path.py:LINE (function)"
    (the innermost product frame; the innermost frame outside torch when no product code is on the
    stack); ``traces`` maps each to the product frames of its first occurrence, innermost first."""

    def __init__(self, *modules: nn.Module) -> None:
        super().__init__()
        self.violations: list[str] = []
        self.traces: dict[str, list[str]] = {}
        self._modules = modules
        # Tags live beside the tensors, not on them: a weak-keyed dictionary by object identity frees
        # its entries with their tensors (ids are reused), and pickling a tensor does not see it.
        self._placed: WeakTensorKeyDictionary = WeakTensorKeyDictionary()
        # Each `t.device` read returns a fresh torch.device: remember which tensor each came from
        # (kept alive until exit, so an id is never reused while it is in here).
        self._devices: dict[int, tuple[torch.device, bool]] = {}
        self._module_moves = 0  # > 0 while nn.Module.to/cuda/cpu runs (their tensors are tagged after)
        self._saved_module_methods: dict[str, Callable[..., Any]] = {}

    # ------------------------------------------------------------------ public
    def is_placed(self, tensor: torch.Tensor) -> bool:
        """Whether ``tensor`` counts as living on the model's device."""
        return tensor in self._placed

    def report(self) -> str:
        """The violations, each with the product frames that led to it (for assertion messages)."""
        if not self.violations:
            return "no device violations"
        lines = [f"{len(self.violations)} device violation(s):"]
        for violation in self.violations:
            lines.append(f"  {violation}")
            callers = self.traces[violation][1:5]
            if callers:
                lines.append(f"      called from {' <- '.join(callers)}")
        return "\n".join(lines)

    def __enter__(self) -> "DeviceAudit":
        for module in self._modules:
            for tensor in itertools.chain(module.parameters(), module.buffers()):
                self._set(tensor, True)
        self._patch_module_moves()
        super().__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            super().__exit__(*exc_info)
        finally:
            for name, method in self._saved_module_methods.items():
                setattr(nn.Module, name, method)
            self._saved_module_methods.clear()
            self._devices.clear()

    # ------------------------------------------------------------------ the mode
    def __torch_function__(self, func: Callable[..., Any], types: Any, args: tuple = (),
                           kwargs: dict | None = None) -> Any:
        # Called with this mode popped: the torch calls made in here are not audited.
        kwargs = kwargs or {}
        if func in _TO_NUMPY:
            if self.is_placed(args[0]):
                self._record(func, "numpy() of a placed tensor")
            return func(*args, **kwargs)
        if getattr(func, "__self__", None) is _DEVICE_DESCRIPTOR:
            device = func(*args, **kwargs)
            self._devices[id(device)] = (device, self.is_placed(args[0]))
            return device
        if func in _MOVES and not self._module_moves:
            return self._move(func, args, kwargs)
        inputs = {id(t) for arg in itertools.chain(args, kwargs.values()) for t, _ in _tensors(arg)}
        if kwargs.get("device") is not None:  # a factory told where to put its result
            result = func(*args, **kwargs)
            self._tag(result, self._device_is_placed(kwargs["device"]), inputs)
            return result
        mixed, placed = self._judge(func, args, kwargs)
        if mixed:
            self._record(func, "placed+unplaced")
        result = func(*args, **kwargs)
        # A mixed op would have raised on CUDA; its result counts as placed (as if the operands had been
        # moved), so the report lists the causes rather than every op downstream of them.
        self._tag(result, placed, inputs)
        return result

    def _judge(self, func: Callable[..., Any], args: tuple, kwargs: dict) -> tuple[bool, bool]:
        """(mixes placed and unplaced tensors, result is placed)."""
        if func in _FROM_DATA:
            source = args[0] if args else kwargs.get("data")
            return False, isinstance(source, torch.Tensor) and self.is_placed(source)
        index_at = _INDEXING.get(func)
        operands = [(arg, i == index_at) for i, arg in enumerate(args)]
        operands += [(arg, index_at is not None and key == "indices") for key, arg in kwargs.items()]
        placed_seen = unplaced_seen = False
        for arg, is_index in operands:
            for tensor, nested in _tensors(arg):
                placed = self.is_placed(tensor)
                if is_index and (not placed or tensor.dim() == 0):
                    continue
                # CUDA ops take a CPU 0-dim tensor beside GPU tensors (as a number), but not inside a
                # tensor list (torch.stack/cat), and never a GPU 0-dim tensor beside CPU tensors.
                if not placed and not nested and tensor.dim() == 0:
                    continue
                placed_seen |= placed
                unplaced_seen |= not placed
        return placed_seen and unplaced_seen, placed_seen

    def _move(self, func: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        """Tensor.to / .cpu / .cuda / .type_as: the result is where it was sent."""
        source = args[0]
        result = func(*args, **kwargs)
        if func is torch.Tensor.cpu:
            target: bool | None = False
        elif func is torch.Tensor.cuda:
            target = True
        elif func is torch.Tensor.type_as:  # x.type_as(other) takes other's tensor type: its device too
            target = self.is_placed(args[1])
        else:
            target = self._target(args[1:], kwargs)
        if target is None:  # a dtype or memory-format change: stays where it was
            self._tag(result, self.is_placed(source), {id(source)})
            return result
        if result is source and target != self.is_placed(source):
            # Here the tensor is already on the CPU and comes back as itself; retagging it would move the
            # caller's tensor too. A real transfer returns a copy (a non-leaf for autograd): so does this.
            result = source.clone()
        if result is not source:
            self._set(result, target)
        return result

    # ------------------------------------------------------------------ devices and modules
    def _target(self, args: tuple, kwargs: dict) -> bool | None:
        """Whether a move's destination is the model's device; None when no device is given."""
        device = kwargs.get("device")
        if device is None:
            for arg in args:
                if isinstance(arg, torch.Tensor):  # x.to(other): to other's device
                    return self.is_placed(arg)
                if isinstance(arg, (str, torch.device)) or (isinstance(arg, int) and not isinstance(arg, bool)):
                    device = arg
                    break
        return None if device is None else self._device_is_placed(device)

    def _device_is_placed(self, device: torch.device | str | int) -> bool:
        if isinstance(device, torch.device):
            seen = self._devices.get(id(device))
            if seen is not None and seen[0] is device:
                return seen[1]
            # Not read from a tensor during the audit. Built by product code (torch.device(model.device),
            # model.device read before the audit began), it is the model's: the product names the host
            # "cpu" or .cpu(). Built by torch itself (torch.load rebuilds each tensor on its storage's
            # device), it says where data already is: the host, for whatever the audit did not tag.
            return device.type != "cpu" or _caller_kind() != "torch"
        if isinstance(device, str):
            return torch.device(device).type != "cpu"
        return True  # an int is a CUDA ordinal

    def _patch_module_moves(self) -> None:
        """nn.Module.to/cuda/cpu tag the moved module's tensors (restored on exit). Module.to swaps each
        parameter's .data and keeps the Parameter object, but replaces buffers: tag after the move."""
        for name, fixed_target in (("to", None), ("cuda", True), ("cpu", False)):
            original = nn.Module.__dict__[name]
            self._saved_module_methods[name] = original
            setattr(nn.Module, name, self._module_move(original, fixed_target))

    def _module_move(self, original: Callable[..., Any], fixed_target: bool | None) -> Callable[..., Any]:
        audit = self

        @functools.wraps(original)
        def move(module: nn.Module, *args: Any, **kwargs: Any) -> Any:
            audit._module_moves += 1
            try:
                result = original(module, *args, **kwargs)
            finally:
                audit._module_moves -= 1
            target = fixed_target if fixed_target is not None else audit._target(args, kwargs)
            if target is not None:
                for tensor in itertools.chain(module.parameters(), module.buffers()):
                    audit._set(tensor, target)
            return result

        return move

    # ------------------------------------------------------------------ tags and findings
    def _set(self, tensor: torch.Tensor, placed: bool) -> None:
        if placed:
            self._placed[tensor] = True
        else:
            self._placed.pop(tensor, None)

    def _tag(self, result: Any, placed: bool, inputs: set[int]) -> None:
        """Tag the tensors an op returned; an input returned as itself (in-place ops, no-op
        conversions) keeps its own tag."""
        for tensor, _ in _tensors(result):
            if id(tensor) not in inputs:
                self._set(tensor, placed)

    def _record(self, func: Callable[..., Any], what: str) -> None:
        where, product_frames = _locate(sys._getframe(1))
        violation = f"{_op_name(func)}: {what} at {where}"
        if violation not in self.traces:
            self.traces[violation] = product_frames
            self.violations.append(violation)


def _tensors(obj: Any, nested: bool = False) -> Iterator[tuple[torch.Tensor, bool]]:
    """The tensors in an argument or result (inside lists, tuples and dict values), each with whether it
    sat inside such a container."""
    if isinstance(obj, torch.Tensor):
        yield obj, nested
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _tensors(item, True)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _tensors(item, True)


def _op_name(func: Callable[..., Any]) -> str:
    name = resolve_name(func)
    if name:
        return name
    return f"{getattr(func, '__module__', None) or 'torch'}.{getattr(func, '__qualname__', repr(func))}"


@functools.lru_cache(maxsize=None)
def _place(filename: str) -> tuple[str, str]:
    """(kind, shown path) of a source file: kind 'product', 'torch', 'audit' or 'other'."""
    path = Path(filename).resolve()
    if path == _HERE:
        return "audit", filename
    if path.is_relative_to(_PRODUCT):
        return "product", path.relative_to(_ROOT).as_posix()
    if path.is_relative_to(_TORCH):
        return "torch", filename
    return "other", path.relative_to(_ROOT).as_posix() if path.is_relative_to(_ROOT) else filename


def _caller_kind() -> str:
    """The kind of the innermost frame outside this module: who asked for the op being audited."""
    frame = sys._getframe(1)
    while frame is not None and _place(frame.f_code.co_filename)[0] == "audit":
        frame = frame.f_back
    return _place(frame.f_code.co_filename)[0] if frame is not None else "other"


def _locate(frame: FrameType | None) -> tuple[str, list[str]]:
    """(where to report: the innermost product frame, else the innermost frame outside torch and this
    module; every product frame on the stack, innermost first)."""
    product: list[str] = []
    outside: str | None = None
    while frame is not None:
        kind, shown = _place(frame.f_code.co_filename)
        text = f"{shown}:{frame.f_lineno} ({frame.f_code.co_name})"
        if kind == "product":
            product.append(text)
        elif kind == "other" and outside is None:
            outside = text
        frame = frame.f_back
    return (product[0] if product else outside or "<unknown>"), product
