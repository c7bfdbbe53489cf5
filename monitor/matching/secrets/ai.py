"""OpenAI, Anthropic and Hugging Face API keys."""

from __future__ import annotations

from monitor.matching.secrets._spec import EDGE_L, EDGE_R, token_detector


def _mixed_case(token: str) -> bool:
    body = token.split("_", 1)[-1] if token.startswith("hf_") else token[8:]
    return any(c.isupper() for c in body) and any(c.islower() for c in body)


DETECTORS = (
    token_detector(
        "openai_key", "OpenAI API key (sk-…T3BlbkFJ…, sk-proj-, sk-svcacct-, sk-admin-)",
        (rb"T3BlbkFJ",),
        EDGE_L + rb"(?:sk-(?:proj|svcacct|admin)-(?:[A-Za-z0-9_\-]{74}|[A-Za-z0-9_\-]{58})"
        rb"T3BlbkFJ(?:[A-Za-z0-9_\-]{74}|[A-Za-z0-9_\-]{58})|sk-[A-Za-z0-9]{20}T3BlbkFJ"
        rb"[A-Za-z0-9]{20})" + EDGE_R, min_bits=3.8, reach=100, after=80),
    token_detector(
        "anthropic_key", "Anthropic API key (sk-ant-api03-, sk-ant-admin01-)",
        (rb"sk-ant-(?:api03|admin01)-",),
        EDGE_L + rb"sk-ant-(?:api03|admin01)-[A-Za-z0-9_\-]{93}AA" + EDGE_R, min_bits=4.0,
        reach=20, after=100),
    token_detector(
        "huggingface_token", "Hugging Face token (hf_, api_org_)",
        (rb"\bhf_[A-Za-z]{34}", rb"\bapi_org_[A-Za-z]{34}"),
        EDGE_L + rb"(?:hf_|api_org_)[A-Za-z]{34}" + EDGE_R, check=_mixed_case, min_bits=3.8,
        reach=44, after=4),
)
