"""VaB-AL (Choi, Yi, Kim, Choo, Kim, Chang, Gwon & Chang, "VaB-AL: Incorporating Class Imbalance and
Difficulty with Variational Bayes for Active Learning", CVPR 2021).

Select the unlabelled images with the highest probability that the classifier's label is wrong (Eq. 1),
  p(y != ŷ | x) ~= 1 - sum_n p(y_n|ŷ_n) p(x|ŷ_n) p(ŷ_n) / sum_n p(x|ŷ_n) p(ŷ_n)        (Eq. 5)
with the three terms from one VAE trained on the frozen classifier's features of the unlabelled pool:
- input (Sec. 3.4): each residual block's feature map -> global average pool -> batch norm -> FC 128 +
  sigmoid; the four outputs concatenated (512-d). This encoder is trained with the VAE.
- VAE: FC 128 x 3 with ReLU then the latent layer (``per_class`` dims per class), mirrored decoder.
  Loss L_VAE + lam * CE(softmax(-w), ŷ_classifier), w_n = sum_{j in C_n} z_j^2 (Eq. 6-9).
- p(x|ŷ_n): the ELBO with class n's latent dimensions set to zero (Eq. 8), ``mc_samples`` draws of z.
- p(y_n|ŷ_n) (Eq. 10) and p(ŷ_n) (Eq. 11): counts of the VAE's own prediction ŷ = argmin_n w_n (Eq. 6)
  against the true labels on the labelled pool, over ``mc_samples`` draws of z.
- Eq. 5 is evaluated in log space: log-sum-exp of numerator and denominator, score = -expm1(difference),
  so ELBOs of -1e4 neither underflow nor give NaN. Highest score selected.

Choices the paper leaves open (each a parameter):
- reconstruction term ``recon``: "gaussian" (default; squared error, as the authors' code) or
  "bernoulli" (BCE on the sigmoid features). ``reduction``: "mean" (default) averages the reconstruction
  over the 512 features and the KL over the latent dimensions, as the authors' code, where lam = 0.005
  was tuned: with sums, the class term is ~500x weaker and on planted data the VAE's ŷ barely beats
  chance (tests/test_vabal.py); "sum" is the textbook ELBO (0.5 x squared error, KL summed).
  log p(x|ŷ_n) is -L_VAE of the masked code under the same reduction ("the inversed value of L_VAE",
  Sec. 3.3). The KL term is the same for every n and cancels in Eq. 5.
- ``train_mask``: during training the decoder sees z with the classifier-predicted class's dimensions
  zeroed, as the authors' code does, so the masked codes used for p(x|ŷ_n) are ones it was trained on
  (the paper: "to avoid the decoder going too far from the latent embeddings it was trained for").
- the reconstruction target is the encoder's 512-d feature, detached (else the target can collapse).
- ``smoothing`` (alpha) for classes the VAE never predicts on the labelled pool: p(ŷ_n) = (c_n + a) /
  (N + aK); p(y_n|ŷ_n) = (c_nn + a * r) / (c_n + a) with r the pool-wide agreement, i.e. a pseudo-image
  per class that is right as often as the average. alpha = 0 gives the plain Eq. 10-11 (an empty class
  then has prior 0 and drops out of Eq. 5). Counts c are averaged over the MC draws.
- batch size 128 (the authors' code); no augmentation anywhere (the authors' code scores augmented images).
- ablations "prior off" / "difficulty off" set that term to 1 (Table 1). With the difficulty off Eq. 5 is
  1 - 1 = 0 for every image whatever the prior, so "prior only" and "neither" both select at random (ties
  broken by the pool's Generator): Eq. 5 as printed cannot give Table 1's prior-only row.

``variant="released"`` reproduces the behaviour of the authors' public code (github.com/jongwon20000/vabal,
``vabal_model.py``, ``models/vae.py``, ``active_learning.py``), which differs from the paper:
  1. feature encoder GAP -> FC 128 -> ReLU -> BN, no sigmoid (paper: BN -> FC -> sigmoid);
  2. BN after each hidden FC layer of the VAE (losses are element means, which we keep as the default);
  3. Adam lr 0.01, replaced by a fresh Adam at lr 0.001 from epoch 16 of 20 (paper: 1e-4 throughout),
     after one pass without updates (BN statistics warm-up);
  4. score = 1 - sum_n L_n p(ŷ_n) with L_n the raw masked loss (MSE + KL, a loss, not a likelihood);
     p(y|ŷ) is computed but not used; p(ŷ) comes from the VAE's predictions on the unlabelled pool;
  5. it scores augmented images (not reproduced: albench never augments the pool).
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.core.device import seeded
from strategies._api import Strategy, register, top_k

WEIGHTS = {"square": torch.square, "abs": torch.abs, "sigmoid": torch.sigmoid}  # Table 2


def class_weights(z: torch.Tensor, num_classes: int, kind: str = "square") -> torch.Tensor:
    """w_n = sum_{j in C_n} f(z_j) (Eq. 6-7) for z of shape (..., K * d) -> (..., K)."""
    return WEIGHTS[kind](z.view(*z.shape[:-1], num_classes, -1)).sum(-1)


def vae_prediction(z: torch.Tensor, num_classes: int, kind: str = "square") -> torch.Tensor:
    """ŷ = argmin_n w_n (Eq. 6)."""
    return class_weights(z, num_classes, kind).argmin(-1)


def mask_each_class(z: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(..., K * d) -> (..., K, K * d): copy n has class n's d dimensions set to zero."""
    d = z.shape[-1] // num_classes
    keep = 1.0 - torch.eye(num_classes, device=z.device, dtype=z.dtype).repeat_interleave(d, dim=1)
    return z.unsqueeze(-2) * keep


