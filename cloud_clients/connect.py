"""A client by provider name, for commands that need one without a tracker (`audit cloud cleanup`)."""

from __future__ import annotations

from cloud_clients.calls import CallPolicy, CloudClient, CloudError


def connect(provider: str, region: str | None = None, endpoint: str | None = None,
            policy: CallPolicy | None = None) -> CloudClient:
    if provider == "rekognition":
        from cloud_clients.rekognition import RekognitionClient

        return RekognitionClient(region, endpoint, policy)
    if provider == "azure":
        from cloud_clients.azure_face import AzureFaceClient

        return AzureFaceClient(endpoint, policy)
    if provider == "facepp":
        from cloud_clients.facepp import FaceppClient

        return FaceppClient(region or "us", endpoint, policy)
    raise CloudError(f"unknown cloud provider {provider!r}; choose rekognition, azure or facepp")
