"""Each client over real HTTP against its service's local stand-in: the calls, errors and cleanup command."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from audit.cli import main
from cloud_clients import CallPolicy, CloudError, PhotoRejected
from cloud_clients.connect import connect
from tests.cloud_clients.servers import FACEPP_PREFIX, SERVICES, Faults

PROVIDERS = sorted(SERVICES)
CREATE = {"rekognition": "CreateCollection", "azure": "CreateLargePersonGroup", "facepp": "faceset/create"}


def endpoint(service) -> str:
    return service.url + (FACEPP_PREFIX if service.provider == "facepp" else "")


def client_for(service, **policy):
    return connect(service.provider, endpoint=endpoint(service), policy=CallPolicy(backoff=0.0, **policy))


@pytest.mark.parametrize("cloud_service", PROVIDERS, indirect=True)
def test_galleries_are_created_listed_and_deleted(cloud_service):
    client = client_for(cloud_service)
    client.create_gallery("cloak-audit-test-001")
    assert "cloak-audit-test-001" in client.list_galleries()
    client.delete_gallery("cloak-audit-test-001")
    assert client.list_galleries() == []
    client.delete_gallery("cloak-audit-test-001")  # already gone (or never created) counts as deleted


@pytest.mark.parametrize("cloud_service", PROVIDERS, indirect=True)
def test_throttled_calls_are_retried_until_they_succeed(cloud_service):
    cloud_service.faults = Faults(throttle=3)
    client_for(cloud_service).create_gallery("g")
    assert cloud_service.log == [CREATE[cloud_service.provider]] * 4
    assert "g" in cloud_service.galleries


@pytest.mark.parametrize("cloud_service", PROVIDERS, indirect=True)
def test_throttling_that_never_ends_becomes_a_clear_error(cloud_service):
    cloud_service.faults = Faults(throttle=100)
    with pytest.raises(CloudError, match="still after 2 retries"):
        client_for(cloud_service, max_retries=2).create_gallery("g")
    assert len(cloud_service.log) == 3


@pytest.mark.parametrize("cloud_service", PROVIDERS, indirect=True)
def test_a_permanent_error_is_not_retried(cloud_service):
    cloud_service.faults = Faults(fail_operation=CREATE[cloud_service.provider])
    with pytest.raises(CloudError, match="injected failure") as error:
        client_for(cloud_service).create_gallery("g")
    assert len(cloud_service.log) == 1
    if cloud_service.provider == "azure":
        assert "Limited Access" in str(error.value) and "aka.ms/facerecognition" in str(error.value)


@pytest.mark.parametrize("cloud_service", PROVIDERS, indirect=True)
def test_a_photo_without_a_face_is_rejected_alone(cloud_service, tmp_path):
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("RGB", (160, 160), (128, 128, 128)).save(blank)
    client = client_for(cloud_service)
    client.create_gallery("g")
    with pytest.raises(PhotoRejected, match="face"):
        if cloud_service.provider == "rekognition":
            client.index_face("g", blank.read_bytes(), "ann")
        else:
            client.detect(blank.read_bytes())


@pytest.mark.parametrize("provider,variables", [("rekognition", ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]),
                                                ("azure", ["AZURE_FACE_KEY"]),
                                                ("facepp", ["FACEPP_API_SECRET"])])
def test_missing_credentials_say_where_they_are_looked_for(provider, variables, cloud_credentials, monkeypatch):
    for name in variables:
        monkeypatch.delenv(name)
    with pytest.raises(CloudError, match=variables[-1] if provider != "rekognition" else "AWS_ACCESS_KEY_ID"):
        connect(provider, endpoint="http://127.0.0.1:9")


@pytest.mark.parametrize("cloud_service", PROVIDERS, indirect=True)
def test_cloud_cleanup_deletes_only_what_cloak_audit_created(cloud_service):
    cloud_service.galleries.update({"cloak-audit-20260101-000000-abcd-001": [], "family-photos": []})
    args = ["cloud", "cleanup", "--provider", cloud_service.provider, "--endpoint", endpoint(cloud_service)]
    listed = CliRunner().invoke(main, [*args, "--dry-run"])
    assert listed.exit_code == 0, listed.output
    assert "would delete" in listed.output and len(cloud_service.galleries) == 2
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"deleted {cloud_service.provider} cloak-audit-20260101-000000-abcd-001" in result.output
    assert list(cloud_service.galleries) == ["family-photos"]
    again = CliRunner().invoke(main, args)
    assert "nothing named cloak-audit-*" in again.output


def test_an_unreachable_endpoint_is_a_clear_error(cloud_credentials):
    client = connect("facepp", endpoint="http://127.0.0.1:9/facepp/v3", policy=CallPolicy(backoff=0.0))
    with pytest.raises(CloudError, match="cannot reach http://127.0.0.1:9"):
        client.create_gallery("g")


@pytest.mark.parametrize("cloud_service", ["azure"], indirect=True)
def test_azure_enrols_the_largest_face_of_a_crowded_photo(cloud_service, small_lfw):
    cloud_service.crowded = True
    photo = sorted(next(iter(sorted(small_lfw.iterdir()))).glob("*.jpg"))[0]
    client = client_for(cloud_service)
    client.create_gallery("g")
    person = client.create_person("g", "ann")
    client.add_face("g", person, photo.read_bytes())
    assert cloud_service.log[-3:] == ["AddFace", "Detect", "AddFace"]
    assert cloud_service.target_faces == ["60,60,120,120"]  # left, top, width, height of the larger face
    assert len(cloud_service.galleries["g"]) == 1
