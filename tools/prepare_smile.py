"""Bring the whole of GENKI-4K and SMILEsmileD into the training data cache, guarded.

    python -m tools.prepare_smile genki4k GITDIR      # we333/expression_detect (GENKI-4K)
    python -m tools.prepare_smile smilesmiled GITDIR  # hromi/SMILEsmileD

As ``tools.prepare_faces`` does (and with its helpers): the pinned commit's images are read
blob by blob into ``~/.cache/rosto/data/<name>/`` (``ROSTO_DATA_CACHE``), outside the
repository; ``../shared/tools/unseen_guard.py`` runs on the folder and every file it reports
is DELETED; ``manifest.csv`` lists what is left (file, label ``smile``/``non_smile``, path in
the source repository: ``rosto.training.data.smile_cached`` splits by it, as the benchmark
splits ``../shared/data/smile``) and ``guard.json`` records the guard it passed.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
from pathlib import Path

from tools.prepare_faces import Dataset, data_cache, export, git_dir, guard_reports, guard_version

GENKI = Dataset("we333/expression_detect", "be7c71721ad891b743aa7cd61378fcf572589166",
                "genki4k/files",
                "GENKI-4K (MPLab, UC San Diego): research use only; the repository states no "
                "licence")  # fmt: skip
SMILES = "6afac66f50061948eed7da5a351cecd9c4a99fe3"
SMILE_FOLDERS = {  # hromi/SMILEsmileD: cache folder → its 64² grey crops in the repository
    "smile": Dataset("hromi/SMILEsmileD", SMILES, "SMILEs/positives/positives7",
                     "SMILEsmileD: LFW-derived crops labelled by D. Hromada; research use, no "
                     "licence stated"),
    "non_smile": Dataset("hromi/SMILEsmileD", SMILES, "SMILEs/negatives/negatives7",
                         "SMILEsmileD: LFW-derived crops labelled by D. Hromada; research use, "
                         "no licence stated"),
}  # fmt: skip


def genki_labels(gitdir: Path) -> dict[str, str]:
    """``fileNNNN.jpg`` → label: line N of ``labels.txt`` starts with 1 (smile) or 0."""
    text = subprocess.run(["git", "--git-dir", str(gitdir), "show",
                           f"{GENKI.commit}:genki4k/labels.txt"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    return {f"file{n:04d}.jpg": ("non_smile", "smile")[int(line.split()[0])]
            for n, line in enumerate(text.splitlines(), 1)}  # fmt: skip


def prepare(name: str, source: Path) -> dict:
    gitdir, folder = git_dir(source), data_cache() / name
    if name == "genki4k":
        labels = genki_labels(gitdir)
        export(GENKI, gitdir, folder / "images")
        files = [(f"images/{n}", label, f"{GENKI.folder}/{n}") for n, label in labels.items()]
        first = GENKI
    else:
        files = []
        for label, ds in SMILE_FOLDERS.items():
            export(ds, gitdir, folder / label)
            files += [(f"{label}/{p.name}", label, f"{ds.folder}/{p.name}")
                      for p in sorted((folder / label).iterdir())]  # fmt: skip
        first = SMILE_FOLDERS["smile"]
    reported = guard_reports(folder)
    for path in reported:
        path.unlink()
    kept = [f for f in files if (folder / f[0]).is_file()]
    with open(folder / "manifest.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "label", "source_path"])
        writer.writerows(kept)
    record = {"repo": first.repo, "commit": first.commit, "terms": first.terms,
              "guard": guard_version(), "dropped_by_guard": len(reported),
              "kept": len(kept)}  # fmt: skip
    (folder / "guard.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=("genki4k", "smilesmiled"))
    parser.add_argument("gitdir", type=Path, help="a clone or git directory of the source repo")
    args = parser.parse_args(argv)
    print(json.dumps(prepare(args.name, args.gitdir), indent=1))


if __name__ == "__main__":
    main()
