"""Jailbreak and prompt-injection phrase families, in several languages, and injection markers.

Each family has a name and a severity; a span's label is ``jailbreak:<family>:<language>`` (or
``injection:<marker>``), so a reviewer sees which shape matched. Patterns are written for the text
after ``normalise`` (NFKC, look-alikes folded), case-insensitive.

Every pattern contains one of ``ANCHORS`` (lower case, as a substring), so a text without any is
not searched (``anchor_present``, also read by ``TextTraits.jailbreak_word``).
"""

import re
from typing import NamedTuple

from .base import Span


class Family(NamedTuple):
    name: str
    severity: int
    patterns: dict[str, str]  # language -> regex


_A = r"(?:\w+\s+){0,3}"  # up to three words between ("all the", "toutes les", ...)
_AI = r"(?:AI|A\.I\.|KI|IA|LLM|GPT|ChatGPT|chatbot|bot|assistant|Assistent|asistente|assistente|model|Modell|modèle|modelo|modello|language\s+model)"

FAMILIES: list[Family] = [
    Family("ignore_previous", 3, {
        "en": r"\b(?:disregard|ignore|forget)\s+(?:all\s+|everything\s+|anything\s+)?(?:what|that)\s+you\s+(?:were|have\s+been|had\s+been)\s+(?:told|instructed|given|programmed)"
              r"|\b(?:disregard|ignore|forget)\s+(?:all|everything|anything)\s+you\s+(?:were|have\s+been|had\s+been)\s+(?:told|instructed|given|programmed)"
              r"\s+(?:(?:before|earlier|previously|so\s+far|until\s+now|up\s+to\s+now)\b|by\s+(?:your|the)\s+(?:developers?|creators?|makers?|operators?|openai|microsoft|system))"
              r"|\b(?:disregard|ignore|forget)\s+(?:all\s+|everything\s+)?(?:above|before\s+this|said\s+before)\b"
              r"|\bignore\s+all\s+(?:instructions|rules|guidelines)\b",
        "de": rf"\b(?:ignorier(?:e|en|t)?|vergiss|vergessen|missachte|missachten)\s+(?:sie\s+)?{_A}(?:vorherigen?|vorigen?|bisherigen?|obigen?|früheren?|vorangegangenen?|ursprünglichen?|alle[nm]?)\s+(?:anweisungen|instruktionen|befehle|regeln|vorgaben|richtlinien)"
              r"|\bvergiss\s+alles\s*,?\s*was\s+(?:man\s+)?dir\s+(?:\w+\s+){0,2}(?:gesagt|befohlen|vorgegeben)",
        "fr": rf"\b(?:ignorez?|ignores|oubliez?|oublies|ne\s+tiens\s+pas\s+compte\s+des|ne\s+tenez\s+pas\s+compte\s+des)\s+{_A}(?:instructions|consignes|règles|directives)\s+(?:précédentes|antérieures|ci-dessus|initiales|d'origine)"
              r"|\boublie[zs]?\s+tout\s+ce\s+qu(?:e\s+|')(?:on\s+)?(?:t'a|vous\s+a)\s+(?:été\s+)?(?:dit|demandé)",
        "es": rf"\b(?:ignora|ignore|ignoren|olvida|olvide|omite|descarta)\s+{_A}(?:instrucciones|indicaciones|reglas|órdenes|directrices)\s+(?:anteriores|previas|originales|iniciales)"
              r"|\bolvida\s+todo\s+lo\s+(?:que\s+te\s+(?:dijeron|han\s+dicho|indicaron)|anterior)",
        "it": rf"\b(?:ignora|ignorate|dimentica|dimenticate)\s+{_A}(?:istruzioni|regole|indicazioni|direttive)\s+(?:precedenti|iniziali|originali)"
              r"|\bdimentica\s+tutto\s+(?:quello|ciò)\s+che\s+ti\s+(?:è\s+stato|hanno)\s+detto",
        "pt": rf"\b(?:ignore|ignora|esqueça|esqueca|desconsidere)\s+{_A}(?:instruções|instrucoes|regras|orientações|diretrizes)\s+(?:anteriores|prévias|previas|iniciais|originais)",
        "nl": rf"\b(?:negeer|vergeet)\s+{_A}(?:vorige|eerdere|voorgaande|bovenstaande|oorspronkelijke|alle)\s+(?:instructies|regels|opdrachten|richtlijnen)",
        "ja": r"(?:これまで|今まで|以前|前|上記|先ほど|最初|元|システム|全て|すべて)の(?:全ての|すべての)?(?:指示|命令|ルール|指令|プロンプト|設定)(?:は|を|も)?(?:すべて|全て|全部)?(?:無視|忘れ)",
        "zh": r"(?:忽略|无视|無視|忘记|忘記|忽视|忽視|不要理会)(?:掉)?(?:你)?(?:之前|以前|先前|上面|上述|前面|所有|全部|一切)(?:的)?(?:所有|全部)?(?:的)?(?:指令|指示|说明|說明|规则|規則|提示|命令)",
        "ko": r"(?:이전|앞의|위의|기존|모든)\s*(?:의\s*)?(?:모든\s*)?(?:지시|지침|명령|규칙|지시사항)(?:을|를|은|는|사항을)?\s*(?:모두\s*)?(?:무시|잊어)",
    }),
    Family("new_rules", 3, {
        "en": r"\byour\s+(?:new\s+)?(?:only|sole|one)\s+(?:rule|instruction|directive|purpose)\s+is\s+to\s+(?:obey|follow|do\s+whatever)"
              r"|\byour\s+new\s+(?:rules?|instructions?|directives?)\s+(?:is|are)\b"
              r"|\bfrom\s+now\s+on\s*,?\s+you\s+(?:will|must|shall)\s+(?:only\s+)?(?:obey|follow\s+only|do\s+(?:whatever|everything)\s+I\s+(?:say|ask))"
              r"|\byou\s+(?:must|will)\s+(?:now\s+)?obey\s+(?:me|only\s+me|my\s+(?:every\s+)?commands?)\b",
        "de": r"\bdeine\s+(?:neue\s+)?(?:einzige\s+)?(?:regel|anweisung|aufgabe)\s+(?:ist|lautet)\s*,?\s+(?:mir\s+)?(?:zu\s+)?(?:gehorchen|folgen)"
              r"|\bab\s+(?:jetzt|sofort)\s+gehorchst\s+du\s+(?:nur\s+)?mir",
        "fr": r"\bta\s+(?:nouvelle\s+)?(?:seule\s+)?(?:règle|consigne)\s+est\s+de\s+m'obéir"
              r"|\bdésormais\s*,?\s+tu\s+(?:m'obéis|obéis|n'obéis\s+qu'à\s+moi)",
        "es": r"\btu\s+(?:nueva\s+)?(?:única\s+)?(?:regla|instrucción)\s+es\s+obedecerme"
              r"|\ba\s+partir\s+de\s+ahora\s*,?\s+(?:me\s+)?obedecerás",
        "ja": r"(?:あなた|君|お前)の(?:新しい)?(?:唯一の)?ルールは(?:私|わたし)に従う"
              r"|(?:これから|今後|今から)は?(?:私|わたし)の(?:命令|指示)(?:に|だけに)(?:のみ)?従(?:え|いなさい|うこと)",
        "zh": r"你(?:的)?(?:新|唯一的?)(?:规则|規則)是(?:服从|服從|听从|聽從)我|从现在开始你只(?:服从|听从)我",
    }),
    Family("persona_without_rules", 3, {
        "en": rf"\b(?:role-?play|act|pretend|behave)\s+(?:to\s+be\s+|as\s+|like\s+|that\s+you\s+are\s+)?(?:an?\s+)?(?:\w+\s+){{0,2}}{_AI}\s+(?:that|which|who)\s+(?:has|have)\s+no\s+(?:rules|restrictions|limits|filters|guidelines|ethics)"
              rf"|\b(?:role-?play|act|pretend|behave)\s+(?:to\s+be\s+|as\s+|like\s+|that\s+you\s+are\s+)?(?:an?\s+)?(?:\w+\s+){{0,2}}{_AI}\s+(?:without|with\s+no)\s+(?:any\s+)?(?:rules|restrictions|limits|filters|guidelines|ethics)"
              rf"|\b(?:act|pretend|behave)\s+(?:to\s+be\s+|as\s+|like\s+)?(?:an?\s+)?(?:unfiltered|uncensored|amoral|unrestricted|unaligned|evil)\s+{_AI}"
              rf"|\byou\s+are\s+(?:now\s+)?(?:an?\s+)?(?:\w+\s+){{0,2}}{_AI}\s+(?:that|which|who)\s+(?:has|have)\s+no\s+(?:rules|restrictions|limits|filters|guidelines|ethics)"
              rf"|\byou\s+are\s+(?:now\s+)?(?:an?\s+)?(?:\w+\s+){{0,2}}{_AI}\s+(?:without|with\s+no)\s+(?:any\s+)?(?:rules|restrictions|limits|filters|guidelines|ethics)"
              r"|\byou\s+are\s+(?:no\s+longer|not)\s+bound\s+by\s+(?:any\s+)?(?:rules|restrictions|guidelines|policies|openai)"
              r"|\b(?:no\s+longer|don't|do\s+not)\s+(?:have\s+to\s+)?(?:follow|abide\s+by)\s+(?:any\s+)?(?:openai|microsoft|content|safety)\s+(?:rules|policies|guidelines|policy)",
        "de": rf"\b{_AI}\s+ohne\s+(?:jegliche\s+|irgendwelche\s+)?(?:regeln|einschränkungen|filter|zensur|grenzen)",
        "fr": rf"\b{_AI}\s+sans\s+(?:aucune\s+)?(?:règles?|restrictions?|filtres?|limites?|censure)",
        "es": rf"\b{_AI}\s+sin\s+(?:ninguna\s+|ningún\s+)?(?:reglas|restricciones|filtros|límites|censura)",
        "it": rf"\b{_AI}\s+senza\s+(?:alcuna\s+|alcun\s+)?(?:regole|restrizioni|filtri|limiti|censura)",
        "pt": rf"\b{_AI}\s+sem\s+(?:nenhuma\s+|qualquer\s+)?(?:regras|restrições|filtros|limites|censura)",
        "ja": r"(?:制限|ルール|規則|検閲|フィルター)(?:の|が)(?:ない|無い|一切ない)(?:AI|モデル|アシスタント|人工知能)",
        "zh": r"没有(?:任何)?(?:限制|规则|規則|过滤|審查|审查)的(?:AI|人工智能|模型|助手)",
    }),
    Family("stay_in_character", 2, {
        "en": r"\b(?:never|don't|do\s+not)\s+break\s+character\b(?:[^.\n]{0,80}\b(?:rules|filters|policy|policies|refuse))?"
              r"(?<=\w)(?<!character)|\bstay\s+in\s+character\s+no\s+matter\s+what\b"
              r"|\bif\s+you\s+break\s+character\b",
    }),
    Family("developer_mode", 3, {
        "en": r"\b(?:you\s+are|you're)\s+(?:now\s+)?(?:in|running\s+in)\s+(?:developer|debug|dev|god|jailbreak|maintenance)\s+mode\b"
              r"|\b(?:debug|dev)\s+mode\s+(?:enabled|activated)\b"
              r"|\b(?:simulate|respond\s+in|answer\s+in|act\s+in)\s+(?:developer|debug|dev)\s+mode\b",
        "de": r"\b(?:entwickler|debug|gott)modus\s+(?:aktiviert|aktivieren|an|ist\s+aktiv)",
        "fr": r"\bmode\s+(?:développeur|debug|dieu)\s+(?:activé|activer)",
        "es": r"\bmodo\s+(?:desarrollador|depuración|dios)\s+(?:activado|activar)",
        "ja": r"(?:開発者|デベロッパー|デバッグ|ゴッド)モード(?:が|を)?(?:有効|オン|起動)",
        "zh": r"(?:开发者|開發者|调试|上帝)模式(?:已)?(?:启用|開啟|开启|激活)",
    }),
    Family("reveal_configuration", 2, {
        "en": r"\b(?:reveal|show|print|repeat|output|tell\s+me|give\s+me|write\s+out|what\s+(?:is|are))\s+(?:me\s+)?(?:all\s+)?(?:of\s+)?your\s+(?:system\s+prompt|(?:hidden|secret|initial|original)\s+(?:instructions|prompt)|configuration\s+prompt)"
              r"|\brepeat\s+(?:the\s+)?(?:words|text|everything)\s+above\s+starting\s+with",
        "de": r"\b(?:zeig(?:e)?|gib|verrate|wiederhole)\s+(?:mir\s+)?(?:deinen|deine|den|die)\s+(?:system-?prompt|systemanweisungen|versteckten\s+anweisungen)",
        "fr": r"\b(?:montre|affiche|révèle|donne)(?:-moi|\s+moi)?\s+(?:ton|tes|le|les)\s+(?:prompt\s+système|instructions\s+(?:cachées|système|initiales))",
        "es": r"\b(?:muestra|revela|dime|dame)(?:me)?\s+(?:tu|tus|el|las)\s+(?:prompt\s+del\s+sistema|instrucciones\s+(?:ocultas|del\s+sistema|iniciales))",
        "ja": r"システムプロンプト(?:を|の内容を)(?:教えて|表示|見せて|出力|全て出力|すべて出力)",
        "zh": r"(?:显示|顯示|告诉我|告訴我|输出|輸出|泄露)(?:你的)?(?:系统提示|系統提示|系统指令|初始指令)",
    }),
]  # fmt: skip

