"""Who called each request (a person's or an application's Entra id) and which source said so.

``sources``: the precedence, pure; ``gateway``: the APIM identities to skip and the proposals of
new ones; ``services``: the callers stored on requests. See docs/identity.md.
"""
