"""``make perf DEVICE=cpu``: the CPU at the cpu profile's scale, each figure beside its reference, in ~3 minutes.

  python -m bench.perf --device cpu               # this (the default on a machine without CUDA)
  python -m bench.perf --device cpu --quick       # tiny sizes: proves every path runs (tests, CI)

Sections, in one run (one torch thread unless --threads: the cpu profile runs one thread per trial):
  ceiling    the CPU's FLOP ceiling, cores x SIMD lanes x FMA units x 2 x clock (each factor said where it
             comes from), and a large fp32 matrix product measured as the reachable part of it
  train      albench's trainer (width-16 ResNet-18, batch 128, 32x32x3: the cpu profile's classifier) in
             precision=auto and in fp32 (the CPU path before the precision setting), beside a peer-style loop
             (torchvision transforms on PIL images + DataLoader + fp32); the ratios; albench's share of the
             ceiling (training FLOPs counted by torch's FlopCounterMode on meta tensors)
  infer      evaluation images/s: auto at the device's inference batch against fp32 at 1024 (the old default)
  bald       the cpu profile's BALD selection (20 MC-Dropout passes) on a pool of unlabelled images in auto,
             and in fp32 with one forward call per chunk (the old path); projected to the cpu profile's
             first selection (8,050 unlabelled images of Fig. 3(b)'s first dataset with its validation split)
  vaal       one VAAL iteration at the cpu profile's width 16 in auto and in fp32; projected to a selection
  select     albench's CoreSet, TypiClust, ProbCover and BADGE beside scikit-activeml's on the same seeded
             features (10,000 x 64, 500 labelled, 500 picked: scikit-activeml's ProbCover holds the N x N
             distances, 20 GB at 50,000); albench's CoreSet, TypiClust and BADGE also on a 50,000-image pool
"""
import os
import tempfile
import time
import warnings
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from bench.core.config import load_config, preset_for
from bench.core.device import (
    autocast,
    channels_last,
    cpu_bf16_flags,
    inference_batch,
    resolve_precision,
)
from bench.core.models import build_classifier
from bench.core.pool import Pool
from bench.paper.manifest import artifact, load_profile
from bench.perf.measure import trainer_rate
from bench.perf.reference import fl2mi_every_row, reference_rate
from bench.trial.timing import data
from bench.trial.train import evaluate, train_classifier
from strategies import get_strategy
from strategies.badge import badge_kmeans_pp, gradient_factors
from strategies.batchbald import batchbald_greedy
from strategies.coreset import k_center_greedy
from strategies.similar import fl2mi_greedy

FIG3B = artifact("fig3b").runs[0]   # the trial sizes measured here are those of its first dataset


def cpu_profile_config(precision: str):
    """The cpu profile's classifier recipe (configs/profiles/cpu.yaml) in ``precision``."""
    over = dict(load_profile("cpu").raw["overrides"])
    over.pop("threads", None)
    return load_config(preset_for(FIG3B.datasets[0]), (), **dict(over, precision=precision, device="cpu"))


def clock_ghz():
    """(GHz, where it was read): the highest 'cpu MHz' in /proc/cpuinfo (the kernel's current reading: on a
    virtual machine often the base clock, so the ceiling is a floor of the real one where the CPU boosts)."""
    try:
        with open("/proc/cpuinfo") as f:
            mhz = [float(line.split(":")[1]) for line in f if line.lower().startswith("cpu mhz")]
        if mhz:
            return max(mhz) / 1000, "/proc/cpuinfo 'cpu MHz'"
    except OSError:
        pass
    return None, "no clock reading"