# Instructions addressed to the model inside pasted content: anywhere only in an unambiguous form
# ("note to the AI"), inside comments and hidden text also "assistant: ignore ...".
_AI_ONLY = r"(?:AI|A\.I\.|KI|LLM|GPT|ChatGPT|chatbot|language\s+model|AI\s+assistant)(?!\s+(?:team|group|department|project|committee|strategy|policy))"
_ADDRESSED_ANYWHERE = rf"(?:(?:note|message|instructions?)\s+(?:to|for)\s+(?:the\s+|any\s+)?{_AI_ONLY}s?\b|if\s+you\s+are\s+an?\s+{_AI_ONLY}\b|(?:hey|dear|attention)\s+{_AI_ONLY}s?\b)"
_ADDRESSED = rf"(?:{_ADDRESSED_ANYWHERE}|{_AI}s?\s*:\s*(?:ignore|disregard|do\s+not|don't|you\s+must|always|never|instead|forget|include|say|reply|respond))"
_MARKERS: dict[str, str] = {
    "html_comment": rf"<!--(?:(?!-->)[\s\S]){{0,800}}?{_ADDRESSED}(?:(?!-->)[\s\S]){{0,800}}?-->",
    "hidden_text": rf"(?:display\s*:\s*none|font-size\s*:\s*0|visibility\s*:\s*hidden|color\s*:\s*(?:white|#fff(?:fff)?))[^>]{{0,200}}>[^<]{{0,800}}?{_ADDRESSED}",
    "markdown_comment": rf"\[//\]:\s*#\s*\([^)]{{0,800}}?{_ADDRESSED}",
    "addressed": rf"\b{_ADDRESSED_ANYWHERE}",
    "role_marker": r"<\|im_start\|>\s*(?:system|assistant)|<\|(?:system|im_sep|endoftext)\|>|<<SYS>>"
                   r"|(?m:^[ \t>*#-]*(?:\[\s*system\s*\]|\[/?INST\]|\{\{\s*system\s*\}\}|###\s*system\s*(?:prompt|message)?\s*:))",
}  # fmt: skip

