"""OCR character accuracy on rendered words: sharp text reads, heavily blurred text does not."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import uniform_filter

from blurkit.data.text_crops import render_text_crop
from blurkit.deblur import ocr
from blurkit.deblur.ocr import char_accuracy, edit_distance, ocr_accuracy, read_text
from blurkit.errors import BlurkitError

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
WORDS = ["garden", "window", "river", "planet"]


def test_edit_distance_and_accuracy() -> None:
    assert edit_distance("kitten", "sitting") == 3 and edit_distance("", "abc") == 3 and edit_distance("ab", "ab") == 0
    assert char_accuracy("Garden", "garden") == 1.0
    assert char_accuracy("gard en", "garden") == 1.0
    assert char_accuracy("gardn", "garden") == pytest.approx(1 - 1 / 6)
    assert char_accuracy("xxxxxxxxxxxx", "abc") == 0.0
    with pytest.raises(ValueError, match="non-empty"):
        char_accuracy("a", " ")


needs_tesseract = pytest.mark.skipif(ocr.shutil.which("tesseract") is None, reason="tesseract-ocr not installed")


def _crop(word: str) -> np.ndarray:
    return render_text_crop(word, FONT, np.full((64, 64, 3), 0.85, np.float32), size=64, seed=3)


@needs_tesseract
def test_sharp_words_read_and_blur_destroys_them() -> None:
    if not ocr.Path(FONT).is_file():
        pytest.skip("DejaVu font absent")
    sharp = [ocr_accuracy(_crop(w), w) for w in WORDS]
    blurred = [ocr_accuracy(uniform_filter(_crop(w), size=(9, 9, 1)), w) for w in WORDS]
    assert np.mean(sharp) >= 0.75, sharp
    assert np.mean(blurred) < np.mean(sharp) - 0.25, (sharp, blurred)


@needs_tesseract
def test_read_text_is_deterministic_and_checks_input() -> None:
    if not ocr.Path(FONT).is_file():
        pytest.skip("DejaVu font absent")
    img = _crop("river")
    assert read_text(img) == read_text(img)
    with pytest.raises(ValueError, match="image"):
        read_text(np.zeros((2, 2, 3)))


def test_missing_tesseract_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    ocr._tesseract.cache_clear()
    monkeypatch.setattr(ocr.shutil, "which", lambda name: None)
    try:
        with pytest.raises(BlurkitError, match="tesseract-ocr") as exc:
            read_text(np.zeros((8, 8)))
        assert "\n" not in str(exc.value)
    finally:
        ocr._tesseract.cache_clear()