def flop_ceiling(threads: int, fma_units: int):
    """The CPU's peak FLOP/s for ``threads`` cores in fp32 and with native bf16, with how each factor was had."""
    caps = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
    lanes = 16 if caps.get("avx512_f") else 8 if caps.get("avx2") else 4
    ghz, where = clock_ghz()
    out = {"cores": threads, "fp32_lanes": lanes, "fma_units": fma_units, "clock_ghz": ghz,
           "simd": "AVX-512" if lanes == 16 else "AVX2" if lanes == 8 else "SSE",
           "how": f"cores = torch threads used; SIMD lanes from torch.cpu.get_capabilities(); FMA units = "
                  f"{fma_units} (assumed: --fma-units; Zen 4/5 and Intel server cores have 2); clock from {where}; "
                  "2 FLOPs per FMA; bf16 (AVX512-BF16 vdpbf16ps) does two products per fp32 lane"}
    if ghz:
        out["fp32_gflops"] = threads * lanes * fma_units * 2 * ghz
        out["bf16_gflops"] = 2 * out["fp32_gflops"] if cpu_bf16_flags() else out["fp32_gflops"]
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t0, reps = time.perf_counter(), 0
    while time.perf_counter() - t0 < 1.0:
        a @ b
        reps += 1
    out["matmul_fp32_gflops"] = 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9
    return out


def train_flops_per_image(cfg) -> float:

    with torch.device("meta"):
        model = build_classifier(cfg.arch, 10, 3, cfg.width)
        x, y = torch.empty(2, 3, 32, 32, dtype=torch.uint8), torch.zeros(2, dtype=torch.long)
        with FlopCounterMode(display=False) as fc:
            F.cross_entropy(model(x), y).backward()
    return fc.get_total_flops() / 2


def inference_rate(cfg, precision, batch, n, seconds=1.0):

    x, y = data(n, 3, 32, "cpu")
    model, _ = train_classifier(replace(cfg, epochs=1, precision=precision), x[:256], y[:256], 10, 0,
                                [0.5] * 3, [0.25] * 3)
    evaluate(model, x[:256], y[:256], 10, batch, precision)   # warm-up
    t0, seen = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        evaluate(model, x, y, 10, batch, precision)
        seen += n
    return seen / (time.perf_counter() - t0)


def bald_seconds(cfg, precision, n_unl, passes, one_call):
    """Seconds of BALD's select (``passes`` passes) over ``n_unl`` unlabelled images; ``one_call``: the rows
    of a chunk in one forward call (the path before small batches)."""

    x, y = data(n_unl + 100, 3, 32, "cpu")
    s = get_strategy("bald", passes=passes)
    model, _ = train_classifier(replace(cfg, epochs=1, precision=precision), x[:256], y[:256], 10, 0,
                                [0.5] * 3, [0.25] * 3, **s.scoring_model_options)
    pool = Pool(x, y.numpy(), np.arange(100), model, 10, np.random.default_rng(0), "cpu",
                s.rows_per_batch if one_call else 0, precision=precision, budget=50)
    t0 = time.perf_counter()
    s.select(pool, 50)
    return time.perf_counter() - t0


def vaal_iteration_seconds(precision, width, reps):

    v = get_strategy("vaal", width=width)
    torch.manual_seed(0)
    vae, disc, opt_v, opt_d = v.build(3, 32, "cpu")
    layout = torch.channels_last if channels_last("cpu", precision) else torch.contiguous_format
    vae.to(memory_format=layout)
    xb = (torch.rand(v.batch_size, 3, 32, 32) * 2 - 1).contiguous(memory_format=layout)
    cast = lambda: autocast("cpu", precision)  # noqa: E731
    v.iteration(vae, disc, opt_v, opt_d, lambda: (xb, xb), cast)
    t0 = time.perf_counter()
    for _ in range(reps):
        v.iteration(vae, disc, opt_v, opt_d, lambda: (xb, xb), cast)
    return (time.perf_counter() - t0) / reps


def skactiveml_fixed_head(weight: np.ndarray, bias: np.ndarray, classes):
    """A scikit-activeml classifier whose input is already the embedding: predict_proba(X) = softmax(X W^T + b),
    and ``embed=True`` hands X back as the embedding (what its BADGE asks for). BADGE compared on the same
    last layer and embeddings as albench's (``make perf`` and the BADGE test)."""
    from skactiveml.base import SkactivemlClassifier

    class FixedHead(SkactivemlClassifier):
        def __init__(self, weight=None, bias=None, classes=None, missing_label=np.nan):
            super().__init__(classes=classes, missing_label=missing_label)
            self.weight, self.bias = weight, bias

        def fit(self, X, y, sample_weight=None):
            return self

        def predict_proba(self, X, embed=False):
            p = torch.softmax(torch.as_tensor(X @ self.weight.T + self.bias), 1).numpy()
            return (p, X) if embed else p

    return FixedHead(weight, bias, classes=classes)