def class_statistics(y: np.ndarray, y_hat: np.ndarray, num_classes: int, smoothing: float = 1.0):
    """p(ŷ_n) (Eq. 11) and p(y_n|ŷ_n) (Eq. 10) from labels y (N,) and VAE predictions y_hat (S, N)."""
    s, n = y_hat.shape
    pred = np.bincount(y_hat.ravel(), minlength=num_classes) / s
    right = np.bincount(y_hat[y_hat == y[None]], minlength=num_classes) / s
    a, agree = smoothing, right.sum() / max(n, 1)
    prior = (pred + a) / (n + a * num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        difficulty = np.where(pred + a > 0, (right + a * agree) / (pred + a), 0.0)
    return prior, difficulty


def error_probability(log_lik: torch.Tensor, prior, difficulty, use_prior=True, use_difficulty=True):
    """Eq. 5 in log space for log p(x|ŷ_n) of shape N x K; a switched-off term is 1 (Table 1)."""
    k = log_lik.shape[1]
    lp = torch.log(torch.as_tensor(prior, dtype=log_lik.dtype, device=log_lik.device)) if use_prior \
        else torch.zeros(k, dtype=log_lik.dtype, device=log_lik.device)
    ld = torch.log(torch.as_tensor(difficulty, dtype=log_lik.dtype, device=log_lik.device)) if use_difficulty \
        else torch.zeros(k, dtype=log_lik.dtype, device=log_lik.device)
    joint = log_lik + lp
    return -torch.expm1(torch.logsumexp(joint + ld, 1) - torch.logsumexp(joint, 1))


def released_score(loss: torch.Tensor, prior) -> torch.Tensor:
    """The authors' code: 1 - sum_n L_n p(ŷ_n) with L_n the masked VAE loss (N x K)."""
    return 1.0 - (loss * torch.as_tensor(prior, dtype=loss.dtype, device=loss.device)).sum(1)


class VabalVAE(nn.Module):
    def __init__(self, feat_dims, num_classes, per_class=10, hidden=128, encode=128, released=False):
        super().__init__()
        self.num_classes, self.released = num_classes, released
        pre = (lambda d: nn.Sequential(nn.Linear(d, encode), nn.ReLU(), nn.BatchNorm1d(encode))) if released \
            else (lambda d: nn.Sequential(nn.BatchNorm1d(d), nn.Linear(d, encode), nn.Sigmoid()))
        self.pre = nn.ModuleList(pre(d) for d in feat_dims)

        def mlp(d_in):
            layers = []
            for _ in range(3):
                layers += [nn.Linear(d_in, hidden), nn.ReLU()] + ([nn.BatchNorm1d(hidden)] if released else [])
                d_in = hidden
            return nn.Sequential(*layers)

        latent = per_class * num_classes
        self.enc, self.dec = mlp(encode * len(feat_dims)), mlp(latent)
        self.mu, self.logvar = nn.Linear(hidden, latent), nn.Linear(hidden, latent)
        self.out = nn.Linear(hidden, encode * len(feat_dims))

    def inputs(self, feats):
        return torch.cat([p(f) for p, f in zip(self.pre, feats)], 1)

    def encode(self, x):
        h = self.enc(x)
        return self.mu(h), self.logvar(h)

    def decode(self, z):
        return self.out(self.dec(z.reshape(-1, z.shape[-1]))).view(*z.shape[:-1], -1)


def vae_loss_terms(x_hat, x, mu, logvar, recon="gaussian", reduction="mean"):
    """Per-sample reconstruction and KL terms of L_VAE (Eq. 8); x_hat (..., D) against x broadcast."""
    if recon == "bernoulli":
        rec = F.binary_cross_entropy_with_logits(x_hat, x.expand_as(x_hat), reduction="none")
    else:
        rec = (x_hat - x).pow(2) * (0.5 if reduction == "sum" else 1.0)
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
    return (rec.sum(-1), kl.sum(-1)) if reduction == "sum" else (rec.mean(-1), kl.mean(-1))


def train_vae(feats, y_cls, num_classes, s, device, seed):
    """Train VaB-AL's VAE (Eq. 9) on features ``feats`` (list of N x C_i) with classifier labels ``y_cls``."""
    released = s.variant == "released"
    lr, drop = (0.01, 16) if released and s.lr is None else (s.lr or 1e-4, None)
    with seeded(seed, device):
        vae = VabalVAE([f.shape[1] for f in feats], num_classes, s.per_class, s.hidden, s.encode, released).to(device)
        opt = torch.optim.Adam(vae.parameters(), lr=lr)
        n, history = len(y_cls), []
        for epoch in range(-1 if released else 0, s.epochs):
            if drop is not None and epoch == drop:
                opt = torch.optim.Adam(vae.parameters(), lr=lr / 10)
            perm, total = torch.randperm(n, device=device), torch.zeros((), device=device)
            for i in range(0, n, s.batch_size):
                b = perm[i:i + s.batch_size]
                if len(b) < 2:
                    continue
                x = vae.inputs([f[b] for f in feats])
                mu, logvar = vae.encode(x)
                z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
                zd = mask_each_class(z, num_classes)[torch.arange(len(b), device=device), y_cls[b]] \
                    if s.train_mask else z
                rec, kl = vae_loss_terms(vae.decode(zd), x.detach(), mu, logvar, s.recon, s.reduction)
                rec, kl = rec.mean(), kl.mean()
                cls = F.cross_entropy(-class_weights(z, num_classes, s.weight), y_cls[b])
                loss = rec + kl + s.lam * cls
                if epoch >= 0:
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                total += loss.detach() * len(b)
            if epoch >= 0:
                history.append(total / n)
    return vae.eval(), [float(h) for h in history]


@torch.no_grad()
@torch.no_grad()
def mc_statistics(vae, feats, num_classes, s, with_loss=True):
    """Over ``mc_samples`` draws of z: VAE predictions (S x N) and the masked loss L_n (N x K), whose
    negation is log p(x|ŷ_n) (Eq. 8)."""
    x = vae.inputs(feats)
    mu, logvar = vae.encode(x)
    rows = max(1, s.chunk_elems // (s.mc_samples * num_classes * x.shape[1]))
    preds, losses = [], []
    for i in range(0, len(x), rows):
        m, lv, xi = mu[i:i + rows], logvar[i:i + rows], x[i:i + rows]
        z = m + torch.randn(s.mc_samples, *m.shape, device=m.device) * (0.5 * lv).exp()   # S x n x D
        preds.append(vae_prediction(z, num_classes, s.weight))
        if with_loss:
            x_hat = vae.decode(mask_each_class(z, num_classes))                               # S x n x K x d_x
            rec, kl = vae_loss_terms(x_hat, xi[None, :, None], m[None, :, None], lv[None, :, None], s.recon,
                                     s.reduction)
            losses.append((rec + kl).mean(0))
    return torch.cat(preds, 1), (torch.cat(losses).double() if with_loss else None)


@register("vabal")
class VaBAL(Strategy):
    needs_labelled = True   # learns from the labelled images (see Strategy)
    def __init__(self, variant: str = "paper", lam: float = 0.005, per_class: int = 10, hidden: int = 128,
                 encode: int = 128, epochs: int = 20, lr: float = None, batch_size: int = 128,
                 mc_samples: int = 100, weight: str = "square", use_prior: bool = True,
                 use_difficulty: bool = True, smoothing: float = 1.0, recon: str = "gaussian",
                 reduction: str = "mean", train_mask: bool = True, chunk_elems: int = 2 ** 25):
        if (variant not in ("paper", "released") or weight not in WEIGHTS or recon not in ("gaussian", "bernoulli")
                or reduction not in ("mean", "sum")):
            raise ValueError(f"variant in (paper, released), weight in {sorted(WEIGHTS)}, recon in (gaussian, "
                             f"bernoulli), reduction in (mean, sum); got {variant!r}, {weight!r}, {recon!r}, "
                             f"{reduction!r}")
        self.variant = variant            # "paper" (Eq. 5) or "released" (the authors' public code)
        self.lam = lam                    # lambda of Eq. 9 (Fig. 5(b), Fig. 8)
        self.per_class = per_class        # latent dimensions per class (paper: 10)
        self.hidden = hidden              # width of the VAE's FC layers (paper: 128)
        self.encode = encode              # width of each block's feature encoder (paper: 128 -> 512-d input)
        self.epochs = epochs              # VAE epochs over the unlabelled pool (paper: 20)
        self.lr = lr                      # Adam lr; None = the variant's (paper 1e-4; released 0.01 -> 0.001)
        self.batch_size = batch_size
        self.mc_samples = mc_samples      # Monte-Carlo draws of z for Eq. 8, 10, 11 (paper: 100)
        self.weight = weight              # w_n: square | abs | sigmoid (Table 2)
        self.use_prior = use_prior        # Table 1: p(ŷ) on/off
        self.use_difficulty = use_difficulty  # Table 1: p(y|ŷ) on/off
        self.smoothing = smoothing        # pseudo-counts for classes the VAE never predicts (see docstring)
        self.recon = recon                # gaussian | bernoulli reconstruction term
        self.reduction = reduction        # mean (authors' code) | sum (textbook ELBO) over features / latents
        self.train_mask = train_mask      # decoder trained on codes with the classifier's class masked
        self.chunk_elems = chunk_elems    # memory bound of one scoring chunk (floats)

    # parameters that change the arithmetic but not its amount (the same networks, passes and samples)
    COST_FREE = {"lam": 0.005, "weight": "square", "use_prior": True, "use_difficulty": True, "smoothing": 1.0}

    def for_planning(self):
        """This strategy with the parameters that do not change its cost at their defaults (``COST_FREE``:
        the ablations of Table 1 and 2 and Fig. 5(b) cost what VaB-AL costs), so a plan times them once."""
        return type(self)(**dict(self.get_params(), **self.COST_FREE)), 1.0

    def select(self, pool, budget):
        k_sel = self.check_budget(pool, budget)
        k = pool.num_classes
        both = np.concatenate([pool.unlabelled, pool.labelled])
        feats_all, logits = pool.pooled_features(both, with_logits=True)
        n_u = len(pool.unlabelled)
        unl, lab = [f[:n_u] for f in feats_all], [f[n_u:] for f in feats_all]
        y_cls = logits[:n_u].argmax(1)
        with seeded(pool.torch_seed(), pool.device):
            vae, history = train_vae(unl, y_cls, k, self, pool.device, pool.torch_seed())
            pred_u, loss = mc_statistics(vae, unl, k, self)
            pred_l, _ = mc_statistics(vae, lab, k, self, with_loss=False)
        y_lab = pool.labelled_labels
        prior, difficulty = class_statistics(y_lab, pred_l.cpu().numpy(), k, self.smoothing)
        if self.variant == "released":
            prior_u = np.bincount(pred_u.cpu().numpy().ravel(), minlength=k) / pred_u.numel()
            scores = released_score(loss, prior_u)
        else:
            scores = error_probability(-loss, prior, difficulty, self.use_prior, self.use_difficulty)
        self.diagnostics_ = {
            "prior": prior.tolist(), "difficulty": difficulty.tolist(), "vae_loss_per_epoch": history,
            "agreement_unlabelled": float((pred_u == y_cls[None]).double().mean()),
            "agreement_labelled": float((pred_l.cpu().numpy() == y_lab[None]).mean()),
            "score_mean": float(scores.mean()), "score_max": float(scores.max())}
        if self.variant == "released":
            self.diagnostics_["prior_unlabelled"] = prior_u.tolist()
        return pool.unlabelled[top_k(scores.cpu().numpy(), k_sel, pool.rng)]
