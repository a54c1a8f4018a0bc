"""Sign-in (Entra ID over OpenID Connect, break-glass local accounts), role sync and API tokens.

- ``entra``: the Entra ID endpoints derived from ENTRA_AUTHORITY + ENTRA_TENANT_ID.
- ``backends``: the OIDC backend that verifies the ID token, the break-glass backend, and the
  backend that gives the admin role every admin-site permission.
- ``services``: signing an Entra user in (keyed on oid + tid), mapping claims to portal roles,
  API tokens. ``api_auth``: the ``Authorization: Bearer`` class of the JSON API.
"""
