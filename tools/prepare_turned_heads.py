"""Bring CFP's profile photos with their fiducial points into the data cache, guarded.

    python -m tools.prepare_turned_heads GITDIR   # zhangjunh/DR-GAN-by-pytorch (clone or git dir)

Celebrities in Frontal-Profile (CFP, Sengupta et al. 2016) holds 4 profile photos of each of
500 people (yaw about 60-90°, some less), each with 30 hand-placed fiducial points (``x,y``
lines) over the visible half of the face: jaw, eye, brow, nose, mouth. The fine-pass detector's
turned-head stage (``rosto.training.fine_faces.turned_heads``) pastes them beside AFLW2000-3D's
training fold, whose 190 heads were its only turned ones. The pinned commit's
``cfp-dataset/Data/Images/{train,test}/NNN/profile/MM.jpg`` and
``cfp-dataset/Data/Fiducials/NNN/profile/MM.txt`` are read blob by blob
(``tools.prepare_faces.write_blobs``) into ``~/.cache/rosto/data/cfp_profiles/`` as
``NNN_MM.jpg`` and ``NNN_MM.txt`` (``ROSTO_DATA_CACHE``), outside the repository; the frontal
photos are not read. Then every photo that ``../shared/tools/unseen_guard.py`` reports is
DELETED with its points, and so is any that is the same picture as a dev photo of
``landmarks_helen/`` or ``groups/`` (``tools.prepare_landmarks.dev_duplicates``; none of the
detection benchmark's faces may train it). ``guard.json`` records the source, the guard it
passed and the counts.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tools.prepare_faces import (
    Dataset,
    data_cache,
    git_dir,
    write_blobs,
)
from tools.prepare_landmarks import command_line, guarded

CFP_PROFILES = Dataset("zhangjunh/DR-GAN-by-pytorch", "12de9e083449d5ab0b6cd63afc8df697bd7f63c2",
                       "cfp-dataset/Data",
                       "CFP (Sengupta et al., WACV 2016): research use only, as its site states; "
                       "the repository states no licence")  # fmt: skip
IMAGE = re.compile(r"Images/(?:train|test)/(\d{3})/profile/(\d{2})\.jpg")
POINTS = re.compile(r"Fiducials/(\d{3})/profile/(\d{2})\.txt")


def profile_blobs(gitdir: Path) -> list[tuple[str, str]]:
    """(blob id, ``NNN_MM.jpg`` / ``NNN_MM.txt``) of every profile photo and its points."""
    listing = subprocess.run(["git", "--git-dir", str(gitdir), "ls-tree", "-r", "-z",
                              CFP_PROFILES.commit, CFP_PROFILES.folder + "/"],
                             capture_output=True, check=True).stdout  # fmt: skip
    blobs = []
    for entry in filter(None, listing.split(b"\0")):
        meta, path = entry.decode().split("\t", 1)
        for pattern, suffix in ((IMAGE, ".jpg"), (POINTS, ".txt")):
            if m := pattern.search(path):
                blobs.append((meta.split()[2], f"{m.group(1)}_{m.group(2)}{suffix}"))
    return blobs


def prepare(source: Path) -> dict:
    folder = data_cache() / "cfp_profiles"
    write_blobs(git_dir(source), profile_blobs(git_dir(source)), folder)
    for points in folder.glob("*.txt"):  # points without a photo, photos without points
        if not points.with_suffix(".jpg").is_file():
            points.unlink()
    for photo in folder.glob("*.jpg"):
        if not photo.with_suffix(".txt").is_file():
            photo.unlink()
    read = CFP_PROFILES.folder + "/{Images,Fiducials}/…/profile"
    return guarded(folder, CFP_PROFILES, ".txt", read)


def main(argv: list[str] | None = None) -> None:
    command_line(prepare, __doc__, argv)


if __name__ == "__main__":
    main()
