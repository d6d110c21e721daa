"""TAILOR (Zhang, Shao, Verma & Nowak, "Algorithm Selection for Deep Active Learning with Imbalanced Datasets",
NeurIPS 2023): Thompson sampling over candidate strategies, rewarding the class diversity of each one's picks.

The rule (the authors' ``strategy/meta/thompson_meta.py``, multi-class, objective ``div``):
- every candidate ("arm") a holds Dirichlet parameters alpha_a over the K classes, 1 for every class at the
  start (the authors' ``stats`` of ones), and is drawn as theta_a ~ Dir(alpha_a + 1);
- the reward of a class is v_c = 1 / max(1, n_c), n_c its labelled count at the start of the round, negated
  for a class that holds more than half of the labelled pool;
- the batch is built one image at a time: draw theta_a for every arm, pull the arm with the largest
  theta_a . v, and take that arm's next image not taken yet;
- the picks' labels update the arms once they are known, as if revealed at the end of the batch:
  alpha_a <- 0.9 alpha_a + (the class counts of the images arm a picked).

Choices left open, and ours:
- An arm is a whole strategy of the registry: once per round it selects its own batch of ``budget`` images
  on the round's pool, and its "next image" is the next of that batch in its own order (the authors'
  confidence and uncertainty sub-procedures take their top ``batch_size`` the same way; since the batch is
  ``budget`` long, an arm never runs out before the batch is complete).
- Default candidates: ``least_confidence`` (their "confidence"), ``badge`` and ``similar`` (their candidates
  that albench has and that buy no labels), with ``margin`` and ``base`` in place of their GALAXY and MLP
  arms (one arm per class each in their code; GALAXY uses picked labels inside the batch). Strategies that
  buy labels inside their own batch (``galaxy``, ``direct``: ``buys_labels``) are refused as candidates:
  TAILOR would have to select every image they revealed; so are strategies that score with a model of their
  own (BALD's dropout network: ``scoring_model_options``) or read true labels. Each arm runs at its registry
  defaults (a profile's ``strategy_params`` for that strategy do not reach it).
- No label is bought: the update reads the picks' labels at the next round's select, when they are
  labelled (nothing uses the posterior in between, so this is the authors' end-of-batch update), and the
  round's budget pays for exactly the batch.
- The arms' parameters and the picks awaiting their labels are the strategy's state (``state_dict``),
  saved with every round's record, so a resumed trial goes on as an uninterrupted one.
- Thompson draws and the candidates' own randomness come from ``pool.rng``; a tie in theta . v goes to the
  first arm. Each round's arms, pulls, reward vector and posterior means go into the diagnostics.
"""
import numpy as np

from strategies._api import Strategy, get_strategy, register

DEFAULT_CANDIDATES = "least_confidence,badge,similar,margin,base"


def class_reward(counts) -> np.ndarray:
    """The authors' diversity reward: 1 / max(1, n_c), negated for a class holding more than half the labels."""
    counts = np.asarray(counts, dtype=np.float64)
    w = np.clip(counts, 1, None)
    total = max(float(counts.sum()), 1.0)
    w[counts / total > 0.5] *= -1
    return 1.0 / w


def thompson_merge(batches, alpha, reward, budget: int, rng: np.random.Generator):
    """The batch TAILOR builds from the arms' own ``batches`` (each a sequence of indices in the arm's order):
    ``budget`` images, each the next untaken image of the arm whose draw theta ~ Dir(alpha + 1) scores
    highest against ``reward``. Returns (indices, the arm of each pick)."""
    taken, picks, arms = set(), [], []
    pos = [0] * len(batches)
    while len(picks) < budget:
        theta = np.stack([rng.dirichlet(a + 1.0) for a in alpha])
        score = theta @ reward
        for arm in np.argsort(-score, kind="stable"):   # the best arm with an image left
            b = batches[arm]
            while pos[arm] < len(b) and int(b[pos[arm]]) in taken:
                pos[arm] += 1
            if pos[arm] < len(b):
                break
        else:
            break   # every arm exhausted (a pool smaller than the budget)
        i = int(batches[arm][pos[arm]])
        taken.add(i)
        picks.append(i)
        arms.append(int(arm))
    return np.asarray(picks, np.int64), np.asarray(arms, np.int64)


