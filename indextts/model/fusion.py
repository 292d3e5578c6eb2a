"""Optional torch.compile of the vocoder's elementwise chains, for inference (CPU: inductor's C++
kernels; CUDA: Triton, where a GPU is launch-bound at batch 1 by these short kernels).

In eager mode each op of a chain such as norm -> affine -> Snake or range -> quantize is one pass
over the signal (4800 steps per second of audio, 128 channels); compiled, a chain is one or two
loops. Functions marked ``@fusable`` run compiled once ``enable()`` was called, on CPU or CUDA, without
autograd (the voice fitter stays eager); anything else, or a failure to compile (no C++
compiler), runs the plain function. Compiling costs ~10-30 s on a fresh machine, ~4 s from
the on-disk kernel cache; the engine's warm-up pays it.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Callable, TypeVar

import torch

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., object])
_state = {"enabled": False}
COMPILED_DEVICES = ("cpu", "cuda")
RECOMPILE_LIMIT = 32  # compiled variants kept per fused function (see ``enable``)


def enable(cache_dir: Path | None = None) -> None:
    """Compile ``@fusable`` functions from now on; ``cache_dir`` keeps the compiled kernels (unless
    TORCHINDUCTOR_CACHE_DIR is set): inductor's default is under /tmp, lost at every reboot."""
    if cache_dir is not None:
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir))
    # One compiled variant per input layout, and a function meets several: quantize_uint8 takes ALBERT's rows
    # (2-D), the decoder blocks' channels-first signals and the generator's channels-last ones, each made in
    # inference mode (speech) or under no_grad (a fit's judged renders), a different guard. Past dynamo's
    # default limit of 8 the rest would run eager, with a warning in the log.
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
    _state["enabled"] = True


def compiles(x: torch.Tensor) -> bool:
    """Whether a ``@fusable`` function given ``x`` runs compiled: enabled, CPU or CUDA, no autograd
    (the voice fitter's gradients go through the plain function)."""
    return _state["enabled"] and x.device.type in COMPILED_DEVICES and not torch.is_grad_enabled()


def fusable(fn: F) -> F:
    """Mark a pure tensor function (first argument a tensor) for compilation."""
    compiled: list[Callable[..., object]] = []

    @functools.wraps(fn)
    def run(x: torch.Tensor, *args: object) -> object:
        if compiles(x):
            if not compiled:
                compiled.append(torch.compile(fn, dynamic=True))
            try:
                return compiled[0](x, *args)
            except Exception:  # e.g. no C++ compiler: stay eager from now on
                log.warning("compiled vocoder kernels unavailable; running eager", exc_info=True)
                _state["enabled"] = False
        return fn(x, *args)

    return run  # type: ignore[return-value]
