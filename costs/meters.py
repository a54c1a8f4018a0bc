"""Azure meter names -> (model, version, token kind, deployment type).

Azure's meter names are written for billing pipelines: separators, abbreviations and word order
vary within one model family (``gpt 4o 1120 Inp regnl Tokens``, ``gpt-4o-mini-0718-Inp-regnl
Tokens``, ``gpt 4o mini0718 BatchOutp DataZone Tokens``, ``GPT 5 cchd Inpt Glbl 1M Tokens``). The
reader splits a name into words, takes the longest known model name from the start, and reads
every remaining word from a closed vocabulary. A word it does not know makes the whole meter
"unknown": a wrong token kind would move money between teams, so nothing is guessed. Admins map
unknown meters in the admin site (``costs.models.MeterMapping``), which wins over this reader.

Kinds: input / cached input / output / batch input / batch output (batch cached input counts as
batch input) / provisioned hours (PTU) / other (fine-tuning training, hosting and graders, images,
video, sessions, storage...). Audio, realtime and image token meters keep their direction: the
gateway counts their tokens per request under the model's own name.
"""

import re
from dataclasses import dataclass

from django.db import models


class TokenKind(models.TextChoices):
    INPUT = "input", "Input"
    CACHED_INPUT = "cached_input", "Cached input"
    OUTPUT = "output", "Output"
    BATCH_INPUT = "batch_input", "Batch input"
    BATCH_OUTPUT = "batch_output", "Batch output"
    PROVISIONED_HOURS = "provisioned_hours", "Provisioned hours"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Unknown (map it in the admin)"


class MeterDeployment(models.TextChoices):
    """The values of ``usage.models.DeploymentType`` a meter can name, or none."""

    GLOBAL = "global", "Global"
    DATA_ZONE = "datazone", "Data Zone"
    REGIONAL = "regional", "Regional"
    NONE = "", "Not named"


@dataclass(frozen=True)
class MeterReading:
    model: str = ""
    version: str = ""
    kind: str = TokenKind.UNKNOWN
    deployment_type: str = MeterDeployment.NONE
    # Tokens one unit of quantity stands for (1K or 1M meters); None for other units.
    tokens_per_unit: int | None = None
    # Why the meter is unknown, for the admin list.
    reason: str = ""

    @property
    def known(self) -> bool:
        return self.kind != TokenKind.UNKNOWN


_IN = {"inp", "input", "inpt"}
_OUT = {"outp", "output", "outpt", "opt", "out"}
_CACHED = {"cached", "cchd", "cched", "ccchd", "cd", "chd"}
_BATCH = {"batch"}
_DEPLOYMENT = {
    **dict.fromkeys(("glbl", "global", "gl"), MeterDeployment.GLOBAL),
    **dict.fromkeys(("regnl", "regional", "rgnl", "regn"), MeterDeployment.REGIONAL),
    **dict.fromkeys(("datazone", "dzone", "dz", "dzn", "data", "zone"), MeterDeployment.DATA_ZONE),
}
# Fine-tuned deployments (standard and developer tier): their own prices and model name.
_FINE_TUNED = {"ft", "dev"}
# Modalities and previews: the tokens are still the model's input or output.
_MODALITY = {"aud", "audio", "txt", "text", "img", "prvw", "realtime", "rtime", "rt"}
# Not tokens a request sends: training, training tokens, graders, hosting, base (one price for both).
_NOT_REQUEST = {
    "trng",
    "training",
    "tkn",
    "rft",
    "grader",
    "grdr",
    "mdl",
    "model",
    "mdel",
    "hstng",
    "hosting",
    "base",
}
_VOCABULARY = _IN | _OUT | _CACHED | _BATCH | set(_DEPLOYMENT) | _FINE_TUNED | _MODALITY | _NOT_REQUEST
# Words Azure runs together ("BatchOutp", "realtimePrvwAudInp"): split only into vocabulary words.
_COMPOUND = re.compile(
    "(?:" + "|".join(sorted((re.escape(w) for w in _VOCABULARY if len(w) > 2), key=len, reverse=True)) + ")+"
)
_VOCABULARY_PART = re.compile(
    "|".join(sorted((re.escape(w) for w in _VOCABULARY if len(w) > 2), key=len, reverse=True))
)
_VERSION = re.compile(r"\d{3,4}")
_CONTEXT = re.compile(r"\d+k")  # context sizes (8K, 16K, 128K): part of the SKU, not of the model
_UNIT_IN_NAME = {"1m", "1k"}

