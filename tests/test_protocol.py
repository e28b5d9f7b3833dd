from pathlib import Path

import pytest

from audit.datasets import Photo
from audit.protocol import ProtocolOptions, build_protocol


def photos(counts: dict[str, int]) -> list[Photo]:
    return [Photo(Path(f"/data/{name}/{name}_{i:04d}.jpg"), name) for name, n in counts.items() for i in range(n)]


DATA = {"ann": 30, "bob": 25, "cid": 20, "dee": 22, "eve": 5, "fay": 40}


def test_split_is_deterministic_disjoint_and_seeded():
    options = ProtocolOptions(users=2, min_photos=20, max_photos=None, seed=3)
    first, again = build_protocol(photos(DATA), options), build_protocol(photos(DATA), options)
    assert first == again
    assert "eve" not in first.labels  # too few photos
    for name in first.labels:
        assert not set(first.train[name]) & set(first.test[name])
        assert len(first.train[name]) == round(0.7 * DATA[name])
    other_seed = build_protocol(photos(DATA), ProtocolOptions(users=2, min_photos=20, max_photos=None, seed=4))
    assert other_seed.train != first.train


def test_adding_an_identity_does_not_reshuffle_anyone_else():
    options = ProtocolOptions(named_users=("ann",), min_photos=20)
    before = build_protocol(photos(DATA), options)
    after = build_protocol(photos({**DATA, "gus": 50}), options)
    assert all(before.train[name] == after.train[name] for name in before.labels)


def test_max_photos_leak_ratio_and_labels():
    protocol = build_protocol(photos(DATA), ProtocolOptions(named_users=("fay",), min_photos=20, max_photos=30,
                                                            leak_ratio=0.5, labels=3))
    assert len(protocol.train["fay"]) + len(protocol.test["fay"]) == 30
    assert len(protocol.leaked["fay"]) == round(0.5 * len(protocol.train["fay"]))
    assert set(protocol.leaked["fay"]) <= set(protocol.train["fay"])
    assert not set(protocol.to_cloak("fay")) & set(protocol.leaked["fay"])
    assert len(protocol.labels) == 3 and "fay" in protocol.labels


@pytest.mark.parametrize("options, message", [
    (ProtocolOptions(named_users=("zed",)), "not an identity"),
    (ProtocolOptions(named_users=("eve",)), "fewer than --min-photos"),
    (ProtocolOptions(users=5, min_photos=20), "only 5 identities"),
])
def test_bad_choices_are_clear_errors(options, message):
    with pytest.raises(ValueError, match=message):
        build_protocol(photos(DATA), options)


def test_option_validation():
    with pytest.raises(ValueError, match="leak-ratio"):
        ProtocolOptions(leak_ratio=1.0)
    with pytest.raises(ValueError, match="max-photos"):
        ProtocolOptions(min_photos=20, max_photos=10)
