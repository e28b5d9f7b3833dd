"""Thin, typed clients for the face-search services a tracker can rent, with only the calls it needs.

Every client shares one call policy (`calls.py`): a budget of API calls, a client-side rate
limit, and bounded retries with backoff and jitter on throttling. Credentials come from each
ecosystem's usual place and never appear in messages, logs or reports.
"""

from cloud_clients.calls import BudgetExhausted, CallBudget, CallPolicy, CloudError, PhotoRejected
from cloud_clients.naming import RESOURCE_PREFIX, decode_identity, encode_identity, new_run_id
from cloud_clients.session import CloudSession

__all__ = ["RESOURCE_PREFIX", "BudgetExhausted", "CallBudget", "CallPolicy", "CloudError", "CloudSession",
           "PhotoRejected", "decode_identity", "encode_identity", "new_run_id"]
