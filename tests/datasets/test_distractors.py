"""Distractor identities: LFW's single-photo people, any folder, a fixed nested draw."""

import pytest

from audit.datasets.distractors import choose_distractors, load_distractors


def test_lfw_singletons_are_the_4069_people_with_one_photo(lfw_root):
    pool = load_distractors("lfw-singletons")
    assert len(pool) == 4069
    assert all(len(paths) == 1 and paths[0].parent.name == name for name, paths in pool.items())
    assert all(len(list((lfw_root / name).glob("*.jpg"))) == 1 for name in list(pool)[:50])


def test_a_folder_gives_all_of_its_identities(small_lfw):
    pool = load_distractors(str(small_lfw))
    assert sorted(pool) == sorted(d.name for d in small_lfw.iterdir())
    assert all(len(paths) == 12 for paths in pool.values())


def test_larger_draws_hold_smaller_ones_and_leave_out_the_protocols_identities(small_lfw):
    pool = load_distractors(str(small_lfw))
    names = sorted(pool)
    exclude = set(names[:2])
    few, more = (choose_distractors(pool, n, exclude, "folder") for n in (2, 5))
    assert len(few) == 2 and len(more) == 5 and set(few) <= set(more)
    assert not exclude & set(more)
    assert set(choose_distractors(pool, None, exclude, "folder")) == set(names[2:])
    with pytest.raises(ValueError, match="--distractor-count 7: folder has 6 identities outside the protocol's"):
        choose_distractors(pool, 7, exclude, "folder")
    with pytest.raises(FileNotFoundError):
        load_distractors("no-such-folder")
