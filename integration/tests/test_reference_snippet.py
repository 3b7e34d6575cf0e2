"""The reference doc's "hello world", verbatim but for the URL, streams through the gateway."""
import subprocess
import sys
import textwrap

from harness import TEAM_ABC_KEY

# From shared/reference/genai-platform-operations.md, with only GATEWAY_URL changed.
SNIPPET = '''
import httpx

GATEWAY_URL = "{url}/v1/chat/completions"
API_KEY = "team-abc-key-xxxxx"  # issued by the platform team

with httpx.stream(
    "POST",
    GATEWAY_URL,
    headers={{
        "Authorization": f"Bearer {{API_KEY}}",
        "Content-Type": "application/json",
    }},
    json={{
        "model": "default-chat",
        "messages": [{{"role": "user", "content": "Summarize this quarter's earnings report."}}],
        "stream": True,
    }},
    timeout=60.0,
) as response:
    for line in response.iter_lines():
        if line.startswith("data: ") and line != "data: [DONE]":
            print(line[6:], end="", flush=True)
'''


def test_reference_snippet_streams_through_the_gateway(gateway, mock):
    script = SNIPPET.format(url=gateway.url)
    assert "team-abc-key-xxxxx" in script
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # The snippet prints each chunk's JSON: streamed chat.completion.chunk objects.
    assert out.stdout.count('"object":"chat.completion.chunk"') >= 3, out.stdout[:500]
    assert '"content":' in out.stdout

    [received] = mock.requests()
    assert received["path"] == "/v1/chat/completions"
    headers = received["headers"]
    assert headers["authorization"] == [f"Bearer {gateway.provider_keys['OPENAI_API_KEY']}"]
    assert TEAM_ABC_KEY not in str(received), "the team key reached the provider"
    assert '"model":"gpt-4o-2024-08-06"' in received["body"].replace(" ", "")
    assert not any(name.startswith("x-genai-") for name in headers)