def update(alpha, arms, classes, decay: float):
    """The end-of-batch update: alpha <- decay alpha + per arm the class counts of its picks."""
    new = np.zeros_like(alpha)
    np.add.at(new, (np.asarray(arms, np.int64), np.asarray(classes, np.int64)), 1.0)
    return decay * alpha + new


@register("tailor")
class Tailor(Strategy):
    def __init__(self, candidates: str = DEFAULT_CANDIDATES, decay: float = 0.9):
        self.candidates = candidates   # comma-separated registry names, one arm each
        self.decay = decay             # the posterior's decay per round (the authors' 0.9)
        names = [c.strip() for c in str(candidates).split(",") if c.strip()]
        if len(names) < 2 or len(set(names)) != len(names):
            raise ValueError(f"tailor: candidates must name 2 or more distinct strategies, got {candidates!r}")
        if "tailor" in names:
            raise ValueError("tailor: a candidate cannot be tailor itself")
        self._arms = [get_strategy(n) for n in names]
        own_model = [n for n, s in zip(names, self._arms) if s.scoring_model_options or s.reads_true_labels]
        if own_model:
            raise ValueError(f"tailor: candidate(s) {', '.join(own_model)} score with a model of their own (or read "
                             "the true labels); TAILOR's arms share the round's evaluated classifier (choose others, "
                             f"e.g. {DEFAULT_CANDIDATES})")
        buying = [n for n, s in zip(names, self._arms) if s.buys_labels]
        if buying:
            raise ValueError(f"tailor: candidate(s) {', '.join(buying)} buy labels inside their own batch; TAILOR "
                             "merges batches before any label is known, so its candidates must not (choose others, "
                             f"e.g. {DEFAULT_CANDIDATES})")
        if not 0.0 < float(decay) <= 1.0:
            raise ValueError(f"tailor: decay must be in (0, 1], got {decay}")
        self._names = names
        self._alpha = None    # arms x classes
        self._pending = []    # [[index, arm], ...] of the last batch, awaiting their labels

    @property
    def needs_labelled(self):
        return any(a.needs_labelled for a in self._arms)

    def provenance(self) -> dict:
        return {n: p for n, a in zip(self._names, self._arms) if (p := a.provenance())}

    def check_data(self, dataset) -> None:
        for a in self._arms:
            a.check_data(dataset)

    def state_dict(self) -> dict:
        if self._alpha is None:
            return {}
        return {"alpha": self._alpha.tolist(), "pending": [list(map(int, p)) for p in self._pending]}

    def load_state_dict(self, state: dict):
        self._alpha = np.asarray(state["alpha"], dtype=np.float64) if state.get("alpha") is not None else None
        self._pending = [list(p) for p in state.get("pending", [])]

    def select(self, pool, budget: int) -> np.ndarray:
        k = self.check_budget(pool, budget)
        if self._alpha is None or self._alpha.shape != (len(self._arms), pool.num_classes):
            self._alpha = np.ones((len(self._arms), pool.num_classes))
        known = 0
        if self._pending:   # last round's picks are labelled now: the end-of-batch update
            idx, arms = np.asarray(self._pending, np.int64).T
            keep = np.isin(idx, pool.labelled)   # all of them in a trial; another pool's picks are not
            known = int(keep.sum())
            self._alpha = update(self._alpha, arms[keep], pool.labels(idx[keep]), self.decay)
        counts = np.bincount(pool.labelled_labels, minlength=pool.num_classes)
        reward = class_reward(counts)
        batches, diags = [], {}
        for name, arm in zip(self._names, self._arms):
            batches.append(np.asarray(arm.select(pool, k), np.int64))
            diags[name] = getattr(arm, "diagnostics_", {}) or {}
        picks, arms = thompson_merge(batches, self._alpha, reward, k, pool.rng)
        self._pending = [[int(i), int(a)] for i, a in zip(picks, arms)]
        pulls = np.bincount(arms, minlength=len(self._arms))
        self.diagnostics_ = {"arms": self._names, "updated_with": known, "pulls": pulls.tolist(),
                             "arm_of_pick": arms.tolist(),
                             "reward": np.round(reward, 6).tolist(),
                             "posterior_mean": np.round((self._alpha + 1) / (self._alpha + 1).sum(1, keepdims=True),
                                                        6).tolist(),
                             "candidates": diags}
        return picks
