"""Fawkes v0.3 (targeted): eq. 3's target choice, and eq. 2's pull towards it on real LFW photos."""

import numpy as np
import pytest

from audit.cloakers import build_cloaker
from audit.cloakers.fawkes_targeted import FawkesTargetedCloak, rank_target_photos, select_target
from audit.images import read_image
from audit.perceptual import perceptual_cost


def test_target_is_the_centroid_farthest_from_the_users_nearest_photo():
    user = np.array([[0.0, 0.0], [10.0, 0.0]])
    centroids = np.array([[5.0, 4.0],    # nearest user photo at 6.4
                          [-7.0, 0.0],   # 7.0 from the nearest photo, though 12.0 on average
                          [20.0, 0.0]])  # 10.0 from the nearest photo, 15.0 on average
    assert select_target([user], [centroids]) == 2
    # eq. 3 uses the nearest photo, not the mean: minima 9.0, 8.0, 5.0 but means 9.0, 13.0, 10.0
    assert select_target([user], [np.array([[5.0, 7.5], [-8.0, 0.0], [15.0, 0.0]])]) == 0


def test_against_an_ensemble_each_models_distances_count_at_their_own_scale():
    user = [np.array([[0.0, 0.0]]), np.array([[0.0, 0.0]])]
    # model 1 (norms ~10) prefers centroid 1 by 3; model 2 (norms ~100) prefers centroid 0 by 20:
    # in raw units model 2 would decide, scaled by each model's norm model 1's larger share wins
    centroids = [np.array([[8.0, 0.0], [11.0, 0.0]]), np.array([[110.0, 0.0], [90.0, 0.0]])]
    assert select_target(user, centroids) == 1
    assert select_target(user[1:], centroids[1:]) == 0


def test_target_photos_are_paired_farthest_first():
    user = np.array([[0.0, 0.0]])
    target = np.array([[1.0, 0.0], [3.0, 0.0], [2.0, 0.0]])
    assert rank_target_photos([user], [target])[0][:, 0].tolist() == [3.0, 2.0, 1.0]


def test_the_v0_3_cloak_is_a_cloaker_of_its_own_and_the_old_routing_says_so():
    assert isinstance(build_cloaker("fawkes-v0.3:candidates=3"), FawkesTargetedCloak)
    assert build_cloaker("fawkes-v0.3").spec == "fawkes-v0.3"
    with pytest.raises(ValueError, match="variant= is gone: the paper's targeted v0.3 cloak is the cloaker "
                                         "fawkes-v0.3"):
        build_cloaker("fawkes:variant=v0.3")
    with pytest.raises(ValueError, match="impl= is gone: .* the cloaker fawkes-official"):
        build_cloaker("fawkes:impl=official")
    with pytest.raises(ValueError, match="unknown option"):
        build_cloaker("fawkes-v0.3:bogus=1")


def test_without_public_identities_the_error_says_what_is_missing(small_lfw):
    cloaker = build_cloaker("fawkes-v0.3:min_target_photos=5")
    with pytest.raises(ValueError, match="public identities outside the tracker's label set"):
        cloaker.choose_target(sorted(small_lfw.glob("*/*.jpg"))[:1])  # never given any
    few = {"Someone": sorted(small_lfw.glob("*/*.jpg"))[:4]}
    with pytest.raises(ValueError, match="at least 5 photos"):
        cloaker.use_public_identities(few)


def test_cloak_pulls_the_face_towards_the_chosen_public_identity(small_lfw, tmp_path, mtcnn_pipeline):
    folders = sorted(p for p in small_lfw.iterdir() if p.is_dir())
    user_photos = sorted(folders[0].glob("*.jpg"))[:3]
    public = {f.name: sorted(f.glob("*.jpg")) for f in folders[1:5]}
    cloaker = build_cloaker("fawkes-v0.3:mode=mid,max_step=25,target_photos=6")
    cloaker.use_public_identities(public)

    def embed(paths):
        return mtcnn_pipeline.embed_files(list(paths), progress=False).embeddings

    # the choice agrees with eq. 3 computed here from the same embeddings
    centroids = {name: embed(paths[:6]).mean(axis=0) for name, paths in public.items()}
    names = sorted(centroids)
    expected = names[select_target([embed(user_photos)], [np.stack([centroids[n] for n in names])])]
    assert cloaker.user_notes(user_photos) == {"target": expected}

    cloaked = cloaker.cloak(user_photos, tmp_path)
    before = np.linalg.norm(embed(user_photos) - centroids[expected], axis=1)
    after = np.linalg.norm(embed(cloaked[p] for p in user_photos) - centroids[expected], axis=1)
    assert (after < before).all(), (before, after)
    for original, copy in cloaked.items():
        assert perceptual_cost(read_image(original), read_image(copy)).dssim <= cloaker.settings[0] + 0.002
