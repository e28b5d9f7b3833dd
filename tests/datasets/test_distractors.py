"""Distractor identities: LFW's single-photo people, any folder, an embedding file, a fixed nested draw."""

import re

import numpy as np
import pytest

from audit.datasets.distractors import choose_distractors, load_distractors
from audit.datasets.embedded import write_embeddings


def test_lfw_singletons_are_the_4069_people_with_one_photo(lfw_root):
    pool = load_distractors("lfw-singletons")
    assert len(pool) == 4069
    assert all(len(paths) == 1 and paths[0].parent.name == name for name, paths in pool.photos.items())
    assert all(len(list((lfw_root / name).glob("*.jpg"))) == 1 for name in pool.names[:50])


def test_a_folder_gives_all_of_its_identities(small_lfw):
    pool = load_distractors(str(small_lfw))
    assert pool.names == sorted(d.name for d in small_lfw.iterdir()) and pool.embedded is None
    assert all(len(paths) == 12 for paths in pool.photos.values())


def test_larger_draws_hold_smaller_ones_and_leave_out_the_protocols_identities(small_lfw):
    pool = load_distractors(str(small_lfw))
    names = pool.names
    exclude = set(names[:2])
    few, more = (choose_distractors(pool, n, exclude, "folder") for n in (2, 5))
    assert len(few) == 2 and len(more) == 5 and set(few.photos) <= set(more.photos)
    assert not exclude & set(more.photos)
    assert choose_distractors(pool, None, exclude, "folder").names == names[2:]
    with pytest.raises(ValueError, match="--distractor-count 7: folder has 6 identities outside the protocol's"):
        choose_distractors(pool, 7, exclude, "folder")
    with pytest.raises(FileNotFoundError):
        load_distractors("no-such-folder")


def write_gallery(path, rows: int = 5, **arrays) -> None:
    rng = np.random.default_rng(0)
    contents = dict(embeddings=rng.standard_normal((rows, 4)), paths=[f"p{i}.jpg" for i in range(rows)],
                    identities=["ann", "ann", "bob", "", "cid"][:rows], skipped=[("bad.jpg", "no face")],
                    extractor="dlib-resnet", embedding_id="dlib-resnet|weights|150", pipeline="mtcnn|dlib-resnet")
    write_embeddings(path, **{**contents, **arrays})


def test_an_embedding_file_is_a_pool_of_precomputed_distractors(tmp_path):
    write_gallery(tmp_path / "gallery.npz")
    pool = load_distractors(str(tmp_path / "gallery.npz"))
    assert pool.photos == {} and pool.embedded.extractor == "dlib-resnet"
    assert pool.names == ["ann", "bob", "cid", "p3.jpg"]  # a photo outside any identity folder is its own stranger
    few, more = (choose_distractors(pool, n, {"bob"}, "gallery.npz") for n in (2, 3))
    assert set(few.names) < set(more.names) and "bob" not in more.names and len(more) == 3
    kept = more.embedded
    assert len(kept.embeddings) == len(kept.identities) == (4 if "ann" in more.names else 2)
    def rows(gallery):
        return {(name, vector.tobytes()) for name, vector in zip(gallery.identities, gallery.embeddings)}

    assert rows(kept) < rows(pool.embedded)  # whole rows, each under its own identity
    assert few.embedded.digest != more.embedded.digest != pool.embedded.digest


@pytest.mark.parametrize("contents, message", [
    ({"embeddings": np.zeros((5, 4)), "paths": np.array(["a"] * 5), "identities": np.array(["a"] * 5)},
     "written before embedding files named their extractor: run audit embed again"),
    ({"vectors": np.zeros((5, 4))}, "(write one with audit embed DIR --out FILE.npz)"),
])
def test_an_embedding_file_without_its_extractor_is_refused(tmp_path, contents, message):
    np.savez(tmp_path / "old.npz", **contents)
    with pytest.raises(ValueError, match=re.escape(message)):
        load_distractors(str(tmp_path / "old.npz"))


def test_a_broken_embedding_file_says_what_is_wrong(tmp_path):
    (tmp_path / "text.npz").write_text("not an archive")
    with pytest.raises(ValueError, match="not a readable .npz file"):
        load_distractors(str(tmp_path / "text.npz"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_distractors(str(tmp_path / "missing.npz"))
    write_gallery(tmp_path / "short.npz", identities=["ann", "bob"])
    with pytest.raises(ValueError, match=re.escape("embeddings (5, 4) do not match 2 identities and 5 paths")):
        load_distractors(str(tmp_path / "short.npz"))
    write_gallery(tmp_path / "nan.npz", embeddings=np.full((5, 4), np.nan))
    with pytest.raises(ValueError, match="finite"):
        load_distractors(str(tmp_path / "nan.npz"))