_COMPILED: list[tuple[str, re.Pattern[str]]] = [
    *(
        (f"jailbreak:{f.name}:{lang}", re.compile(p, re.IGNORECASE))
        for f in FAMILIES
        for lang, p in f.patterns.items()
    ),
    *((f"injection:{name}", re.compile(p, re.IGNORECASE)) for name, p in _MARKERS.items()),
]
SEVERITIES = {f.name: f.severity for f in FAMILIES} | {"injection": 3}

ANCHORS: tuple[str, ...] = (
    # en
    "ignore", "ignora", "disregard", "forget", "rule", "obey", "instruct", "directive", "whatever", "from now on",
    "role", "act", "pretend", "behave", "bound", "follow", "abide", "character", "mode", "prompt",
    "repeat", "restriction", "limits", "filters", "guideline", "ethics",
    # injection markers
    "note", "message", "if you are", "hey", "dear", "attention", "<!--", "display", "font-size",
    "visibility", "color", "[//]", "<|", "<<sys", "[system", "[ system", "[inst", "[/inst", "{{", "###",
    # de fr es it pt nl
    "ignorier", "vergiss", "vergessen", "missacht", "regel", "anweisung", "gehorch", "ohne", "modus",
    "oubli", "compte des", "consigne", "règle", "obéi", "sans", "olvid", "omite", "descarta",
    "instruccion", "instrucción", "obedec", "sin ", "modo", "dimentic", "istruzion", "regole", "senza",
    "esque", "desconsider", "instruç", "instruc", "regras", "sem ", "negeer", "vergeet",
    # ja zh ko
    "無視", "忘れ", "ルール", "命令", "制限", "規則", "検閲", "フィルター", "モード", "システムプロンプト",
    "忽略", "无视", "忘记", "忘記", "忽视", "忽視", "不要理会", "规则", "服从", "服從", "听从", "聽從",
    "没有", "模式", "提示", "指令",
    "무시", "잊어",
)  # fmt: skip


