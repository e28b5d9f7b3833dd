"""`linear-probe`: transfer learning, a linear classifier on the frozen extractor's embeddings."""

from __future__ import annotations

import numpy as np
import torch

from audit.devices import module_device, torch_device
from audit.extractors import ExtractorSpec
from audit.face.detection import FaceDetector
from trackers.base import EmbeddingTracker

HEADS = ("logreg", "softmax")


class LinearProbeTracker(EmbeddingTracker):
    """A linear head over frozen features: the tracker of Fawkes's and Tramèr's evaluations.

    `head=logreg`: standardised features and scikit-learn's logistic regression (Radiya-Dixit
    & Tramèr). `head=softmax`: a torch linear layer trained with cross-entropy and Adam for
    `epochs` (Fawkes), on `device`. Both are deterministic for a given `seed`.
    """

    name = "linear-probe"

    def __init__(self, head: str = "logreg", c: float = 1.0, epochs: int = 100, lr: float = 0.01, seed: int = 0,
                 extractor: str | ExtractorSpec = "dlib-resnet", face_detector: str | FaceDetector = "mtcnn",
                 device: str = "auto") -> None:
        """head: logreg (scikit-learn on standardised features) or softmax (a torch linear layer, as Fawkes trains)
        c: logreg's inverse regularisation strength
        epochs: softmax's training epochs
        lr: softmax's Adam learning rate
        seed: softmax's initialisation and batch order"""
        super().__init__(extractor, face_detector, device)
        if head not in HEADS:
            raise ValueError(f"linear-probe: head={head!r}; choose {', '.join(HEADS)}")
        if c <= 0 or lr <= 0 or epochs < 1:
            raise ValueError("linear-probe: c and lr must be positive, epochs at least 1")
        self.head = head
        self.c = c
        self.epochs = epochs
        self.lr = lr
        self.seed = seed

    def fit_embeddings(self, embeddings: np.ndarray, labels: list[str]) -> None:
        self.classes_ = np.array(sorted(set(labels)))
        targets = np.searchsorted(self.classes_, labels)
        self.mean_ = embeddings.mean(0)
        self.scale_ = embeddings.std(0) + 1e-8
        features = (embeddings - self.mean_) / self.scale_
        if self.head == "logreg":
            from sklearn.linear_model import LogisticRegression

            self.model_ = LogisticRegression(C=self.c, max_iter=2000, random_state=self.seed).fit(features, targets)
        else:
            device = torch_device(self.device)
            generator = torch.Generator().manual_seed(self.seed)
            layer = torch.nn.Linear(features.shape[1], len(self.classes_))
            with torch.no_grad():
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * 0.01)
                layer.bias.zero_()
            layer.to(device)
            optimiser = torch.optim.Adam(layer.parameters(), lr=self.lr)
            x, y = torch.from_numpy(features).float().to(device), torch.from_numpy(targets).to(device)
            for _ in range(self.epochs):
                optimiser.zero_grad()
                torch.nn.functional.cross_entropy(layer(x), y).backward()
                optimiser.step()
            self.model_ = layer.eval()

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        features = (embeddings - self.mean_) / self.scale_
        if self.head == "logreg":
            return self.model_.predict_proba(features)
        with torch.no_grad():
            x = torch.from_numpy(features).float().to(module_device(self.model_))
            return torch.softmax(self.model_(x), dim=1).cpu().numpy()

    def rank_embeddings(self, embeddings: np.ndarray, depth: int) -> list[list[str]]:
        order = np.argsort(-self.scores(embeddings), axis=1, kind="stable")[:, :depth]
        return [list(self.classes_[row]) for row in order]
