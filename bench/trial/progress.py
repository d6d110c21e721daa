"""A trial's progress bar, whose ETA covers whole rounds.

The bar counts training images: a round's epochs cost its labelled pool's size (round 5's are 6x round 0's on
the paper's schedule), so counting epochs made the ETA far too short. Evaluation and selection cost time but
train no image; counted as nothing, a trial whose selection takes minutes (BALD's passes, VAAL) got an ETA far
below the truth, and one whose rounds were short got one far above it (each round's fixed cost spread over
its few images). So after each round its evaluation and selection are counted in image-equivalents at the
training rate measured so far, and the rounds left are projected from the mean of the rounds done (the last
round selects nothing); the ETA is tqdm's from the average rate since the bar started (``smoothing=0``).
"""
import math

from tqdm.auto import tqdm


class TrialBar:
    """``images``: training images per round; ``done``: rounds already recorded (a resumed trial). Passes
    ``update``, ``set_postfix`` and ``set_postfix_str`` to tqdm (``train_classifier`` updates it per epoch)."""

    def __init__(self, images, done: int, desc: str, disable: bool = False, position: int = 0):
        self.images, self.done = list(images), int(done)
        self.train_s, self.train_images, self.evals, self.selects, self.extra = 0.0, 0, [], [], 0.0
        self.bar = tqdm(total=sum(self.images), initial=sum(self.images[:self.done]), desc=desc, unit="img",
                        unit_scale=True, disable=disable, position=position, leave=True, dynamic_ncols=True,
                        smoothing=0)

    def update(self, n):
        self.bar.update(n)

    def set_postfix(self, **kw):
        self.bar.set_postfix(**kw)

    def set_postfix_str(self, text):
        self.bar.set_postfix_str(text)

    def projected(self, r: int) -> float:
        """Image-equivalents of the evaluation and selection of the rounds after ``r``, at the means so far."""
        if not self.train_s or not self.evals:
            return 0.0
        rate = self.train_images / self.train_s
        left = len(self.images) - 1 - r
        sel = sum(self.selects) / len(self.selects) if self.selects else 0.0
        return rate * (sum(self.evals) / len(self.evals) * left + sel * max(left - 1, 0))

    def round_done(self, r: int, train_s: float, eval_s: float, select_s: float):
        """Round ``r`` trained (``train_s``: every model it trained), evaluated and selected (NaN: nothing)."""
        if math.isfinite(train_s) and train_s > 0:
            self.train_s += train_s
            self.train_images += self.images[r]
        self.evals.append(eval_s if math.isfinite(eval_s) else 0.0)
        if math.isfinite(select_s):
            self.selects.append(select_s)
        if not self.train_s:
            return
        spent = self.train_images / self.train_s * (self.evals[-1] + (select_s if math.isfinite(select_s) else 0.0))
        self.extra += spent
        self.bar.total = sum(self.images) + self.extra + self.projected(r)
        self.bar.update(spent)

    def close(self):
        self.bar.close()


def human(seconds) -> str:
    """Seconds as people read a duration: 45 s, 12.5 min, 36.0 h, 3.0 d ('-' for None)."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def grid_time_left(elapsed: float, done, pending, cost=None):
    """Seconds the ``pending`` trials (names) should take at the pace the ``done`` ones set: ``elapsed`` scaled by
    the estimated seconds of the trials pending over those of the trials done (``cost``, by name: the plan's
    estimates; 0 for a trial already finished on disk), so that a BALD trial of hours weighs as it will, while a
    machine slower than measured, or shared, shows in the pace. A trial without an estimate weighs the mean of
    those with one (without any, every trial weighs the same). None until work with a weight is done."""
    cost = {k: float(v) for k, v in (cost or {}).items() if v is not None}
    known = [v for v in cost.values() if v > 0]
    mean = sum(known) / len(known) if known else 1.0
    spent = sum(cost.get(n, mean) for n in done)
    return elapsed * sum(cost.get(n, mean) for n in pending) / spent if spent > 0 else None
