"""Trackers that rent a face-search service: Amazon Rekognition, Azure AI Face, Face++."""

from trackers.cloud.azure import AzureTracker
from trackers.cloud.base import CloudTracker
from trackers.cloud.facepp import FaceppTracker
from trackers.cloud.rekognition import RekognitionTracker

__all__ = ["AzureTracker", "CloudTracker", "FaceppTracker", "RekognitionTracker"]
