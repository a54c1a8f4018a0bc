"""Extracting the conversation: JSON bodies, SSE streams, cut bodies and LLM-log chunks."""

import json

from audit.conversation import conversation_extract, llm_log_join
from tests.support.review_data import chat_bodies

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}]},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"function": {"name": "calc", "arguments": '{"x": 2}'}}],
    },
    {"role": "tool", "content": "4"},
]


def test_it_reads_every_role_from_a_chat_body():
    request_body, response_body = chat_bodies(MESSAGES, "It is 4.")
    conversation = conversation_extract(request_body=request_body, response_body=response_body)
    assert [(m.role, m.text) for m in conversation.messages] == [
        ("system", "Be brief."),
        ("user", "What is 2+2?"),
        ("assistant", '[tool call calc] {"x": 2}'),
        ("tool", "4"),
    ]
    assert [m.text for m in conversation.completion] == ["It is 4."]
    assert (conversation.prompt_source, conversation.completion_source) == ("body", "body")


def test_it_joins_the_deltas_of_a_stream():
    request_body, response_body = chat_bodies(MESSAGES, "The answer is four.", stream=True)
    conversation = conversation_extract(request_body=request_body, response_body=response_body)
    assert [m.text for m in conversation.completion] == ["The answer is four."]
    assert conversation.completion_source == "stream"


def test_it_prefers_the_llm_log_when_bodies_are_cut():
    request_body, response_body = chat_bodies(MESSAGES, "The answer is four.", stream=True)
    request_text = json.dumps(MESSAGES)
    chunks = [request_text[i : i + 30] for i in range(0, len(request_text), 30)]
    conversation = conversation_extract(
        request_body=request_body[:40],
        response_body=response_body[:150],
        llm_request_messages=chunks,
        llm_response_messages=[json.dumps([{"role": "assistant", "content": "The answer is four."}])],
    )
    assert conversation.prompt_source == "llm_log"
    assert [m.text for m in conversation.messages][:2] == ["Be brief.", "What is 2+2?"]
    assert conversation.completion_source == "llm_log"
    assert conversation.completion[0].text == "The answer is four."


def test_it_salvages_text_from_a_cut_body_without_llm_log():
    request_body = json.dumps(
        {"messages": [{"role": "user", "content": "my email is a@example.com and more"}]}
    )
    conversation = conversation_extract(request_body=request_body[:55], response_body="")
    assert conversation.prompt_source == "salvaged"
    assert conversation.messages[0].role == "user"
    assert "my email is a@example.com and more".startswith(conversation.messages[0].text)
    assert conversation.messages[0].text.startswith("my email is")


def test_it_reads_the_responses_api():
    request_body = json.dumps({"instructions": "Be terse.", "input": "Hi"})
    response_body = json.dumps(
        {
            "output": [
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hey"}]}
            ]
        }
    )
    conversation = conversation_extract(request_body=request_body, response_body=response_body)
    assert [(m.role, m.text) for m in conversation.messages] == [("system", "Be terse."), ("user", "Hi")]
    assert conversation.completion[0].text == "Hey"


def test_llm_log_chunks_that_are_each_json_are_concatenated():
    assert llm_log_join(['[{"role":"user","content":"a"}]', '[{"role":"user","content":"b"}]']) == [
        {"role": "user", "content": "a"},
        {"role": "user", "content": "b"},
    ]
    assert llm_log_join(["", ""]) is None