def _feature_pool(feats: np.ndarray, n_lab: int, path: str):
    """A Pool over ``len(feats)`` placeholder images whose strategies read ``feats`` from the file ``path``."""

    np.save(path, feats)
    lab = np.random.default_rng(0).choice(len(feats), n_lab, replace=False)
    x = torch.zeros(len(feats), 1, 1, 1, dtype=torch.uint8)
    return Pool(x, np.zeros(len(feats), np.int64), lab, None, 10, np.random.default_rng(0), "cpu", budget=None), lab


def best_seconds(call, again_below_s: float = 5.0) -> float:
    """Wall seconds of ``call()``, the better of two where the first lasts under ``again_below_s`` (timeit's rule:
    the minimum is the least disturbed by the machine); albench and its peer are timed alike."""
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
        if best >= again_below_s:
            break
    return best


def select_versus_peer(n, dim, n_lab, k, delta, peer=True,
                       names=("coreset", "typiclust", "probcover", "badge", "maxherding"), again_below_s=5.0):
    """Seconds of albench's and scikit-activeml's CoreSet, TypiClust, ProbCover (fixed radius ``delta``),
    BADGE and MaxHerding (every candidate, no subsample) on the same seeded features, those of them in ``names``;
    the peer is skipped where it is not installed or ``peer`` is off; a call under ``again_below_s`` is timed twice.
    """

    g = torch.Generator().manual_seed(0)
    feats = torch.randn(n, dim, generator=g)
    feats = (feats / feats.norm(dim=1, keepdim=True)).numpy()
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        pool, lab = _feature_pool(feats, n_lab, os.path.join(tmp, "f.npy"))
        y = np.full(n, np.nan)
        y[lab] = np.arange(n_lab) % 10
        mask = torch.zeros(n, dtype=torch.bool)
        mask[lab] = True
        if "coreset" in names:
            out["coreset"] = {"albench": best_seconds(lambda: k_center_greedy(torch.from_numpy(feats), mask, k),
                                                      again_below_s)}
        own = (("typiclust", {}), ("probcover", {"delta": delta}), ("maxherding", {"max_points": n}))
        for name, params in own:
            if name not in names:
                continue
            s = get_strategy(name, features=os.path.join(tmp, "f.npy"), **params)
            out[name] = {"albench": best_seconds(lambda: s.select(pool, k), again_below_s)}
        weight, bias = torch.randn(10, dim, generator=g), torch.randn(10, generator=g)
        unl = np.setdiff1d(np.arange(n), lab)
        if "badge" in names:
            def badge():
                q, h = gradient_factors(torch.from_numpy(feats[unl]), weight, bias)
                badge_kmeans_pp(q, h, k, np.random.default_rng(0))
            out["badge"] = {"albench": best_seconds(badge, again_below_s)}
        if not peer:
            return out
        try:
            import skactiveml.pool as sk
        except ImportError:
            return out
        head = skactiveml_fixed_head(weight.numpy(), bias.numpy(), list(range(10)))
        peers = {"coreset": lambda: sk.CoreSet(random_state=0).query(feats, y, batch_size=k),
                 "typiclust": lambda: sk.TypiClust(random_state=0).query(feats, y, batch_size=k),
                 "probcover": lambda: sk.ProbCover(deltas=[delta], random_state=0).query(feats, y, batch_size=k),
                 "badge": lambda: sk.Badge(clf_embedding_flag_name="embed", random_state=0).query(
                     feats, y, head, fit_clf=False, batch_size=k),
                 "maxherding": lambda: sk.MaxHerding(random_state=0).query(feats, y, batch_size=k)}
        for name, call in peers.items():
            if name not in out:
                continue
            with warnings.catch_warnings():   # its ProbCover warns when no delta reaches its purity: timing only
                warnings.simplefilter("ignore")
                out[name]["scikit-activeml"] = best_seconds(call, again_below_s)
    return out


