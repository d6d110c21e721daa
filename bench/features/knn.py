"""k-nearest-neighbour accuracy of features (k = 20, cosine): how a feature set is judged without training a
classifier on it (as in the SimCLR and TypiClust papers' monitors)."""
import torch
import torch.nn.functional as F


@torch.no_grad()
def knn_accuracy(train: torch.Tensor, y_train: torch.Tensor, test: torch.Tensor, y_test: torch.Tensor,
                 k: int = 20, chunk: int = 1024) -> float:
    """Share of test rows whose k most cosine-similar training rows vote for their label (majority; a tie goes
    to the class with the larger summed similarity)."""
    train, test = F.normalize(train.float(), dim=1), F.normalize(test.float(), dim=1)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    k = min(k, len(train))
    correct = 0
    for i in range(0, len(test), chunk):
        sim, idx = (test[i:i + chunk] @ train.T).topk(k, dim=1)
        votes = F.one_hot(y_train[idx], n_classes).float()
        score = votes.sum(1) + 1e-6 * (votes * sim.unsqueeze(2)).sum(1)
        correct += int((score.argmax(1) == y_test[i:i + chunk]).sum())
    return correct / max(1, len(test))


def raw_pixels(x: torch.Tensor) -> torch.Tensor:
    """Images as their flattened pixels, each channel standardised over the set: the baseline features."""
    xf = x.float()
    mean = xf.mean(dim=(0, 2, 3), keepdim=True)
    std = xf.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return ((xf - mean) / std).flatten(1)
