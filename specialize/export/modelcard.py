"""Deployment artifacts: the Ollama Modelfile (template + stops derived from the chat template) and the card.

Ollama speaks Go templates, not Jinja, so the Modelfile's TEMPLATE is derived by rendering the training
chat template with sentinel strings in place of the system and user text and turning them back into
``{{ .System }}`` / ``{{ .Prompt }}``. ``render_ollama_template`` expands that template the way Ollama does
for a single turn, so the export can check it against the chat template token for token.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from pathlib import Path
from typing import Any, Callable

from specialize.runtime.errors import InvalidInput
from specialize.runtime.workspace import references_root, write_text

SYS, USER = "\x01SPECIALIZE_SYSTEM\x01", "\x01SPECIALIZE_PROMPT\x01"
END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>", "</s>", "<|eom_id|>")


def _env():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(references_root() / "templates")),
                             keep_trailing_newline=True, undefined=jinja2.ChainableUndefined)
    env.filters["q"] = lambda s: json.dumps(s, ensure_ascii=False)
    return env


def ollama_template(render: Callable[[list[dict[str, str]]], str]) -> str:
    """Go template for one turn; ``render(messages)`` is the chat template with add_generation_prompt."""
    with_sys = render([{"role": "system", "content": SYS}, {"role": "user", "content": USER}])
    without = render([{"role": "user", "content": USER}])
    if USER not in with_sys or USER not in without:
        raise InvalidInput("The chat template drops the user message; cannot derive an Ollama TEMPLATE.",
                           fix="Check the template renders [{'role':'user',...}] with add_generation_prompt.")
    n = 0
    while n < min(len(with_sys), len(without)) and with_sys[-1 - n] == without[-1 - n]:
        n += 1
    head_sys, head_plain, tail = with_sys[:len(with_sys) - n], without[:len(without) - n], with_sys[len(with_sys) - n:]
    if USER not in tail:  # the split fell inside the user turn: move it back to the user sentinel
        cut = with_sys.index(USER)
        tail = with_sys[cut:]
        head_sys = with_sys[:cut]
        head_plain = without[:without.index(USER)]
    body = tail.replace(USER, "{{ .Prompt }}")
    if SYS not in head_sys:  # the template ignores system messages
        return head_plain + body
    go = "{{ if .System }}" + head_sys.replace(SYS, "{{ .System }}")
    go += ("{{ else }}" + head_plain if head_plain else "") + "{{ end }}"
    return go + body


_IF = re.compile(r"\{\{ if \.System \}\}(.*?)(?:\{\{ else \}\}(.*?))?\{\{ end \}\}", re.S)


def render_ollama_template(template: str, system: str | None, prompt: str) -> str:
    """Expand the templates ``ollama_template`` writes, as Ollama would for one turn."""
    def pick(m: re.Match) -> str:
        return m.group(1) if system else (m.group(2) or "")

    text = _IF.sub(pick, template)
    return text.replace("{{ .System }}", system or "").replace("{{ .Prompt }}", prompt)


def stop_tokens(eos_token: str, rendered_turn: str) -> list[str]:
    """EOS plus the end-of-turn markers the chat template writes after an assistant answer."""
    stops = [eos_token] if eos_token else []
    stops += [t for t in END_OF_TURN if t in rendered_turn and t not in stops]
    return stops


def parse_modelfile(text: str) -> dict[str, Any]:
    """FROM, TEMPLATE, SYSTEM and PARAMETER lines of a Modelfile (enough to check what we write)."""
    out: dict[str, Any] = {"parameters": {}}
    out["from"] = re.search(r"^FROM (.+)$", text, re.M).group(1).strip()
    m = re.search(r'^TEMPLATE """(.*?)"""', text, re.M | re.S)
    out["template"] = m.group(1) if m else None
    for key, value in re.findall(r"^PARAMETER (\w+) (.+)$", text, re.M):
        value = json.loads(value) if value.startswith('"') else float(value)
        out["parameters"].setdefault(key, []).append(value)
    return out


def write_modelfile(path: Path, *, gguf_file: str, template: str, stops: list[str], structured: bool = True,
                    num_ctx: int = 2048, system: str | None = None) -> Path:
    if '"""' in template:
        raise InvalidInput("The derived TEMPLATE contains triple quotes, which a Modelfile cannot hold.",
                           fix="Write the Modelfile by hand for this template.")
    text = _env().get_template("Modelfile.j2").render(
        created=_now(), gguf_file=gguf_file, template=template, stops=stops, structured=structured,
        temperature=0.7, num_ctx=num_ctx, system=system)
    write_text(path, text)
    return path


def write_model_card(path: Path, context: dict[str, Any]) -> Path:
    write_text(path, _env().get_template("model_card.md.j2").render(created=_now(), **context))
    return path


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
