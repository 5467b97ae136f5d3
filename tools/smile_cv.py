"""Cross-validate the smile recipe on its training faces, to choose without the dev fifth.

    python -m tools.smile_cv [--epochs 15 30] [--heads 1 5]

SMILEsmileD's labels are noisy (by eye, many of the dev crops the head gets "wrong" are
labelled against what they show), and its dev fifth has 610 faces (±1.2 points): choosing a
recipe's knobs there would fit that noise. This splits each training set of ``rosto train
smile`` (the cached faces, ``rosto.training.smile.datasets``; run that first) into five folds
by position (a GENKI photo's colour and small grey copies fall in the same fold), trains the
recipe's heads on four, answers the fifth as served (view 0), and prints the out-of-fold
accuracy of each set, overall and per class. Needs the train extra (PyTorch).
"""

from __future__ import annotations

import argparse

import numpy as np

from rosto.training import common
from rosto.training import smile as recipe
from rosto.training.common import predict, seed_everything
from rosto.training.data import DATA

FOLDS = 5


def out_of_fold(train: recipe.Sets, epochs: int, heads: int) -> dict[str, str]:
    """Each set's out-of-fold accuracy (smiling / not smiling) of the mean of ``heads`` heads
    trained ``epochs`` epochs."""
    right: dict[str, np.ndarray] = {name: np.zeros(len(y), bool) for name, (_, y) in
                                    train.items()}  # fmt: skip
    for fold in range(FOLDS):
        rng = seed_everything(recipe.SEED + fold)
        held = {name: np.arange(len(y)) % FOLDS == fold for name, (_, y) in train.items()}
        rest = {name: (x[~held[name]], y[~held[name]]) for name, (x, y) in train.items()}
        fitted = [recipe.fit_head(rest, slice(0, recipe.FEATURES + 4), rng, epochs=epochs)
                  for _ in range(heads)]
        served = common.Averaged(fitted)
        for name, (x, y) in train.items():
            smiling = predict(served, np.ascontiguousarray(x[held[name], 0]))[:, 1] >= 0.5
            right[name][held[name]] = smiling == y[held[name]].astype(bool)
    return {name: f"{r.mean():.3f} ({r[y == 1].mean():.3f} / {r[y == 0].mean():.3f})"
            for (name, r), (_, y) in zip(right.items(), train.values(), strict=True)}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=[recipe.EPOCHS])
    parser.add_argument("--heads", type=int, nargs="+", default=[recipe.HEADS])
    args = parser.parse_args(argv)
    train, _ = recipe.datasets(DATA, fresh=False)
    for epochs in args.epochs:
        for heads in args.heads:
            scores = "  ".join(f"{k} {v}" for k, v in out_of_fold(train, epochs, heads).items())
            print(f"{epochs} epochs, {heads} head(s): {scores}", flush=True)


if __name__ == "__main__":
    main()