# Model names as the gateway reports them, longest first where one starts another.
_MODELS: list[tuple[str, str]] = [
    (r"gpt 35 (?:turbo|trb) instruct", "gpt-35-turbo-instruct"),
    (r"gpt 35 (?:turbo|trb)", "gpt-35-turbo"),
    (r"gpt 4 32k", "gpt-4-32k"),
    (r"gpt 4 turbo vision", "gpt-4-turbo-vision"),
    (r"gpt 4 turbo", "gpt-4-turbo"),
    (r"gpt 4", "gpt-4"),
    (r"gpt 4o mini transcribe", "gpt-4o-mini-transcribe"),
    (r"gpt 4o mini tts", "gpt-4o-mini-tts"),
    (r"gpt 4o transcribe", "gpt-4o-transcribe"),
    (r"gpt 4o mini (?:rt|realtime|rtime)", "gpt-4o-mini-realtime-preview"),
    (r"gpt 4o mini aud", "gpt-4o-mini-audio-preview"),
    (r"gpt 4o (?:rt|realtime|rtime)", "gpt-4o-realtime-preview"),
    (r"gpt 4o aud", "gpt-4o-audio-preview"),
    (r"gpt 4o mini", "gpt-4o-mini"),
    (r"gpt 4o", "gpt-4o"),
    (r"gpt 4\.1 mini", "gpt-4.1-mini"),
    (r"gpt 4\.1 nano", "gpt-4.1-nano"),
    (r"gpt 4\.1", "gpt-4.1"),
    (r"gpt 4\.5", "gpt-4.5-preview"),
    (r"gpt 5 chat", "gpt-5-chat"),
    (r"gpt 5 mini", "gpt-5-mini"),
    (r"gpt 5 nano", "gpt-5-nano"),
    (r"gpt 5 codex", "gpt-5-codex"),
    (r"gpt 5 pro", "gpt-5-pro"),
    (r"gpt 5 rsng", "gpt-5"),  # "reasoning": the gpt-5 model itself
    (r"gpt 5", "gpt-5"),
    (r"gpt image 1", "gpt-image-1"),
    (r"gpt oss 120b", "gpt-oss-120b"),
    (r"gpt oss 20b", "gpt-oss-20b"),
    (r"o1 mini", "o1-mini"),
    (r"o1 preview", "o1-preview"),
    (r"o1 pro", "o1-pro"),
    (r"o1", "o1"),
    (r"o3 mini", "o3-mini"),
    (r"o3 pro", "o3-pro"),
    (r"o3 deep research", "o3-deep-research"),
    (r"o3", "o3"),
    (r"o4 mini", "o4-mini"),
    (r"codex mini", "codex-mini"),
    (r"computer use", "computer-use-preview"),
    (r"text embedding 3 large", "text-embedding-3-large"),
    (r"text embedding 3 small", "text-embedding-3-small"),
    (r"(?:text )?embedding ada(?: 002)?", "text-embedding-ada-002"),
    (r"babbage 002", "babbage-002"),
    (r"davinci 002", "davinci-002"),
]
_MODEL_PATTERNS = [(re.compile(rf"{pattern}(?= |$)"), name) for pattern, name in _MODELS]

# Meters that are not tokens: what the last word of the name counts.
_NON_TOKEN_UNITS = ("unit", "units", "images", "video", "session", "gb", "calls", "characters")
_PROVISIONED = re.compile(r"provisioned (?:managed (global|data zone|regional) unit|throughput\b.*)$")


def _words(name: str) -> list[str]:
    text = name.strip().lower().replace("gpt4o", "gpt 4o ")
    words: list[str] = []
    for word in re.split(r"[\s\-_/]+", text):
        if not word:
            continue
        glued = re.fullmatch(r"([a-z]{2,})(\d{3,4}|\d+k)", word)  # mini0718, aud1217, turbo16k
        if glued:
            words.extend(glued.groups())
        elif word not in _VOCABULARY and _COMPOUND.fullmatch(word):
            words.extend(_VOCABULARY_PART.findall(word))
        else:
            words.append(word)
    return words


def tokens_per_unit(unit: str, name: str = "") -> int | None:
    """``1K`` -> 1000, ``1M`` -> 1,000,000 (read from the name when the unit is empty)."""
    for text in (unit, name):
        found = re.search(r"\b1\s*([km])\b", (text or "").lower())
        if found:
            return 1000 if found.group(1) == "k" else 1_000_000
    return None


def _model_match(joined: str) -> tuple[str, str]:
    """The known model at the start of the words, and the rest."""
    for pattern, model in _MODEL_PATTERNS:
        found = pattern.match(joined)
        if found:
            return model, joined[found.end() :].strip()
    return "", joined


