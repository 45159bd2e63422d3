"""The claim logic behind the paper-vs-ours tables, on constructed per-image numbers.

`paper.compare` puts the paper's numbers beside ours; the Table 2/3/4/5 builders and Fig. 3's summary test each
claim on per-image PSNRs of the same images for both sides (a paired bootstrap interval, `verdict` holds / fails /
inconclusive). Here the per-image numbers are chosen, so every verdict can be worked out by hand: a constant offset
plus a zero-sum wobble gives a difference of exactly that offset with a tight interval around it. The steps that
train and evaluate (the `*_rows` functions) run with stubs in place of building, training and evaluating.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from blurkit.errors import BlurkitError, UnknownNameError
from blurkit.experiments import baseline_report as br
from blurkit.experiments.deblur_report import methods_summary, table3
from blurkit.experiments.paired import paired_by_image, paired_difference, verdict_columns
from blurkit.paper import compare, paper_table

BASE = np.array([28.0, 29.5, 27.2, 30.1, 28.8, 29.0, 26.4, 31.2])  # per-image PSNR of the "other" side
WOBBLE = np.array([0.1, -0.1, 0.2, -0.2, 0.05, -0.05, 0.15, -0.15])  # sums to zero
IMAGES = [f"{i:05d}" for i in range(len(BASE))]


def per_image(entry: str, values: np.ndarray, images: list[str] = IMAGES, blurry: float = 20.0) -> pd.DataFrame:
    """Rows as the ``*_rows`` functions build them."""
    return pd.DataFrame({"entry": entry, "image": images[:len(values)], "psnr": values, "blurry_psnr": blurry,
                         "data_ours": f"data of {entry}"})


def claims(df: pd.DataFrame) -> dict:
    """entry -> verdict for the rows that test a claim."""
    return {e: v for e, v in zip(df.entry, df.verdict) if isinstance(v, str)}


def test_compare_rows_follow_the_paper_then_ours_only_entries() -> None:
    paper = paper_table("table2_blur_swapped_training")
    ours = {"blur-swapped/REDS": 27.5, "original/REDS": 28.0, "mine/extra": 1.0}
    df = compare("table2_blur_swapped_training", ours)
    assert list(df.columns) == ["entry", "paper", "ours"]  # no claim here: the builders test claims on pairs
    assert list(df.entry) == [*paper, "mine/extra"]
    assert df.paper.tolist()[:4] == list(paper.values()) and pd.isna(df.paper.iloc[4])
    by = df.set_index("entry")
    assert by.ours["original/REDS"] == 28.0 and by.ours["blur-swapped/REDS"] == 27.5 and by.ours["mine/extra"] == 1.0
    assert by.ours.isna().tolist() == [False, True, False, True, False]  # no number of ours for GOPRO


def test_paper_table_is_a_copy_and_unknown_names_list_the_known() -> None:
    t = paper_table("table1_kernel_extraction_levin")
    t["kernel 1"] = 0.0
    assert paper_table("table1_kernel_extraction_levin")["kernel 1"] == 49.48
    with pytest.raises(UnknownNameError, match="table2_blur_swapped_training"):
        compare("table9", {})
    with pytest.raises(UnknownNameError, match="known"):
        paper_table("citation")  # a key of the file, but not a table


def test_pairs_are_the_shared_images_in_name_order() -> None:
    a = pd.Series(BASE + 1 + WOBBLE, index=IMAGES)
    b = pd.Series(BASE, index=IMAGES)
    d = paired_by_image(a, b)
    assert d == paired_difference(a.to_numpy(), b.to_numpy())  # the same images, the same order
    assert paired_by_image(a.iloc[::-1], b.sample(frac=1, random_state=3)) == d  # row order does not matter
    extra = pd.concat([b, pd.Series([99.0], index=["only-b"])])
    assert paired_by_image(a, extra) == d  # an image one side lacks is left out
    assert paired_by_image(a.iloc[:5], b).n == 5
    with pytest.raises(ValueError, match="n >= 2"):
        paired_by_image(a.iloc[:1], b)
    cols = verdict_columns(d)
    assert cols["verdict"] == "holds" and cols["n"] == 8 and cols["diff_db"] == pytest.approx(1.0)
    assert cols["ci_low"] < 1.0 < cols["ci_high"] and verdict_columns(None) == dict.fromkeys(cols)


def test_table2_claim_is_original_beats_swapped_image_by_image() -> None:
    # paper: original beats blur-swapped (+1.27 dB REDS, +1.71 dB GOPRO). Ours, per image: REDS +1.0 (holds),
    # GOPRO -0.5 (fails)
    rows = pd.concat([per_image("original/REDS", BASE + 1.0 + WOBBLE), per_image("blur-swapped/REDS", BASE),
                      per_image("original/GOPRO", BASE - 0.5 + WOBBLE), per_image("blur-swapped/GOPRO", BASE)])
    df = br.table2(rows)
    by = df.set_index("entry")
    assert list(df.entry) == ["original/REDS", "original/GOPRO", "blur-swapped/REDS", "blur-swapped/GOPRO"]
    assert by.ours.to_dict() == pytest.approx({"original/REDS": BASE.mean() + 1, "original/GOPRO": BASE.mean() - 0.5,
                                               "blur-swapped/REDS": BASE.mean(), "blur-swapped/GOPRO": BASE.mean()})
    assert by.gap_ours.tolist() == pytest.approx([1.0, -0.5, 1.0, -0.5])
    assert by.gap_paper.tolist() == pytest.approx([1.27, 1.71, 1.27, 1.71])
    assert claims(df) == {"original/REDS": "holds", "original/GOPRO": "fails"}  # one claim per dataset
    assert by.claim["original/REDS"] == "original > blur-swapped" and pd.isna(by.claim["blur-swapped/REDS"])
    assert by.diff_db.tolist()[:2] == pytest.approx([1.0, -0.5]) and by.diff_db.iloc[2:].isna().all()
    assert (by.ci_low.iloc[:2] < by.diff_db.iloc[:2]).all() and (by.diff_db.iloc[:2] < by.ci_high.iloc[:2]).all()
    assert by.ci_low["original/REDS"] > 0.8 and by.ci_high["original/GOPRO"] < -0.3
    assert by.n.tolist()[:2] == [8, 8] and by.n.iloc[2:].isna().all() and (by.n_test == 8).all()
    assert (df.blurry_psnr == 20.0).all() and by.data_ours["blur-swapped/GOPRO"] == "data of blur-swapped/GOPRO"
    assert "claim_holds" not in df and br.table2(rows).equals(df)  # seeded


def test_table2_zero_mean_difference_is_inconclusive() -> None:
    rows = pd.concat([per_image("original/GOPRO", BASE + WOBBLE), per_image("blur-swapped/GOPRO", BASE)])
    df = br.table2(rows)
    assert list(df.entry) == ["original/GOPRO", "blur-swapped/GOPRO"]  # one domain: its rows only
    assert claims(df) == {"original/GOPRO": "inconclusive"}
    assert df.diff_db[0] == pytest.approx(0.0, abs=1e-12) and df.ci_low[0] < 0 < df.ci_high[0]


def _stub(monkeypatch: pytest.MonkeyPatch, psnr_of: dict[tuple[str, str], np.ndarray]) -> list:
    """Replace building, training and evaluating: ``psnr_of[(run name, test set)]`` is the baseline's per-image
    PSNR; each test set has ``len(BASE)`` pairs."""
    trained: list = []

    def ensure_baseline(model, profile, data, run, threads=None, progress=True):  # type: ignore[no-untyped-def]
        trained.append((model, Path(run).name, Path(str(data)).name))
        return Path(run)

    def baseline_per_image(run, test):  # type: ignore[no-untyped-def]
        values = psnr_of[(Path(run).name, test[0][0].parent.parent.name)]
        return pd.DataFrame({"image": [Path(s).stem for s, _ in test], "psnr": values[:len(test)],
                             "blurry_psnr": 20.0})

    def test_pairs(data, profile, n_test):  # type: ignore[no-untyped-def]
        root = Path("/nowhere") / Path(str(data)).name
        return [(root / "sharp" / f"{n}.png", root / "blur" / f"{n}.png") for n in IMAGES][:n_test]

    monkeypatch.setattr(br, "rebuilt", lambda make, folder: Path(folder))
    monkeypatch.setattr(br, "combine_folders", lambda parts, out: Path(out))
    monkeypatch.setattr(br, "_test", test_pairs)
    monkeypatch.setattr(br, "ensure_baseline", ensure_baseline)
    monkeypatch.setattr(br, "baseline_per_image", baseline_per_image)
    return trained


def test_table2_rows_test_both_runs_on_the_domains_test_pairs(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    psnr_of = {("srn-original-reds-like", "reds-like"): BASE + 1 + WOBBLE, ("srn-blur-swapped-reds-like",
                                                                             "reds-like"): BASE,
               ("srn-original-gopro-like", "gopro-like"): BASE + WOBBLE, ("srn-blur-swapped-gopro-like",
                                                                          "gopro-like"): BASE}
    trained = _stub(monkeypatch, psnr_of)
    rows = br.table2_rows("smoke", tmp_path / "work", {"reds-like": "ks-r", "gopro-like": "ks-g"})
    assert list(rows.columns) == ["entry", "image", "psnr", "blurry_psnr", "data_ours"] and len(rows) == 32
    assert rows.groupby("entry", sort=False).image.apply(list).to_dict() == dict.fromkeys(
        ["original/REDS", "blur-swapped/REDS", "original/GOPRO", "blur-swapped/GOPRO"], IMAGES)
    assert ("srn", "srn-blur-swapped-reds-like", "swap-reds-like") in trained  # trained on the swapped folder
    by = rows.groupby("entry").data_ours.first()
    assert "swapped by ks-g" in by["blur-swapped/GOPRO"] and "swapped" not in by["original/REDS"]
    assert claims(br.table2(rows)) == {"original/REDS": "holds", "original/GOPRO": "inconclusive"}


def test_table4_claim_is_combined_beats_motion_only_on_unseen_kernels() -> None:
    # paper gaps (comb. - imgaug): imgaug -0.34 (shown, not tested), REDS +4.15, GOPRO +0.96. Ours per image:
    # imgaug -0.5, REDS +1.0 (holds), GOPRO -0.5 (fails)
    rows = pd.concat([per_image("imgaug/test imgaug", BASE), per_image("imgaug/test REDS", BASE - 3),
                      per_image("imgaug/test GOPRO", BASE - 4), per_image("comb./test imgaug", BASE - 0.5 + WOBBLE),
                      per_image("comb./test REDS", BASE - 2 + WOBBLE),
                      per_image("comb./test GOPRO", BASE - 4.5 + WOBBLE)])
    df = br.table4(rows)
    assert list(df.entry) == ["imgaug/test imgaug", "imgaug/test REDS", "imgaug/test GOPRO", "comb./test imgaug",
                              "comb./test REDS", "comb./test GOPRO"]
    assert df.gap_ours.tolist() == pytest.approx([-0.5, 1.0, -0.5] * 2)
    assert df.gap_paper.tolist() == pytest.approx([-0.34, 4.15, 0.96] * 2)
    assert claims(df) == {"comb./test REDS": "holds", "comb./test GOPRO": "fails"}
    assert set(df.claim.dropna()) == {"comb. > imgaug"} and df.n.dropna().tolist() == [8, 8]
    assert df.diff_db.dropna().tolist() == pytest.approx([1.0, -0.5])
    # zero-mean differences: inconclusive
    flat = pd.concat([per_image("imgaug/test REDS", BASE), per_image("comb./test REDS", BASE + WOBBLE)])
    assert claims(br.table4(flat)) == {"comb./test REDS": "inconclusive"}


def test_table4_rows_train_two_runs_and_test_each_on_every_set(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    psnr_of = {(run, test): BASE + i for i, (run, test) in enumerate(
        (r, t) for r in ("srn-imgaug", "srn-comb") for t in ("motion-test", "reds-like-kernels-test"))}
    trained = _stub(monkeypatch, psnr_of)
    rows = br.table4_rows("smoke", tmp_path / "work", {"reds-like": "ks-r"})
    assert list(dict.fromkeys(rows.entry)) == ["imgaug/test imgaug", "imgaug/test REDS", "comb./test imgaug",
                                               "comb./test REDS"]  # no gopro-like kernel space: no GOPRO rows
    assert [t[1:] for t in trained] == [("srn-imgaug", "motion-train"), ("srn-comb", "combined-train")]
    assert rows.groupby("entry").data_ours.first()["comb./test REDS"].endswith("test: reds-like-kernels-test")
    df = br.table4(rows)
    assert df.gap_ours.tolist() == pytest.approx([2.0, 2.0] * 2)
    assert claims(df) == {"comb./test REDS": "holds"}  # a constant +2 dB: the interval is that point
    assert (df.ci_low.dropna() == 2.0).all() and (df.ci_high.dropna() == 2.0).all()
    with pytest.raises(BlurkitError, match="reds-like"):
        br.table4_rows("smoke", tmp_path / "work", {"gopro-like": "ks-g"})


def test_supp_table5_claims_are_the_adjacent_pairs_of_the_ranking() -> None:
    # paper, both ways: ours > SRN-Deblur > DeblurGANv2. GOPRO: ours +1.0 over SRN on its 5 images (holds),
    # SRN -0.5 under DeblurGANv2 (fails). HIDE: SRN = DeblurGANv2 on average (inconclusive), no kernel space.
    rows = pd.concat([per_image("GOPRO/SRN-Deblur", BASE - 0.5 + WOBBLE), per_image("GOPRO/DeblurGANv2", BASE),
                      per_image("GOPRO/ours", BASE[:5] + 0.5 + WOBBLE[:5] * 0.5, blurry=21.0),
                      per_image("HIDE/SRN-Deblur", BASE + WOBBLE), per_image("HIDE/DeblurGANv2", BASE)])
    df = br.supp_table5(rows)
    by = df.set_index("entry")
    assert list(df.entry) == ["GOPRO/DeblurGANv2", "GOPRO/SRN-Deblur", "GOPRO/ours", "HIDE/DeblurGANv2",
                              "HIDE/SRN-Deblur"]  # no HIDE/ours rows: no HIDE/ours entry
    assert claims(df) == {"GOPRO/SRN-Deblur": "fails", "GOPRO/ours": "holds", "HIDE/SRN-Deblur": "inconclusive"}
    assert by.claim["GOPRO/ours"] == "ours > SRN-Deblur" and by.claim["HIDE/SRN-Deblur"] == "SRN-Deblur > DeblurGANv2"
    # ours ran on the first 5 images: its claim is paired on those
    assert by.n["GOPRO/ours"] == 5 and by.n["GOPRO/SRN-Deblur"] == 8 and by.n_test["GOPRO/ours"] == 5
    assert by.diff_db["GOPRO/ours"] == pytest.approx(1.0 - WOBBLE[:5].sum() / 10)
    assert by.diff_db["GOPRO/SRN-Deblur"] == pytest.approx(-0.5) and pd.isna(by.verdict["GOPRO/DeblurGANv2"])
    assert by.blurry_psnr["GOPRO/ours"] == 21.0 and by.blurry_psnr["GOPRO/SRN-Deblur"] == 20.0
    assert br.supp_table5(rows).equals(df)  # seeded


def test_supp_table5_rows_run_ours_on_the_first_test_pairs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    psnr_of = {("srn-original-gopro-like", "hide-like"): BASE + 1 + WOBBLE, ("deblurganv2-gopro-like",
                                                                               "hide-like"): BASE,
               ("srn-original-hide-like", "gopro-like"): BASE, ("deblurganv2-hide-like", "gopro-like"): BASE + 1}
    trained = _stub(monkeypatch, psnr_of)
    solved = []

    def kernel_space_per_image(model, pairs, config="fast", seed=0, progress=True):  # type: ignore[no-untyped-def]
        solved.append((model, [Path(s).stem for s, _ in pairs], config, seed))
        return pd.DataFrame({"image": [Path(s).stem for s, _ in pairs], "psnr": BASE[:len(pairs)] + 3,
                             "blurry_psnr": 19.0})

    monkeypatch.setattr(br, "kernel_space_per_image", kernel_space_per_image)
    rows = br.supp_table5_rows("smoke", tmp_path / "work", {"gopro-like": "ks-g", "hide-like": None}, seed=2,
                               n_test_ours=3, deblur="smoke")
    assert solved == [("ks-g", IMAGES[:3], "smoke", 2)]
    assert [t[1] for t in trained] == ["srn-original-gopro-like", "deblurganv2-gopro-like", "srn-original-hide-like",
                                       "deblurganv2-hide-like"]
    assert rows.groupby("entry", sort=False).size().to_dict() == {
        "GOPRO/SRN-Deblur": 8, "GOPRO/DeblurGANv2": 8, "GOPRO/ours": 3, "HIDE/SRN-Deblur": 8, "HIDE/DeblurGANv2": 8}
    df = br.supp_table5(rows)
    assert claims(df) == {"GOPRO/SRN-Deblur": "holds", "GOPRO/ours": "holds", "HIDE/SRN-Deblur": "fails"}
    assert df.set_index("entry").n["GOPRO/ours"] == 3


def test_supp_table5_tests_a_claim_only_where_the_paper_makes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = pd.concat([per_image("GOPRO/SRN-Deblur", BASE + 1 + WOBBLE), per_image("GOPRO/DeblurGANv2", BASE),
                      per_image("HIDE/SRN-Deblur", BASE + 1 + WOBBLE), per_image("HIDE/DeblurGANv2", BASE)])
    real = br.compare

    def compare_as_if(name: str, ours: dict) -> pd.DataFrame:
        df = real(name, ours)
        df.loc[df.entry == "HIDE/SRN-Deblur", "paper"] = 20.0  # as if the paper had SRN-Deblur below DeblurGANv2
        return df

    monkeypatch.setattr(br, "compare", compare_as_if)
    df = br.supp_table5(rows)
    assert list(df.entry) == ["GOPRO/DeblurGANv2", "GOPRO/SRN-Deblur", "HIDE/DeblurGANv2", "HIDE/SRN-Deblur"]
    assert claims(df) == {"GOPRO/SRN-Deblur": "holds"}  # HIDE: ours ranks as the claim, but the paper makes none


def test_test_pairs_need_distinct_names() -> None:
    assert br._image_names([(Path("a/sharp/x.png"), Path("a/blur/x.png"))]) == ["x"]
    with pytest.raises(BlurkitError, match="share a name"):
        br._image_names([(Path("a/sharp/x.png"), Path("a/blur/x.png"))] * 2)


def test_fig3_claims_are_ours_against_each_method() -> None:
    # ours per image: +2 over blurry (holds), -0.5 under SRN-Deblur (fails), level with classical (inconclusive)
    def method(name: str, values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"image": IMAGES, "method": name, "psnr": values, "ssim": 0.5, "lpips": np.nan,
                             "wall_s": 1.0})

    per = pd.concat([method("blurry", BASE), method("classical", BASE + 2 + WOBBLE),
                     method("SRN-Deblur", BASE + 2.5 + WOBBLE), method("ours", BASE + 2)])
    summary = methods_summary(per, claim_for="ours").set_index("method")
    assert claims(summary.reset_index().rename(columns={"method": "entry"})) == {
        "blurry": "holds", "classical": "inconclusive", "SRN-Deblur": "fails"}  # none on ours' own row
    assert summary.claim["SRN-Deblur"] == "ours > SRN-Deblur" and pd.isna(summary.claim["ours"])
    assert summary.diff_db.tolist()[:3] == pytest.approx([2.0, 0.0, -0.5]) and pd.isna(summary.diff_db["ours"])
    assert summary.n.tolist()[:3] == [8, 8, 8] and (summary.images == 8).all()
    assert summary.psnr_gain_vs_blurry["ours"] == pytest.approx(2.0)
    assert "verdict" not in methods_summary(per)  # no claim asked for
    assert methods_summary(per.sample(frac=1, random_state=0), claim_for="ours").set_index("method").loc[
        ["blurry", "classical", "SRN-Deblur"], "ci_low"].tolist() == summary.ci_low.tolist()[:3]  # row order
    with pytest.raises(ValueError, match="no method 'mine'"):
        methods_summary(per, claim_for="mine")


def test_table3_claim_is_cross_domain_within_the_papers_largest_gap() -> None:
    def rows(train: str, test: str, retrieved: list[float]) -> list[dict]:
        return [{"train": train, "test": test, "image": f"{i:05d}", "psnr_sharp": 25.0, "psnr_start": 28.0,
                 "psnr_retrieved": r, "psnr_shuffled": r - 2.0, "wall_s": 0.1} for i, r in enumerate(retrieved)]

    df = pd.DataFrame(rows("reds-like", "reds-like", [36.0, 34.0, 35.0, 35.5]) +
                      rows("reds-like", "gopro-like", [31.0, 31.2, 30.8, 31.1]) +
                      rows("gopro-like", "reds-like", [30.0, 30.2, 29.8, 30.1]) +
                      rows("gopro-like", "gopro-like", [33.0, 33.0, 33.1, 32.9]))
    t = table3(df).set_index("entry")
    assert list(t.index) == ["train REDS/test REDS4", "train REDS/test GOPRO", "train GOPRO/test REDS4",
                             "train GOPRO/test GOPRO"]
    assert t.ours.tolist() == [35.12, 31.02, 30.02, 33.0] and (t.pairs == 4).all()
    # cross-domain minus same-domain on the same images: about -2 dB (within 3.7: holds) and -5.1 dB (fails)
    assert t.verdict.isna().tolist() == [True, False, False, True]  # same-domain entries test no claim
    assert t.verdict.tolist()[1:3] == ["holds", "fails"]
    assert t.diff_db["train REDS/test GOPRO"] == pytest.approx(-1.975) and t.n["train REDS/test GOPRO"] == 4
    assert t.ci_low["train REDS/test GOPRO"] <= -1.975 <= t.ci_high["train REDS/test GOPRO"]
    loose = table3(df, similar_db=5.1).verdict.tolist()
    assert loose[1] == "holds" and loose[2] == "inconclusive"  # -5.1 lies inside the interval of the second
    assert table3(df).equals(table3(df))  # seeded
    assert t.psnr_shuffled.tolist() == [33.12, 29.02, 28.02, 31.0] and (t.psnr_start == 28.0).all()
