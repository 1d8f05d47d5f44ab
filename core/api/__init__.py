"""The API's plumbing, shared by every app's endpoints: token authentication
(authentication), the organization a request acts in and role checks (tenancy), the error
format and exception handler (errors), pagination, ETag/If-Match (concurrency),
Idempotency-Key (idempotency), and the base viewset, serializer and filters every
structure endpoint is built on (viewsets, serializers, filters).

Nothing is imported here: DRF reads the authentication, permission and pagination classes
from settings while rest_framework.views itself is loading, so each module keeps to the
imports it needs.
"""
