"""The parser of one Azure OpenAI call, as APIM logged it (``parser.usage_parse``).

* ``inputs``: what goes in (``RequestInput``, ``NativeInput``, ``LlmLogInput``) and comes out
  (``UsageResult``); the token sources and operations.
* ``readers``: small tolerant readers (text, counts, headers, cut JSON, model names).
* ``request``: URL, request body, streaming flag and model.
* ``response``: JSON answers (chat, completions, Responses API, images, audio), cut answers, errors.
* ``streaming``: server-sent-event answers.
* ``filters``: the Azure content-filter summary.
* ``sources``: where the tokens come from (the answer's ``usage``, the LLM log, an estimate).
* ``estimates``: tokenizer estimates, scaled up when a body was cut (``prompts``: prompt counts).
* ``parser``: ``usage_parse``, which runs them in order.
"""