# "Developer mode" is also a setting of phones, browsers and consoles: a mode phrase with one of
# these in its sentence is about a device, not the model.
_DEVICE = re.compile(
    r"\b(?:android|phone|iphone|ios|ipad|device|pixel|samsung|xiaomi|chrome|chromebook|browser|firefox"
    r"|windows|macos|pc|laptop|tablet|tv|router|xbox|playstation|console|nintendo|roku|kindle"
    r"|usb|adb|bios|firmware|smartwatch|tesla)\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?。！？\n]")


def device_mode(text: str, start: int, end: int) -> bool:
    """Whether the sentence around ``text[start:end]`` (a mode phrase) names a device."""
    before = max(
        (m.end() for m in _SENTENCE_END.finditer(text, max(0, start - 200), start)),
        default=max(0, start - 200),
    )
    after = _SENTENCE_END.search(text, end, end + 200)
    return _DEVICE.search(text, before, after.start() if after else min(len(text), end + 200)) is not None


def anchor_present(text: str) -> bool:
    lowered = text.lower()
    return any(anchor in lowered for anchor in ANCHORS)


def injection_phrases_find(text: str) -> list[Span]:
    if not anchor_present(text):
        return []
    return [
        Span(m.start(), m.end(), label)
        for label, pattern in _COMPILED
        for m in pattern.finditer(text)
        if "developer_mode" not in label or not device_mode(text, m.start(), m.end())
    ]
