"""Stand-ins for a local prompt-attack classifier package (``REVIEW_CLASSIFIER`` points here).

``WordClassifier`` scores by attack words, like a bag-of-words model would; the others break in
the ways a plugin can (fails to build, fails to score, answers the wrong number of scores)."""

from collections.abc import Sequence

ATTACK_WORDS = ("obey", "unfiltered", "jailbreak", "instructions", "ignore", "rules")


class WordClassifier:
    name = "words"
    calls: list[int] = []  # texts per scores() call, for the tests

    def scores(self, texts: Sequence[str]) -> list[float]:
        WordClassifier.calls.append(len(texts))
        return [min(1.0, sum(word in text.lower() for word in ATTACK_WORDS) / 3) for text in texts]


class BrokenToBuild:
    def __init__(self) -> None:
        raise OSError("model file not found in the package")


class FailsToScore:
    name = "fails"

    def scores(self, texts: Sequence[str]) -> list[float]:
        raise RuntimeError("out of memory")


class WrongLength:
    name = "short"

    def scores(self, texts: Sequence[str]) -> list[float]:
        return [0.5] * (len(texts) + 1)


ready = WordClassifier()  # an object already built is used as it is
