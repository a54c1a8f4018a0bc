"""Where the tokens of one call come from: the answer's ``usage`` when it is usable, else the APIM
LLM log, else nothing for calls billed per image or per minute, else an estimate."""

from typing import Any

from .estimates import Estimating
from .inputs import AUDIO_TRANSCRIPTION, AUDIO_TRANSLATION, IMAGE, LLM_LOG, NONE, REPORTED, UNKNOWN
from .readers import _dict, _int

_USAGE_COUNTS = ("input_tokens", "output_tokens", "prompt_tokens", "completion_tokens", "total_tokens")
_USAGE_DETAILS = (
    ("input_tokens_details", "cached_tokens"),
    ("output_tokens_details", "reasoning_tokens"),
    ("prompt_tokens_details", "cached_tokens"),
    ("completion_tokens_details", "reasoning_tokens"),
)
_TOKENS_MAX = 2**53  # no call uses more; a larger count is not a count


def _count_unusable(value: Any) -> bool:
    """A token count that is present but not one: negative, NaN, infinite, too large, not a number
    (null is absent, not unusable)."""
    if value is None:
        return False
    if type(value) is int:
        return not 0 <= value <= _TOKENS_MAX
    if isinstance(value, float):
        return not 0 <= value <= _TOKENS_MAX  # NaN fails every comparison; a fraction is cut
    if isinstance(value, str):
        digits = value.strip()
        return not (digits.isdigit() and len(digits) <= 16 and int(digits) <= _TOKENS_MAX)
    return True  # bools, lists, objects


def _usage_unusable(usage: Any) -> str:
    """ "prompt_tokens: -5" for the first count of ``usage`` that cannot be used, else ""."""
    if not isinstance(usage, dict):
        return ""
    for name in _USAGE_COUNTS:
        if _count_unusable(usage.get(name)):
            return f"{name}: {_brief(usage.get(name))}"
    for details, name in _USAGE_DETAILS:
        value = _dict(usage.get(details)).get(name)
        if _count_unusable(value):
            return f"{details}.{name}: {_brief(value)}"
    return ""


def _brief(value: Any) -> str:
    try:
        return str(value)[:20]
    except ValueError:  # an int of more than 4,300 digits
        return "a number too large"


class TokenSources(Estimating):
    """Steps that choose where the tokens come from and take them."""

    def _tokens(self) -> None:
        r = self.result
        unusable = _usage_unusable(self.usage) if self.usage is not None else ""
        if self.usage is not None and not unusable and self._apply_usage(self.usage):
            r.token_source = REPORTED
            return
        self._tokens_not_reported()
        if unusable:
            # Negative or NaN counts are not a report of zero tokens: what was estimated (or taken
            # from the LLM log) stands, and the note says why the body's usage was not taken.
            r.reason = "; ".join(filter(None, [f"usage in the response unusable ({unusable})", r.reason]))[
                :200
            ]

    def _tokens_not_reported(self) -> None:
        r = self.result
        if self.llm_log is not None and self.llm_log.has_tokens:
            r.prompt_tokens = _int(self.llm_log.prompt_tokens)
            r.completion_tokens = _int(self.llm_log.completion_tokens)
            r.total_tokens = _int(self.llm_log.total_tokens) or r.prompt_tokens + r.completion_tokens
            r.token_source = LLM_LOG
            if self.response_cut or self.request_cut:
                r.reason = "body cut at 8,192 bytes; tokens from the APIM LLM log"
            return
        if r.operation in (IMAGE, AUDIO_TRANSCRIPTION, AUDIO_TRANSLATION):
            self._non_token_operation()
            return
        if not self.request_text.strip() and not self.response_text.strip():
            r.token_source = UNKNOWN
            r.reason = "no body logged and no LLM log"
            return
        self._estimate()

    def _apply_usage(self, usage: dict) -> bool:
        r = self.result
        if "input_tokens" in usage or "output_tokens" in usage:
            r.prompt_tokens = _int(usage.get("input_tokens"))
            r.completion_tokens = _int(usage.get("output_tokens"))
            r.cached_tokens = _int(_dict(usage.get("input_tokens_details")).get("cached_tokens"))
            r.reasoning_tokens = _int(_dict(usage.get("output_tokens_details")).get("reasoning_tokens"))
        elif "prompt_tokens" in usage or "completion_tokens" in usage:
            r.prompt_tokens = _int(usage.get("prompt_tokens"))
            r.completion_tokens = _int(usage.get("completion_tokens"))
            r.cached_tokens = _int(_dict(usage.get("prompt_tokens_details")).get("cached_tokens"))
            r.reasoning_tokens = _int(_dict(usage.get("completion_tokens_details")).get("reasoning_tokens"))
        else:
            return False
        r.total_tokens = _int(usage.get("total_tokens")) or r.prompt_tokens + r.completion_tokens
        return True

    def _non_token_operation(self) -> None:
        """Images (dall-e) and whisper audio are billed per image / per minute, not per token."""
        r = self.result
        body = self.request_json
        if r.operation == IMAGE:
            if self.response_cut or not self.response_text.strip():
                r.images = max(r.images, _int(body.get("n")) or 1)
            r.image_size = str(body.get("size") or "")[:32]
            r.image_quality = str(body.get("quality") or "")[:32]
        if self.response_cut:
            r.reason = "body cut at 8,192 bytes"
        r.token_source = NONE
