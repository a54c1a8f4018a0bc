"""The People table (``NamedIdentity``): who an Entra object id is.

Filled from portal sign-ins (``services.person_sign_in_record``), a CSV import (``csv_import``),
Microsoft Graph (``graph``) and the admin site. Readers ask ``selectors.person_labels``: an id
with no row, or a row without a name, is shown as the id itself.

Precedence: a row written by hand (the admin site or a CSV import) keeps its values; sign-ins and
Graph only fill its empty fields. Between themselves, sign-ins and Graph overwrite each other
(the latest wins), never with an empty value.
"""
