#!/usr/bin/env bash
# Install the Debian packages whose real photographs make up most of the default data, and the font packages of the
# scene-text domain (their list is data_manifests/text_fonts.json's debian_packages).
# Skipped with a clear note where apt is not available or we are not root; blurkit then uses the
# photographs that pip packages ship (scikit-image, scikit-learn) alone, and the text domain the fonts present.
set -u
cd "$(dirname "$0")/.."
FONTS="$(python3 -c 'import json; print(" ".join(json.load(open("data_manifests/text_fonts.json"))["debian_packages"]))')"
# tesseract-ocr reads the text crops back (the text domain's OCR character accuracy).
PKGS="plasma-workspace-wallpapers mate-backgrounds lxqt-themes $FONTS tesseract-ocr tesseract-ocr-eng"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
[ -z "$missing" ] && { echo "system photos and fonts: installed"; exit 0; }
if ! command -v apt-get >/dev/null 2>&1; then
  echo "note: apt-get not available; skipping$missing (the default data will use the pip-shipped photos only)"; exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "note: not root; skipping$missing (run: sudo apt-get install$missing)"; exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends $missing >/tmp/blurkit-apt.log 2>&1; then
  apt-get update -q >>/tmp/blurkit-apt.log 2>&1
  apt-get install -y -q --no-install-recommends $missing >>/tmp/blurkit-apt.log 2>&1 \
    || { echo "note: could not install$missing (see /tmp/blurkit-apt.log); continuing with pip-shipped photos"; exit 0; }
fi
echo "system photos and fonts: installed$missing"
