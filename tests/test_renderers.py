"""One renderer registry (core/renderers.py): each command's --format choices are the formats registered for what
it prints, the human formats share one list of layer columns, and adding a format is one function."""
import re

import pytest
from click.testing import CliRunner

import cnnscope
from cnnscope.cli import main
from cnnscope.cli.options import RENDERER_HOMES, RenderedChoice
from cnnscope.core import renderers
from cnnscope.views.columns import layer_columns


WITH_FORMATS = sorted(name for name, command in main.commands.items()
                      if any(p.name == "fmt" for p in command.params))


def test_the_commands_with_a_format_are_found():
    assert {"summary", "check", "diff", "list", "plugins", "graph", "build", "train", "diagnose", "report",
            "compare", "learning-curve", "improve"} <= set(WITH_FORMATS)


@pytest.mark.parametrize("command", WITH_FORMATS)
def test_a_commands_formats_are_the_registrys(command):
    (option,) = [p for p in main.commands[command].params if p.name == "fmt"]
    choice = option.type
    assert isinstance(choice, RenderedChoice), f"{command}'s --format is not the registry's"
    what = choice.what
    shown = set(choice.choices)  # imports the module the renderers live in
    registered = set(renderers.formats(what))
    assert registered and shown - registered <= {"auto"} and registered <= shown


def test_every_output_names_the_module_its_renderers_live_in():
    for what in RENDERER_HOMES:
        assert RenderedChoice(what, "x").choices[1:], f"nothing registered for {what}"


def _analysis():
    return cnnscope.analyze_target("resnet-mini")  # it branches: "Connected to" is shown


def test_text_markdown_and_html_show_the_same_columns():
    analysis = _analysis()
    headers = [column.header for column in layer_columns(analysis)]
    table = analysis.summary("table").splitlines()[1]
    markdown = analysis.summary("markdown").split("\n\n")[1].splitlines()[0]
    html = re.findall(r"<th>(.*?)</th>", analysis.summary("html").split("<tbody>")[0])
    assert re.split(r"\s{2,}", table.strip()) == headers
    assert [cell.strip() for cell in markdown.strip("|").split("|")] == headers
    assert [h.replace("&#x27;", "'") for h in html] == headers
    assert "Connected to" in headers and "Trainable" in headers


def test_every_registered_summary_format_renders():
    """Each format holds every layer: by name in the human ones and the graphs, as a row in CSV."""
    analysis = _analysis()
    for fmt in renderers.formats("summary"):
        text = renderers.render("summary", fmt, analysis)
        assert isinstance(text, str) and all(layer.name in text for layer in analysis.layers), fmt
    rows = renderers.render("summary", "csv", analysis).splitlines()
    assert rows[0].split(",") == list(analysis.layers[0].JSON_KEYS) and len(rows) == 1 + len(analysis.layers)


def test_adding_a_format_is_one_function(monkeypatch, examples):
    monkeypatch.setitem(renderers._REGISTRY, "summary", dict(renderers._REGISTRY["summary"]))

    @renderers.renderer("summary", "params-only")
    def params_only(analysis, fmt):
        return str(analysis.params)

    result = CliRunner().invoke(main, ["summary", str(examples / "lenet5.json"), "--format", "params-only"])
    assert result.exit_code == 0 and result.stdout.strip() == "61706", result.output


def test_an_unknown_format_is_refused_by_name():
    result = CliRunner().invoke(main, ["diff", "a.json", "b.json", "--format", "yaml"])
    assert result.exit_code == 2 and "'yaml' is not one of" in result.output and "markdown" in result.output


def test_a_format_registered_twice_is_an_error():
    with pytest.raises(ValueError, match="two renderers for summary as json"):
        renderers.renderer("summary", "json")(lambda value, fmt: "")
