import shutil

import pytest

from audit.datasets import list_images, load_identity_folders, load_manifest, load_photos


def test_identity_folders_and_manifest_agree(lfw_root, tmp_path):
    for person in ("Abel_Pacheco", "Akhmed_Zakayev"):
        shutil.copytree(lfw_root / person, tmp_path / "faces" / person)
    (tmp_path / "faces" / "Abel_Pacheco" / "notes.txt").write_text("not a photo")
    photos = load_identity_folders(tmp_path / "faces").photos
    assert {p.identity for p in photos} == {"Abel_Pacheco", "Akhmed_Zakayev"}
    assert all(p.path.suffix == ".jpg" for p in photos)
    manifest = tmp_path / "faces.csv"
    manifest.write_text("path,identity\n" + "".join(f"{p.path.relative_to(tmp_path)},{p.identity}\n" for p in photos))
    assert load_photos(manifest).photos == photos


def test_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_identity_folders(tmp_path / "missing")
    (tmp_path / "loose.jpg").write_bytes(b"x")
    with pytest.raises(ValueError, match="one folder per identity"):
        load_identity_folders(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("file,name\na.jpg,A\n")
    with pytest.raises(ValueError, match="path,identity"):
        load_manifest(bad)
    bad.write_text("path,identity\nmissing.jpg,A\n")
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        load_manifest(bad)


def test_list_images_takes_image_files_and_linked_files_but_enters_no_linked_folder(tmp_path):
    (tmp_path / "a-b").mkdir()
    (tmp_path / "a").mkdir()
    (tmp_path / "elsewhere").mkdir()
    for name in ("a-b/1.JPG", "a/2.png", "a/notes.txt", "elsewhere/3.jpg"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "a" / "linked.jpg").symlink_to(tmp_path / "elsewhere" / "3.jpg")
    (tmp_path / "a" / "linked-folder").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    found = list_images(tmp_path / "a").paths + list_images(tmp_path / "a-b").paths
    assert found == [tmp_path / "a/2.png", tmp_path / "a/linked.jpg", tmp_path / "a-b/1.JPG"]
    assert list_images(tmp_path).paths == sorted(p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".txt")
    assert list_images(tmp_path / "missing").paths == []


def test_a_broken_link_is_accounted_for_with_its_target(tmp_path):
    person = tmp_path / "faces" / "Ada_Lovelace"
    person.mkdir(parents=True)
    (person / "1.jpg").write_bytes(b"")
    (person / "2.jpg").symlink_to(tmp_path / "gone.jpg")
    (person / "loop.png").symlink_to(person / "loop.png")
    (person / "notes.txt").symlink_to(tmp_path / "gone.txt")  # not a photo by its name: not listed at all
    listing = list_images(tmp_path / "faces")
    assert listing.paths == [person / "1.jpg"]
    assert listing.broken == {person / "2.jpg": f"broken link → {tmp_path / 'gone.jpg'}",
                              person / "loop.png": f"broken link → {person / 'loop.png'}"}
    assert load_identity_folders(tmp_path / "faces").unusable == listing.broken
    manifest = tmp_path / "faces.csv"
    manifest.write_text(f"path,identity\n{person / '1.jpg'},Ada\n{person / '2.jpg'},Ada\n")
    dataset = load_manifest(manifest)
    assert [p.path for p in dataset.photos] == [person / "1.jpg"]
    assert dataset.unusable == {person / "2.jpg": f"broken link → {tmp_path / 'gone.jpg'}"}
