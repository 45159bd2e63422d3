"""Build data_manifests/photos.json: every real photograph the embedded default data is made from.

Run once by a maintainer (``python scripts/build_photo_manifest.py``) on a machine with the Debian wallpaper
packages installed; the output is committed. The test split is drawn per source with a fixed seed, so that
no crop of a test photo is ever trained on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from blurkit.data.images import sha256_file  # noqa: E402

PLASMA = "/usr/share/wallpapers/{}/contents/images/{}"
PLASMA_PHOTOS = {  # photographs only (the package also ships illustrations)
    "BytheWater": ("1920x1080.jpg", "Maciej Wiklo"), "ColdRipple": ("1920x1080.jpg", "Risto Saukonpää"),
    "ColorfulCups": ("2560x1600.jpg", "Dmitri Popov"), "DarkestHour": ("1920x1080.jpg", "Risto Saukonpää"),
    "EveningGlow": ("1920x1080.jpg", "Ian Hex"), "FallenLeaf": ("1920x1080.jpg", "Martin Klapetek"),
    "Grey": ("1920x1080.jpg", "Sigi Sagi"), "Kite": ("1920x1080.jpg", "Risto Saukonpää"),
    "MilkyWay": ("1080x1920.png", "ruvkr"), "OneStandsOut": ("1920x1080.jpg", "Risto Saukonpää"),
    "Path": ("1920x1080.jpg", "Risto Saukonpää"), "summer_1am": ("1920x1080.jpg", "Risto Saukonpää"),
    "Volna": ("5120x2880.jpg", "Nikita Babin"),
}
PLASMA_LICENCE = {"MilkyWay": "CC-BY-SA-4.0", "Volna": "CC-BY-SA-4.0"}
PLASMA_ILLUSTRATIONS = {"Autumn": "1920x1080.jpg", "SafeLanding": "1622x2880.jpg", "FlyingKonqui": "1920x1080.png"}
MATE = ["Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops", "Storm",
        "TwoWings", "Wood", "YellowFlower"]
LXQT = ["Butterfly-Kenneth-Wimer.jpg", "after-the-rain.jpg", "fog.jpg", "this-is-not-windows.jpg", "Valendas.png",
        "appleflower.png", "beam.png", "butterfly.png", "cloud.png", "drop.png", "flowers.png"]
SKIMAGE = {"astronaut": ("astronaut.png", "public domain (NASA)"), "coffee": ("coffee.png", "CC0 (Rachel Michetti)"),
           "chelsea": ("chelsea.png", "CC0 (Stefan van der Walt)"), "rocket": ("rocket.jpg", "public domain (SpaceX)"),
           "motorcycle_left": ("motorcycle_left.png", "Middlebury stereo data set, research use"),
           "motorcycle_right": ("motorcycle_right.png", "Middlebury stereo data set, research use"),
           "camera": ("camera.png", "public domain (MIT); grayscale")}
SKLEARN = {"china": ("china.jpg", "CC BY 2.0 (Flickr)"), "flower": ("flower.jpg", "CC BY 2.0 (Flickr)")}


def entry(pid: str, source: str, locator: dict, path: Path, licence: str, kind: str = "photo") -> dict:
    with Image.open(path) as im:
        w, h = im.size
    # the two motorcycle views are one scene (a stereo pair): they must fall into the same split
    scene = pid.replace("_left", "").replace("_right", "")
    return {"id": pid, "scene": scene, "source": source, "locator": locator, "sha256": sha256_file(path), "bytes": path.stat().st_size,
            "width": w, "height": h, "licence": licence, "kind": kind}


def main() -> None:
    import skimage
    import sklearn

    sk_dir = Path(skimage.__file__).parent / "data"
    sl_dir = Path(sklearn.__file__).parent / "datasets" / "images"
    photos = []
    for pid, (f, lic) in SKIMAGE.items():
        photos.append(entry(f"skimage-{pid}", "pip:scikit-image", {"package": "skimage", "file": f"data/{f}"},
                            sk_dir / f, lic, "grayscale-photo" if pid == "camera" else "photo"))
    for pid, (f, lic) in SKLEARN.items():
        photos.append(entry(f"sklearn-{pid}", "pip:scikit-learn", {"package": "sklearn", "file": f"datasets/images/{f}"},
                            sl_dir / f, lic))
    for name, (f, author) in PLASMA_PHOTOS.items():
        p = Path(PLASMA.format(name, f))
        photos.append(entry(f"plasma-{name}", "debian:plasma-workspace-wallpapers", {"path": str(p)}, p,
                            f"{PLASMA_LICENCE.get(name, 'LGPL-3.0')} ({author})"))
    for name, f in PLASMA_ILLUSTRATIONS.items():
        p = Path(PLASMA.format(name, f))
        photos.append(entry(f"plasma-{name}", "debian:plasma-workspace-wallpapers", {"path": str(p)}, p,
                            "LGPL-3.0 (KDE)", "illustration"))
    for name in MATE:
        p = Path(f"/usr/share/backgrounds/mate/nature/{name}.jpg")
        photos.append(entry(f"mate-{name}", "debian:mate-backgrounds", {"path": str(p)}, p, "GPL-2.0-or-later"))
    for f in LXQT:
        p = Path(f"/usr/share/lxqt/wallpapers/{f}")
        photos.append(entry(f"lxqt-{Path(f).stem}", "debian:lxqt-themes", {"path": str(p)}, p, "CC-BY-SA-3.0"))
    # split by photo, per source, fixed seed: about a quarter of the photographs of each source are test photos
    rng = np.random.default_rng(20210619)
    for source in sorted({p["source"] for p in photos}):
        scenes = sorted({p["scene"] for p in photos if p["source"] == source and p["kind"] == "photo"})
        n_test = max(1, round(len(scenes) / 4))
        test = set(rng.permutation(scenes)[:n_test].tolist())
        for p in photos:
            if p["source"] == source:
                p["split"] = "test" if (p["scene"] in test or p["kind"] != "photo") else "train"
    out = {
        "description": "Real photographs shipped by installed packages, the source of blurkit's embedded default "
                       "data. Split by photo: no crop of a test photo is ever trained on. Illustrations and the "
                       "grayscale photo are test-only targets (blur transfer to other image kinds).",
        "sources": {
            "pip:scikit-image": "bundled sample images of scikit-image (pip install scikit-image)",
            "pip:scikit-learn": "sklearn.datasets.load_sample_images (pip install scikit-learn)",
            "debian:plasma-workspace-wallpapers": "apt-get install plasma-workspace-wallpapers",
            "debian:mate-backgrounds": "apt-get install mate-backgrounds",
            "debian:lxqt-themes": "apt-get install lxqt-themes",
        },
        "photos": photos,
    }
    target = Path(__file__).resolve().parents[1] / "data_manifests" / "photos.json"
    target.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(photos)} photos -> {target}")


if __name__ == "__main__":
    main()
