"""The optional detectors of flag evaluation: Azure Prompt Shields (a remote service) and a local
classifier (a package's model). Both see a whole batch at once; neither may stop the batch: what
they could not do is a note in ``EvaluateStats.notes``."""

import logging

from django.conf import settings

from ..classifier import ClassifierUnavailable, classifier_get, conversations_score
from ..conversation import Conversation
from ..detectors import CLASSIFIER_DETECTOR, PROMPT_SHIELDS_DETECTOR
from ..shields import ShieldsConfig, shield_input_build, shields_check
from .flag_data import EvaluateStats, FlagData

log = logging.getLogger(__name__)
SHIELDS_SOURCE = f"detector:{PROMPT_SHIELDS_DETECTOR}"
CLASSIFIER_SOURCE = f"detector:{CLASSIFIER_DETECTOR}"
# Pattern and service hits that get the classifier's score of their message beside them.
_SCORED_SOURCES = {"detector:jailbreak", SHIELDS_SOURCE}


def shields_apply(
    *,
    wanted: dict[int, list[FlagData]],
    conversations: dict[int, Conversation],
    config: ShieldsConfig,
    stats: EvaluateStats,
) -> set[int]:
    """Prompt Shields' attacks added to ``wanted``; the requests it could not check."""
    inputs = {}
    for request_id, conversation in conversations.items():
        if request_id in wanted and (sent := shield_input_build(conversation)) is not None:
            inputs[request_id] = sent
    outcome = shields_check(inputs=inputs, config=config)
    stats.notes.extend(outcome.notes)
    for request_id, attacks in outcome.attacks.items():
        if attacks:
            spans = [
                {
                    "part": attack.where.part,
                    "message": attack.where.message,
                    "start": 0,
                    "end": attack.where.length,
                    "label": f"{PROMPT_SHIELDS_DETECTOR}:{attack.kind}",
                }
                for attack in attacks
            ]
            detail = {"attacks": sorted({attack.kind for attack in attacks})}
            wanted[request_id].append(FlagData(SHIELDS_SOURCE, PROMPT_SHIELDS_DETECTOR, 3, spans, detail))
    return outcome.unchecked


def classifier_apply(
    *,
    wanted: dict[int, list[FlagData]],
    conversations: dict[int, Conversation],
    stats: EvaluateStats,
) -> set[int]:
    """The local classifier's scores: a flag where one reaches the threshold, and the score beside
    the jailbreak and Prompt Shields hits of the same message. The requests it could not score."""
    try:
        classifier = classifier_get()
        if classifier is None:
            return set()
        scored = conversations_score(
            classifier=classifier,
            conversations={key: value for key, value in conversations.items() if key in wanted},
        )
    except ClassifierUnavailable as exc:
        note = f"Local classifier not run ({exc}); its earlier flags are kept, the other detectors ran"
        log.warning(note)
        stats.notes.append(note)
        return set(wanted)
    threshold = settings.REVIEW_CLASSIFIER_THRESHOLD
    for request_id, scores in scored.items():
        by_message = {(score.part, score.message): score.score for score in scores}
        for data in wanted[request_id]:
            if data.source in _SCORED_SOURCES:
                beside = [by_message.get((span["part"], span["message"])) for span in data.spans]
                if any(score is not None for score in beside):
                    data.detail = {**data.detail, "classifier_score": max(s for s in beside if s is not None)}
        high = [score for score in scores if score.score >= threshold]
        if not high:
            continue
        messages = conversations[request_id].messages
        spans = [
            {
                "part": score.part,
                "message": score.message,
                "start": 0,
                "end": len(messages[score.message].text),
                "label": f"{CLASSIFIER_DETECTOR}:{classifier.name}",
            }
            for score in high
        ]
        detail = {
            "classifier": classifier.name,
            "classifier_score": max(score.score for score in high),
            "threshold": threshold,
            "scores": [{"part": s.part, "message": s.message, "score": s.score} for s in scores],
        }
        wanted[request_id].append(FlagData(CLASSIFIER_SOURCE, CLASSIFIER_DETECTOR, 2, spans, detail))
    return set()
