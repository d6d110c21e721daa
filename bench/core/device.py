"""Where and in what precision a trial computes: the device, the arithmetic precision, the inference batch.

``precision`` is part of a trial's identity (it changes the numbers):
  fp32  plain float32 with contiguous (NCHW) tensors: the CPU path every trial before the setting existed
        ran, exactly as it was;
  bf16  bfloat16 autocast (weights and accumulation in float32, convolutions and matrix products in bf16)
        with channels_last memory: what the CUDA path always ran, and on a CPU with native bf16
        instructions (AVX512-BF16 or AMX) about twice the fp32 speed. On a CPU its numbers also depend on
        the torch thread count (oneDNN splits bf16 reductions by thread; fp32 was measured invariant), so a
        bf16 CPU trial records its thread count in its identity (``cpu_threads``);
  auto  bf16 where the device does bf16 natively (CUDA; a CPU whose capabilities torch reports with
        ``avx512_bf16`` or ``amx_bf16``), fp32 elsewhere. Resolved before the trial starts: the identity
        records ``fp32`` or ``bf16``, never ``auto``.
"""
import contextlib
import functools
import os
import platform

import torch

from bench.core.config import PRECISIONS
from bench.core.errors import ConfigError

CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")   # x86 instruction sets with native bf16 dot products


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but torch sees no CUDA device; use device=cpu or auto")
    return torch.device(name)


@functools.lru_cache(maxsize=None)
def cpu_bf16_flags() -> tuple:
    """The native-bf16 instruction sets of this CPU, as torch detects them (``torch.cpu.get_capabilities``),
    else as the kernel reports them (``/proc/cpuinfo``); () where neither says."""
    caps = getattr(torch.cpu, "get_capabilities", None)
    if caps is not None:
        found = caps()
        return tuple(f for f in CPU_BF16_FLAGS if found.get(f))
    try:
        with open("/proc/cpuinfo") as f:
            words = set(f.read().split())
    except OSError:
        return ()
    return tuple(f for f in CPU_BF16_FLAGS if f in words)


UNRECORDED = "not recorded"   # where a round ran, in records made before 2026-12-07 kept it


@functools.lru_cache(maxsize=None)
def processor() -> str:
    """The CPU a result was computed on, for the record (not the identity: seeded fp32 numbers differ in
    their last bits between kernel sets, so a trial resumed on another CPU goes on as the same trial, and its
    rounds say where each ran): model name, family/model, the kernel set torch dispatches to, and the
    native-bf16 flags, e.g. ``AMD EPYC (family 25 model 1) x2, AVX2, no-bf16``."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or "cpu"
    where = f" (family {fields['cpu family']} model {fields['model']})" if "cpu family" in fields else ""
    kernels = torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, "cpu") else "?"
    return f"{name}{where} x{os.cpu_count()}, {kernels}, {'+'.join(cpu_bf16_flags()) or 'no-bf16'}"


def onednn_unsafe(width: int) -> bool:
    """Whether torch's oneDNN convolutions would run a ResNet of ``width`` on a path that corrupts the heap: on
    a CPU where torch dispatches AVX2 kernels (no AVX-512), the backward pass of convolutions narrower than
    8 channels makes glibc abort (torch 2.14.1, AMD EPYC family 25 model 1: widths 2 and 4 in 4 of 5 runs,
    widths 8 and 12 in none; docs/caveats.md). Only tests and the smoke scale are that narrow."""
    return width < 8 and avx2_without_avx512()


@functools.lru_cache(maxsize=None)
def avx2_without_avx512() -> bool:
    """Whether this CPU has AVX2 and not AVX-512F (what oneDNN's kernels are picked by; ATen's own dispatch
    level can be lowered by ATEN_CPU_CAPABILITY while oneDNN still runs AVX2)."""
    caps = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
    return bool(caps.get("avx2")) and not caps.get("avx512_f")


def conv_backend(width: int, device):
    """A context for training a net whose narrowest convolution has ``width`` channels: torch's own
    convolutions (oneDNN off: the same mathematics, other rounding) where ``onednn_unsafe`` on the CPU, else
    nothing changes. A trial runs its rounds (training and inference) in it; its rounds record which
    (``onednn``)."""
    if torch.device(device).type == "cpu" and onednn_unsafe(width):
        return _onednn_off()
    return contextlib.nullcontext()


@contextlib.contextmanager
def _onednn_off():
    was = torch.backends.mkldnn.enabled   # only this flag (torch.backends.mkldnn.flags also sets TF32's)
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = was


def native_bf16(device) -> bool:
    """Whether ``device`` computes bf16 natively: CUDA (bf16 tensor cores), or a CPU with AVX512-BF16/AMX."""
    device = torch.device(device)
    return device.type == "cuda" or (device.type == "cpu" and bool(cpu_bf16_flags()))


def resolve_precision(name: str, device) -> str:
    """``fp32`` or ``bf16`` for the setting ``name`` (auto | fp32 | bf16) on ``device``; None means the
    behaviour before the setting existed (bf16 autocast on CUDA, fp32 elsewhere), for callers that build a
    Pool or call ``predict`` without a trial config."""
    device = torch.device(device)
    if name is None:
        return "bf16" if device.type == "cuda" else "fp32"
    if name not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    if name == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return name


def autocast(device, precision: str = None, cache: bool = True):
    """The arithmetic context of ``precision`` (resolved as ``resolve_precision`` does; None: bf16 on CUDA,
    fp32 elsewhere): bf16 autocast, or nothing for fp32. ``cache=False`` for a step captured in a CUDA graph
    (autocast's weight-cast cache must not outlive the capture)."""
    device = torch.device(device)
    if resolve_precision(precision, device) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=cache)
    return contextlib.nullcontext()


def channels_last(device, precision: str = None) -> bool:
    """Whether images and weights are laid out channels_last: on CUDA (as always) and wherever bf16 runs
    (oneDNN's bf16 convolutions are fastest NHWC); the CPU's fp32 path keeps NCHW, unchanged."""
    device = torch.device(device)
    return device.type == "cuda" or resolve_precision(precision, device) == "bf16"


def inference_batch(requested: int, device) -> int:
    """The batch of evaluation and strategies' forward passes: ``requested``, or where it is 0 (auto) the
    device's: 1024 on CUDA, 256 on a CPU (whose caches favour it: bf16 + channels_last measured 2,194 img/s
    at 256 vs 1,593 at 1024, fp32 880 vs 493, width-16 ResNet-18, one thread, this project's 2-core Zen 5)."""
    if requested:
        return int(requested)
    return 1024 if torch.device(device).type == "cuda" else 256


def forked_rng(device: torch.device):
    """torch's global RNGs (CPU, and ``device``'s on CUDA) restored when the block ends."""
    return torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else [])


@contextlib.contextmanager
def seeded(seed: int, device: torch.device):
    """Run a block under torch's global RNGs seeded with ``seed``, restoring them afterwards."""
    with forked_rng(device):
        torch.manual_seed(int(seed))
        yield


def sync(device) -> None:
    """Wait for the device (CUDA); a no-op on the CPU. For timings only: training never calls it per step."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
