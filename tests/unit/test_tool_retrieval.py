"""Tool retrieval: BM25 over tool texts, the top-K selection, and BFCL tool pools."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_sdk.agent import Agent, RunStats, StepResult, ToolCall
from agent_sdk.agent.backends import StepRequest, StepStream
from agent_sdk.agent.retrieval import BM25Retriever, ToolRetrieval, retrieval_terms, tool_text
from agent_sdk.errors import UserError
from agent_sdk.eval.bfcl_data import function_to_tool, load_bfcl
from agent_sdk.eval.tool_pool import pool_functions, with_tool_pool
from agent_sdk.tools import Tool

pytestmark = pytest.mark.unit

BFCL = Path(__file__).resolve().parents[2].parent / "shared" / "eval" / "bfcl"


def _tool(name: str, description: str, **params: str) -> dict:
    props = {k: {"type": "string", "description": v} for k, v in params.items()}
    return {"name": name, "description": description, "parameters": {"type": "object", "properties": props}}


TOOLS = [
    _tool("get_weather", "Current weather in a city.", city="City name, e.g. Paris."),
    _tool("set_alarm", "Sets an alarm clock.", time="Time of day, HH:MM."),
    _tool("turn_on_lights", "Switches the lights of a room on.", room="Which room."),
    _tool("play_music", "Plays songs by an artist.", artist="The artist."),
    _tool("calculate_triangle_area", "Area of a triangle from its base and height.", base="Base.", height="Height."),
    _tool("convert_currency", "Converts an amount between currencies.", amount="How much.", to="Target currency."),
    _tool("send_email", "Sends an email message.", to="Recipient address.", body="Text."),
    _tool("get_stock_price", "Latest price of a stock by ticker symbol.", ticker="Ticker."),
    _tool("translate_text", "Translates text into another language.", text="Text.", language="Target language."),
    _tool("book_flight", "Books a flight between two airports.", origin="From.", destination="To."),
]


def test_terms_drop_function_words_plurals_and_cut_long_words() -> None:
    assert retrieval_terms("What are the areas of these Triangles?") == ["area", "triang"]
    assert retrieval_terms("calculateTriangleArea") == ["calcul", "triang", "area"]
    assert retrieval_terms("batteries") == retrieval_terms("battery") == ["batter"]
    assert retrieval_terms("cities") == retrieval_terms("city") == ["city"]
    assert retrieval_terms("") == []


def test_tool_text_has_name_description_and_parameters() -> None:
    text = tool_text(TOOLS[4])
    for part in ("calculate triangle area", "Area of a triangle", "base", "height"):
        assert part in text


@pytest.mark.parametrize(("request_text", "expected"), [
    ("What's the weather like in Paris?", "get_weather"),
    ("wake me up at 7:30 with an alarm", "set_alarm"),
    ("switch on the kitchen lights", "turn_on_lights"),
    ("play some songs by Queen", "play_music"),
    ("area of a triangle with base 3 and height 4", "calculate_triangle_area"),
    ("how much is 20 euros in dollars, convert it", "convert_currency"),
    ("what's Apple's stock price", "get_stock_price"),
    ("translate 'good morning' into French", "translate_text"),
    ("book me a flight from Boston to Denver", "book_flight"),
])
def test_bm25_ranks_the_right_tool_first(request_text: str, expected: str) -> None:
    assert ToolRetrieval(max_tools=0).rank(request_text, TOOLS)[0] == expected


def test_bm25_scores_nothing_for_unrelated_words_and_handles_no_tools() -> None:
    r = BM25Retriever()
    assert r.scores("zebra quantum", TOOLS) == [0.0] * len(TOOLS)
    assert r.scores("weather", []) == []


def test_selection_below_the_threshold_is_every_tool_unchanged() -> None:
    small = TOOLS[:8]
    assert ToolRetrieval().select("weather in Paris", small) == small


def test_selection_keeps_registration_order_and_forced_tools() -> None:
    chosen = ToolRetrieval(max_tools=3, top_k=2, min_score_ratio=0).select(
        "translate the weather report into French", TOOLS, keep=["book_flight"]
    )
    names = [t["name"] for t in chosen]
    assert names == ["get_weather", "translate_text", "book_flight"]  # the tools' order, not the scores'
    # the same request picks the same tools, so the system prompt (and its cached prefix) is the same
    again = ToolRetrieval(max_tools=3, top_k=2, min_score_ratio=0).select(
        "translate the weather report into French", TOOLS, keep=["book_flight"])
    assert again == chosen


def test_retrieval_settings_are_checked_all_at_once() -> None:
    with pytest.raises(UserError, match="top_k") as err:
        ToolRetrieval(top_k=0, max_tools=-1, min_score_ratio=2.0, retriever="bm25")  # type: ignore[arg-type]
    for word in ("max_tools", "min_score_ratio", "retriever"):
        assert word in str(err.value)
    with pytest.raises(UserError, match="top_k"):
        ToolRetrieval(top_k=True)


def test_terms_of_other_scripts_short_words_and_enums() -> None:
    assert retrieval_terms("Küche") == ["küche"]
    assert retrieval_terms("turn on the TV") == ["turn", "tv"]
    assert retrieval_terms("Straße 12") == retrieval_terms("STRASSE") == ["strass"]
    lights = _tool("set_lights", "Switches lights.", room="Which room.")
    lights["parameters"]["properties"]["room"]["enum"] = ["kitchen", "bedroom"]
    assert "kitchen" in tool_text(lights)
    assert ToolRetrieval(max_tools=0, top_k=1).rank("the kitchen please", [*TOOLS, lights])[0] == "set_lights"


@pytest.mark.skipif(not BFCL.is_dir(), reason="needs ../shared/eval/bfcl")
def test_bfcl_pools_hide_each_questions_function_among_distinct_others() -> None:
    questions = list(load_bfcl(BFCL, ["simple_python"], limit=30))
    functions = pool_functions(BFCL)
    assert len(functions) >= 400 and len({f["name"] for f in functions}) == len(functions)
    pooled = with_tool_pool(questions, functions, 50, seed=3)
    positions = set()
    for q, p in zip(questions, pooled):
        names = [t["name"] for t in p.tools]
        assert len(names) == 50 == len(set(names))
        assert q.tools[0]["name"] in names
        positions.add(names.index(q.tools[0]["name"]))
        assert p.request == q.request
    assert len(positions) > 10  # the right tool is not always in the same place
    assert [t["name"] for t in with_tool_pool(questions, functions, 50, seed=3)[0].tools] == \
        [t["name"] for t in pooled[0].tools]
    assert with_tool_pool(questions, functions, 1)[0].tools == questions[0].tools
    with pytest.raises(UserError, match="tool-pool"):
        with_tool_pool(questions, functions, 0)
    with pytest.raises(UserError, match="distinct functions"):
        with_tool_pool(questions, functions, len(functions) + 5)


@pytest.mark.skipif(not BFCL.is_dir(), reason="needs ../shared/eval/bfcl")
def test_bm25_finds_bfcl_functions_among_400() -> None:
    """Recall@5 on the tuning questions (ids divisible by 4) among 400 tools: measured 97-98%, must stay above 90%."""
    questions = [q for q in load_bfcl(BFCL, ["simple_python"]) if int(q.id.rsplit("_", 1)[1]) % 4 == 0]
    pooled = with_tool_pool(questions, pool_functions(BFCL), 400)
    retrieval = ToolRetrieval(max_tools=0)
    found = 0
    for q, p in zip(questions, pooled):
        tools = [function_to_tool(f) for f in p.tools]
        found += q.tools[0]["name"] in retrieval.rank(p.request, tools)[:5]
    assert found / len(questions) > 0.90


class _RecordingBackend:
    """A scripted backend: calls the first tool it is offered once, then answers; records the tools offered."""

    def __init__(self) -> None:
        self.offered: list[list[str]] = []

    def step(self, request: StepRequest) -> StepStream:
        from agent_sdk.agent.conversation import assistant_message

        names = [t["name"] for t in request.tools]
        self.offered.append(names)
        if request.messages[-1]["role"] == "user":
            call = ToolCall(names[0], {})
            message = assistant_message("", [(call.id, call.name, call.arguments)])
            return StepResult([call], "", message, RunStats(steps=1))
        yield from ()
        return StepResult([], "done", assistant_message("done"), RunStats(steps=1))


def _registry(count: int) -> list[Tool]:
    out = []
    for spec in TOOLS[:count]:
        out.append(Tool.from_openai({"type": "function", "function": spec},
                                    implementation=lambda **kw: "ok"))
    return out


def test_agent_offers_the_retrieved_tools_for_each_turn_and_keeps_them_after_results() -> None:
    backend = _RecordingBackend()
    agent = Agent(backend, tools=_registry(10), followup_choice="auto", tool_retrieval=ToolRetrieval(min_score_ratio=0))
    agent.run("translate 'hello' into German")
    assert len(backend.offered) == 2 and backend.offered[0] == backend.offered[1]  # the same tools after the result
    assert len(backend.offered[0]) == 5 and "translate_text" in backend.offered[0]
    names = [t["name"] for t in TOOLS]
    assert backend.offered[0] == sorted(backend.offered[0], key=names.index)  # registration order
    assert agent.system_message() == agent.system_message("translate 'hello' into German")  # what the model saw
    agent.run("book a flight to Denver", tool_choice="get_stock_price")
    assert "book_flight" in backend.offered[2] and "get_stock_price" in backend.offered[2]  # a forced tool is offered


def test_the_best_scored_tools_only_when_one_stands_out() -> None:
    backend = _RecordingBackend()
    Agent(backend, tools=_registry(10), tool_retrieval=ToolRetrieval()).run("translate 'good morning' into French")
    assert backend.offered[0] == ["translate_text"]
    nothing = ToolRetrieval().select("zzz qqq", TOOLS)  # no tool scores: the first registered, as many as top_k
    assert [t["name"] for t in nothing] == [t["name"] for t in TOOLS[:5]]


def test_a_follow_up_turn_can_call_the_tools_called_before() -> None:
    backend = _RecordingBackend()
    agent = Agent(backend, tools=_registry(10), tool_retrieval=ToolRetrieval(top_k=2))
    agent.run("translate 'hello' into German")
    called = backend.offered[0][0]
    agent.run("and 'goodbye'?")
    assert called == "translate_text" and called in backend.offered[2]


def test_a_follow_up_choice_naming_a_tool_is_offered() -> None:
    backend = _RecordingBackend()
    agent = Agent(backend, tools=_registry(10), followup_choice="book_flight", tool_retrieval=ToolRetrieval(top_k=1))
    agent.run("what's the weather in Paris")
    assert "book_flight" in backend.offered[0] and "book_flight" in backend.offered[1]


def test_agent_with_few_tools_or_retrieval_off_offers_every_tool() -> None:
    backend = _RecordingBackend()
    Agent(backend, tools=_registry(8), tool_retrieval=ToolRetrieval()).run("weather in Paris")
    assert backend.offered[0] == [t["name"] for t in TOOLS[:8]]
    backend = _RecordingBackend()
    Agent(backend, tools=_registry(10), tool_retrieval=None).run("weather in Paris")
    assert backend.offered[0] == [t["name"] for t in TOOLS]
    backend = _RecordingBackend()  # a remote backend: the server's model reads every tool
    agent = Agent(backend, tools=_registry(10))
    assert agent.tool_retrieval is None
    agent.run("weather in Paris")
    assert backend.offered[0] == [t["name"] for t in TOOLS]
    backend = _RecordingBackend()
    Agent(backend, tools=_registry(10), tool_retrieval=ToolRetrieval(max_tools=3, top_k=1)).run("weather in Paris")
    assert backend.offered[0] == ["get_weather"]


def test_a_tuned_bundle_keeps_every_tool_listed_unless_asked() -> None:
    class _Bundle:  # what the agent reads of a local engine before any step: its manifest
        def __init__(self, manifest: dict) -> None:
            self.manifest = manifest

    assert Agent(_Bundle({"tuning": {"steps": 3}}), tools=_registry(10)).tool_retrieval is None  # type: ignore[arg-type]
    assert Agent(_Bundle({}), tools=_registry(10)).tool_retrieval is not None  # type: ignore[arg-type]
    chosen = ToolRetrieval(top_k=2)
    assert Agent(_Bundle({"tuning": {}}), tools=_registry(10), tool_retrieval=chosen).tool_retrieval is chosen  # type: ignore[arg-type]
