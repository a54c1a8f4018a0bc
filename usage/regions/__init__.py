"""Azure regions: one spelling for every source, and what a request's backend region is.

Azure names a region two ways: the region name (``eastus2``: lower case, no spaces; what native
rows' ``location`` and ARM use) and the display name (``East US 2``: what the ``x-ms-region``
response header and APIM's ``Region`` column use). Requests store the region name; pages show
the display name. ``region_normalize`` maps any spelling ("East US 2", "EASTUS2", "east-us-2",
"east_us_2") to the name; text that cannot be a region (a host name, a URL) gives "".

A request's backend region (``backend_region_resolve``), best first: the backend's
``x-ms-region`` header, the joined native row's ``location``, the region learned for the
backend host (``BackendHostRegion``), else ``unknown``. A request APIM answered itself (a 429
of its token-limit policy, before any backend call) has no backend: ``gateway``, shown as
"APIM gateway (not sent to a backend)". Never a host name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

REGION_UNKNOWN = "unknown"
REGION_NOT_SENT = "gateway"
_LABELS = {REGION_UNKNOWN: "unknown", REGION_NOT_SENT: "APIM gateway (not sent to a backend)"}

# Azure's regions as `az account list-locations` names them (public cloud, then US Government
# and China). A name missing here is still accepted when it is spelt like one (see below).
AZURE_REGIONS: tuple[tuple[str, str], ...] = (
    ("australiacentral", "Australia Central"),
    ("australiacentral2", "Australia Central 2"),
    ("australiaeast", "Australia East"),
    ("australiasoutheast", "Australia Southeast"),
    ("austriaeast", "Austria East"),
    ("belgiumcentral", "Belgium Central"),
    ("brazilsouth", "Brazil South"),
    ("brazilsoutheast", "Brazil Southeast"),
    ("canadacentral", "Canada Central"),
    ("canadaeast", "Canada East"),
    ("centralindia", "Central India"),
    ("centralus", "Central US"),
    ("centraluseuap", "Central US EUAP"),
    ("chilecentral", "Chile Central"),
    ("denmarkeast", "Denmark East"),
    ("eastasia", "East Asia"),
    ("eastus", "East US"),
    ("eastus2", "East US 2"),
    ("eastus2euap", "East US 2 EUAP"),
    ("francecentral", "France Central"),
    ("francesouth", "France South"),
    ("germanynorth", "Germany North"),
    ("germanywestcentral", "Germany West Central"),
    ("indonesiacentral", "Indonesia Central"),
    ("israelcentral", "Israel Central"),
    ("italynorth", "Italy North"),
    ("japaneast", "Japan East"),
    ("japanwest", "Japan West"),
    ("jioindiacentral", "Jio India Central"),
    ("jioindiawest", "Jio India West"),
    ("koreacentral", "Korea Central"),
    ("koreasouth", "Korea South"),
    ("malaysiawest", "Malaysia West"),
    ("mexicocentral", "Mexico Central"),
    ("newzealandnorth", "New Zealand North"),
    ("northcentralus", "North Central US"),
    ("northeurope", "North Europe"),
    ("norwayeast", "Norway East"),
    ("norwaywest", "Norway West"),
    ("polandcentral", "Poland Central"),
    ("qatarcentral", "Qatar Central"),
    ("southafricanorth", "South Africa North"),
    ("southafricawest", "South Africa West"),
    ("southcentralus", "South Central US"),
    ("southeastasia", "Southeast Asia"),
    ("southindia", "South India"),
    ("spaincentral", "Spain Central"),
    ("swedencentral", "Sweden Central"),
    ("swedensouth", "Sweden South"),
    ("switzerlandnorth", "Switzerland North"),
    ("switzerlandwest", "Switzerland West"),
    ("uaecentral", "UAE Central"),
    ("uaenorth", "UAE North"),
    ("uksouth", "UK South"),
    ("ukwest", "UK West"),
    ("westcentralus", "West Central US"),
    ("westeurope", "West Europe"),
    ("westindia", "West India"),
    ("westus", "West US"),
    ("westus2", "West US 2"),
    ("westus3", "West US 3"),
    ("usgovarizona", "USGov Arizona"),
    ("usgovtexas", "USGov Texas"),
    ("usgovvirginia", "USGov Virginia"),
    ("usdodcentral", "USDoD Central"),
    ("usdodeast", "USDoD East"),
    ("chinaeast", "China East"),
    ("chinaeast2", "China East 2"),
    ("chinaeast3", "China East 3"),
    ("chinanorth", "China North"),
    ("chinanorth2", "China North 2"),
    ("chinanorth3", "China North 3"),
)
REGION_DISPLAY_NAMES: dict[str, str] = dict(AZURE_REGIONS)

_SEPARATORS = re.compile(r"[\s_\-]+")
# What is left of a region's spelling without separators: letters, then digits at most.
_REGION_NAME = re.compile(r"[a-z]+[0-9]*[a-z]*")
_NAME_MAX = 40


def region_normalize(value: Any) -> str:
    """Azure's region name for any spelling of a region; "" for anything else (empty, a host)."""
    if not isinstance(value, str):
        return ""
    text = _SEPARATORS.sub("", value.strip()).lower()
    if text in REGION_DISPLAY_NAMES:
        return text
    # A region this list does not know yet (Azure adds some every year) is kept if it is
    # spelt like one; a host name, a URL or an id is not a region.
    if len(text) <= _NAME_MAX and _REGION_NAME.fullmatch(text):
        return text
    return ""


def region_label(value: str) -> str:
    """What a page shows for a stored region: ``East US 2 (eastus2)`` (the display name and
    Azure's name, so that a region reads the same whichever spelling its source used),
    ``unknown``, or ``APIM gateway (not sent to a backend)``."""
    if value in _LABELS:
        return _LABELS[value]
    name = region_normalize(value)
    if not name:
        return _LABELS[REGION_UNKNOWN]
    display = REGION_DISPLAY_NAMES.get(name)
    return f"{display} ({name})" if display else name


def region_group(value: str) -> str:
    """The key a latency grouping uses for a stored region: its name, ``unknown`` or ``gateway``."""
    return region_normalize(value) or REGION_UNKNOWN


def backend_host(backend_url: str) -> str:
    """The backend's host name (lower case) from its URL, or ""."""
    if not backend_url:
        return ""
    try:
        return (urlsplit(backend_url).hostname or "").lower()[:255]
    except ValueError:
        return ""


def request_sent(
    *,
    backend_id: str,
    backend_url: str,
    backend_time_ms: float | None,
    backend_response_code: int | None,
    response_headers: Mapping[str, Any] | None = None,
) -> bool:
    """Whether APIM called a backend for this request (False: it answered by itself, e.g. a 429
    of its token-limit policy: no backend id, URL, time or status, and no backend header)."""
    headers = response_headers if isinstance(response_headers, Mapping) else {}
    return bool(
        backend_id
        or backend_url
        or backend_time_ms is not None
        or backend_response_code is not None
        or headers.get("apim-request-id")
        or headers.get("x-ms-region")
    )


def backend_region_resolve(
    *,
    header: str,
    native_location: str,
    host: str,
    sent: bool,
    host_regions: Mapping[str, str],
) -> str:
    """The backend region of one request: header, native location, learned host, else unknown."""
    for candidate in (header, native_location):
        name = region_normalize(candidate)
        if name:
            return name
    if not sent:
        return REGION_NOT_SENT
    return region_normalize(host_regions.get(host, "")) or REGION_UNKNOWN