def batchbald_versus_peer(n: int, passes: int, classes: int, picks: int, configs: int, peer=True):
    """Seconds of albench's greedy BatchBALD and scikit-activeml's on the same S x N x C dropout probabilities
    (seeded Dirichlet draws) and the same number of label configurations once they are sampled
    (``configs``: albench's ``configs``, the peer's ``n_MC_samples``); and whether the first 3 picks agree
    (afterwards both sample configurations, each with its own generator)."""

    probs = np.random.default_rng(0).dirichlet([0.3] * classes, size=(passes, n))
    t0 = time.perf_counter()
    mine, _ = batchbald_greedy(torch.from_numpy(probs), picks, configs, np.random.default_rng(0))
    out = {"albench": time.perf_counter() - t0}
    try:
        import skactiveml.pool as sk
        from skactiveml.base import SkactivemlClassifier
    except ImportError:
        return out
    if not peer:
        return out

    class Member(SkactivemlClassifier):   # one dropout pass as a committee member: its probabilities by index
        def __init__(self, p=None, classes=None, missing_label=np.nan):
            super().__init__(classes=classes, missing_label=missing_label)
            self.p = p

        def fit(self, X, y, sample_weight=None):
            self.classes_ = np.asarray(self.classes)
            return self

        def predict_proba(self, X):
            return self.p[np.asarray(X)[:, 0].astype(int)]

    members = [Member(probs[k], classes=list(range(classes))).fit(None, None) for k in range(passes)]
    x, y = np.arange(n, dtype=float)[:, None], np.full(n, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        theirs = sk.BatchBALD(n_MC_samples=configs, random_state=0).query(x, y, members, fit_ensemble=False,
                                                                             batch_size=picks)
        out["scikit-activeml"] = time.perf_counter() - t0
    out["same_first_3"] = bool(list(mine[:3]) == list(theirs[:3]))
    return out


def fl2mi_versus_every_row(n: int, q: int, picks: int) -> dict:
    """Seconds of SIMILAR's lazy FL2MI greedy and of recomputing every row at every pick (``fl2mi_every_row``)
    on the same ``n`` x ``q`` cosine kernel of clustered features (10 centres), and whether they agree."""
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(10, 64, generator=g)[torch.randint(0, 10, (n + q,), generator=g)] * 2
    feats = F.normalize(feats + torch.randn(n + q, 64, generator=g), dim=1)
    sim = feats[:n] @ feats[n:].T
    got, want = {}, {}
    t = {"albench": best_seconds(lambda: got.update(r=fl2mi_greedy(sim, picks, 1.0, np.random.default_rng(0)))),
         "every_row": best_seconds(lambda: want.update(r=fl2mi_every_row(sim, picks, 1.0, np.random.default_rng(0))))}
    return dict(t, same=(got["r"][0].tolist(), got["r"][1]) == want["r"])


def kept_pass_versus_pass_per_call(cfg, n: int, names=("balanced_margin", "tailor")) -> dict:
    """Seconds of each strategy's select over ``n`` unlabelled images of ``cfg``'s classifier, on a pool that keeps
    its forward pass (the loop's) and on one that runs a pass at every call, and whether their picks are the same."""
    x, y = data(n + 500, 3, 32, "cpu")
    model, _ = train_classifier(replace(cfg, epochs=1), x[:256], y[:256], 10, 0, [0.5] * 3, [0.25] * 3)
    out = {}
    for name in names:
        t, got = {}, {}
        for how in ("kept", "per_call"):
            pool = Pool(x, y.numpy(), np.arange(500), model, 10, np.random.default_rng(0), "cpu",
                        precision=cfg.precision, budget=100, keep_passes=how == "kept")
            t0 = time.perf_counter()
            got[how] = get_strategy(name).select(pool, 100).tolist()
            t[how] = time.perf_counter() - t0
        out[name] = dict(t, same=got["kept"] == got["per_call"])
    return out


def run(threads: int = 1, quick: bool = False, fma_units: int = 2, report=print):
    """Every section; ``report(name, value, unit)`` prints a row. Returns the figures as a dict."""

    torch.set_num_threads(threads)
    auto = resolve_precision("auto", "cpu")
    res = {"threads": threads, "auto_precision": auto, "bf16_flags": list(cpu_bf16_flags()), "quick": quick}
    c = res["ceiling"] = flop_ceiling(threads, fma_units)
    if c.get("fp32_gflops"):
        report(f"FLOP ceiling, fp32 ({threads} core(s) x {c['fp32_lanes']} lanes x {fma_units} FMA x 2 x "
               f"{c['clock_ghz']:.2f} GHz)", c["fp32_gflops"], "GFLOP/s")
        report("FLOP ceiling, bf16 (AVX512-BF16: twice the fp32 lanes)" if cpu_bf16_flags()
               else "FLOP ceiling, bf16 (no native bf16: as fp32)", c["bf16_gflops"], "GFLOP/s")
    report("reached by a 2048^2 fp32 matrix product (torch)", c["matmul_fp32_gflops"], "GFLOP/s")

    cfg = cpu_profile_config("auto")
    n, epochs = (256, 1) if quick else (2048, 2)
    rate = {}
    for name, prec in ((f"albench trainer, precision=auto ({auto}, channels_last)" if auto == "bf16"
                        else "albench trainer, precision=auto (fp32)", "auto"),
                       ("albench trainer, fp32 NCHW (the CPU path before precision=)", "fp32")):
        rate[prec] = trainer_rate(replace(cfg, precision=prec), n, 3, 32, torch.device("cpu"), epochs)
        report(f"{name}, width {cfg.width}, batch {cfg.batch_size}", rate[prec], "img/s")
    rate["peer"] = reference_rate(cfg, n, 3, 32, torch.device("cpu"), epochs, 0)
    report("peer-style loop (PIL + torchvision transforms + DataLoader, fp32)", rate["peer"], "img/s")
    report("  speed-up auto / fp32 path", rate["auto"] / rate["fp32"], "x")
    report("  speed-up auto / peer-style loop", rate["auto"] / rate["peer"], "x")
    per_image = train_flops_per_image(cfg)
    res["train"] = dict(rate, flops_per_image=per_image)
    if c.get("fp32_gflops"):
        ceiling = c["bf16_gflops"] if auto == "bf16" else c["fp32_gflops"]
        report(f"  albench training, share of the {auto} ceiling ({per_image / 1e6:.0f} MFLOP per image)",
               100 * rate["auto"] * per_image / 1e9 / ceiling, "%")

    m = 1024 if quick else 4096
    inf = res["infer"] = {"auto": inference_rate(cfg, "auto", 0, m, 0.3 if quick else 2.0),
                          "fp32_1024": inference_rate(cfg, "fp32", 1024, m, 0.3 if quick else 2.0)}
    report(f"evaluation, precision=auto, batch {inference_batch(0, 'cpu')} (the CPU's inference batch)", inf["auto"],
           "img/s")
    report("evaluation, fp32, batch 1024 (the old default)", inf["fp32_1024"], "img/s")
    report("  speed-up", inf["auto"] / inf["fp32_1024"], "x")

    passes = load_profile("cpu").raw["strategy_params"]["bald"]["passes"]
    n_unl, first = (64, 8050) if quick else (102, 8050)   # 102 x 20 passes: a quarter chunk of rows_per_batch 8192
    b = res["bald"] = {"auto": bald_seconds(cfg, "auto", n_unl, passes, False),
                       "fp32_one_call": bald_seconds(cfg, "fp32", n_unl, passes, True), "images": n_unl}
    report(f"BALD select, {passes} passes over {n_unl} images, precision=auto", b["auto"], "s")
    report(f"BALD select, {passes} passes over {n_unl} images, fp32 one call per chunk (old path)",
           b["fp32_one_call"], "s")
    report(f"  projected to {first:,} images (the cpu profile's first selection), auto", b["auto"] * first / n_unl, "s")
    report(f"  projected to {first:,} images, old path (recorded 400-650 s per selection)",
           b["fp32_one_call"] * first / n_unl, "s")
    report("  speed-up", b["fp32_one_call"] / b["auto"], "x")

    vw = load_profile("cpu").raw["strategy_params"]["vaal"]
    iters = get_vaal_iterations(vw)
    v = res["vaal"] = {p: vaal_iteration_seconds(p, vw["width"], 1 if quick else 3) for p in ("auto", "fp32")}
    report(f"VAAL iteration, width {vw['width']}, precision=auto", v["auto"], "s")
    report(f"VAAL iteration, width {vw['width']}, fp32", v["fp32"], "s")
    report(f"  projected selection ({iters} iterations), auto vs fp32: speed-up", v["fp32"] / v["auto"], "x")

    # MaxHerding at its default bound of 5,000 candidates (a larger pool is subsampled to it): the size it runs at,
    # and scikit-activeml's herding costs ~90 s on 10,000 here
    size = (600, 16, 100, 20) if quick else (10_000, 64, 500, 500)
    herding = (300, 16, 50, 20) if quick else (5_000, 64, 500, 500)
    res["select"] = {}
    for at, names in ((size, ("coreset", "typiclust", "probcover", "badge")), (herding, ("maxherding",))):
        sel = select_versus_peer(*at, delta=0.9 if quick else 1.0, names=names)
        res["select"].update(sel)
        for name, t in sel.items():
            mine, theirs = t["albench"], t.get("scikit-activeml")
            report(f"select {at[3]} of {at[0] - at[2]:,} ({at[0]:,} x {at[1]}): {name}, albench", mine, "s")
            if theirs is not None:
                report(f"  {name}, scikit-activeml on the same features", theirs, "s")
                report(f"  {name}, speed-up albench / scikit-activeml", theirs / mine, "x")
    bb = (200, 4, 10, 4, 100) if quick else (2000, passes, 10, 10, 1000)   # albench's default candidates
    t = res["batchbald"] = batchbald_versus_peer(*bb)
    what = f"BatchBALD, {bb[3]} picks of {bb[0]:,} ({bb[1]} passes, {bb[2]} classes, {bb[4]} configurations)"
    report(f"{what}, albench", t["albench"], "s")
    if "scikit-activeml" in t:
        report(f"  BatchBALD, scikit-activeml on the same probabilities (same first 3 picks: {t['same_first_3']})",
               t["scikit-activeml"], "s")
        report("  BatchBALD, speed-up albench / scikit-activeml", t["scikit-activeml"] / t["albench"], "x")
    fl = (500, 40, 20) if quick else (9_500, 1_000, 500)   # a dominant-class pool's size; 1,000 rare labels
    t = res["similar"] = fl2mi_versus_every_row(*fl)
    report(f"SIMILAR (FL2MI) greedy, {fl[2]} picks of {fl[0]:,} against {fl[1]:,} query images, albench (lazy)",
           t["albench"], "s")
    report(f"  every row's gain recomputed at every pick (the first version; same picks and gains: {t['same']})",
           t["every_row"], "s")
    report("  speed-up", t["every_row"] / t["albench"], "x")
    n_kept = 200 if quick else 2_000
    kept = res["kept_pass"] = kept_pass_versus_pass_per_call(replace(cfg, precision="fp32"), n_kept)
    for name, t in kept.items():
        report(f"{name} select, 100 of {n_kept:,} (fp32, the cpu profile's), one forward pass kept", t["kept"], "s")
        report(f"  a pass at every call (before; same picks: {t['same']})", t["per_call"], "s")
        report("  speed-up", t["per_call"] / t["kept"], "x")
    if not quick:   # ProbCover's ball graph at 50,000 takes ~30 s here: left out to keep the run short
        big = res["select_50k"] = select_versus_peer(50_000, 64, 500, 500, delta=1.0, peer=False,
                                                     names=("coreset", "typiclust", "badge"), again_below_s=0.0)
        for name, t in big.items():
            report(f"select 500 of 49,500 (50,000 x 64): {name}, albench", t["albench"], "s")
    return res


def get_vaal_iterations(params) -> int:
    """VAAL's iterations in one cpu-profile selection on Fig. 3(b)'s first dataset (its 8,550 training images)."""

    return get_strategy("vaal", **params).iterations(8550)
