"""A Mermaid state diagram of one flow (``rebound flows graph FLOW``), for docs and reviews."""

from __future__ import annotations

from bot.conversation.flow_spec import FlowSpec


def mermaid(flow: FlowSpec) -> str:
    """The flow as ``stateDiagram-v2`` text: paste it into mermaid.live or a Markdown file."""
    lines = ["stateDiagram-v2", f"    [*] --> {flow.start}"]
    for name, state in flow.states.items():
        for choice in state.choices:
            label = choice.label.replace(":", " ").replace('"', "'")
            lines.append(f"    {name} --> {_node(choice.to)}: {label}")
        if state.options:
            lines.append(
                f"    {name} --> {_node(state.options.to)}: pick from {state.options.source}"
            )
        for spec, what in ((state.input, "answer"), (state.form, "form")):
            if spec is not None:
                lines.append(f"    {name} --> {_node(spec.to)}: {what}")
        for nxt in state.next:
            lines.append(
                f"    {name} --> {_node(nxt.to)}" + (f": if {nxt.when}" if nxt.when else "")
            )
        if state.end:
            lines.append(f"    {name} --> [*]")
    return "\n".join(lines) + "\n"


def _node(target: str) -> str:
    return f"flow_{target[1:]}" if target.startswith("@") else target