def meter_parse(name: str, unit: str = "") -> MeterReading:
    """Read one meter name (and its unit of measure). Pure: no database, no mapping."""
    words = _words(name)
    if not words:
        return MeterReading(reason="empty meter name")
    joined = " ".join(words)
    provisioned = _PROVISIONED.match(joined)
    if provisioned:
        where = {
            "global": MeterDeployment.GLOBAL,
            "data zone": MeterDeployment.DATA_ZONE,
            "regional": MeterDeployment.REGIONAL,
        }.get(provisioned.group(1) or "", MeterDeployment.NONE)
        return MeterReading(kind=TokenKind.PROVISIONED_HOURS, deployment_type=where)
    if words[-1] in _NON_TOKEN_UNITS:
        model, _rest = _model_match(" ".join(words[:-1]))
        return MeterReading(model=model, kind=TokenKind.OTHER)
    if words[-1] not in ("tokens", "token"):
        return MeterReading(reason=f"not a token meter and not a known unit ({words[-1]!r})")
    return _token_meter(words[:-1], tokens_per_unit(unit, name))


def _token_meter(words: list[str], per_unit: int | None) -> MeterReading:
    model, rest = _model_match(" ".join(words))
    if not model:
        return MeterReading(reason="no known model name at the start", tokens_per_unit=per_unit)
    version = ""
    seen: set[str] = set()
    deployments: set[str] = set()
    for word in rest.split():
        if _VERSION.fullmatch(word) and not version:
            version = word
        elif _CONTEXT.fullmatch(word) or word in _UNIT_IN_NAME:
            continue
        elif word in _DEPLOYMENT:
            deployments.add(_DEPLOYMENT[word])
        elif word in _VOCABULARY:
            seen.add(word)
        else:
            return MeterReading(model=model, reason=f"unknown word {word!r}", tokens_per_unit=per_unit)
    if len(deployments) > 1:
        return MeterReading(model=model, reason="names two deployment types", tokens_per_unit=per_unit)
    deployment = deployments.pop() if deployments else MeterDeployment.NONE
    kind, problem = _kind(seen, model)
    if seen & _FINE_TUNED and kind != TokenKind.OTHER:
        model = f"{model}-ft"
    return MeterReading(
        model=model,
        version=version,
        kind=kind,
        deployment_type=deployment,
        tokens_per_unit=per_unit,
        reason=problem,
    )


def _kind(seen: set[str], model: str) -> tuple[str, str]:
    if seen & _NOT_REQUEST:
        return TokenKind.OTHER, ""
    has_in, has_out, cached, batch = (
        bool(seen & _IN),
        bool(seen & _OUT),
        bool(seen & _CACHED),
        bool(seen & _BATCH),
    )
    if has_in and has_out:
        return TokenKind.UNKNOWN, "names both input and output"
    if batch:
        if has_out:
            return TokenKind.BATCH_OUTPUT, ""
        if has_in or cached:
            return TokenKind.BATCH_INPUT, ""
        return TokenKind.UNKNOWN, "batch without input or output"
    if cached:
        if has_out:
            return TokenKind.UNKNOWN, "cached output"
        return TokenKind.CACHED_INPUT, ""
    if has_out:
        return TokenKind.OUTPUT, ""
    if has_in or model.startswith("text-embedding"):  # embeddings bill what they are sent
        return TokenKind.INPUT, ""
    return TokenKind.UNKNOWN, "neither input nor output"


def model_family(name: str) -> str:
    """A model name as requests and meters both reduce to it, to compare the two.

    ``gpt-4o-2024-08-06`` -> ``gpt-4o``; ``gpt-35-turbo-16k`` -> ``gpt-35-turbo``;
    ``gpt-4o-mini-2024-07-18.ft-0e2c`` -> ``gpt-4o-mini-ft``; ``gpt-3.5-turbo`` -> ``gpt-35-turbo``.
    """
    text = (name or "").strip().lower().replace("gpt-3.5", "gpt-35")
    fine_tuned = ".ft-" in text or text.endswith("-ft") or text.endswith(".ft")
    text = re.split(r"\.ft\b", text)[0]
    text = re.sub(r"-ft$", "", text)
    text = re.sub(r"-\d{4}-\d{2}-\d{2}$", "", text)
    text = re.sub(r"-(?:0301|0613|1106|0125|0314)$", "", text)
    text = re.sub(r"-(?:4k|8k|16k|128k)(?=-|$)", "", text)
    return text + ("-ft" if fine_tuned else "")
