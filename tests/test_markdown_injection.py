"""Names from a pull request in the Markdown CI posts as a comment (issue 20, case 4): no HTML, no link or image,
no split table cell, no ended code span or fence, no line break; long names cut."""
import json
import re

from click.testing import CliRunner

from cnnscope.cli import main
from cnnscope.views.columns import LAYER_COLUMNS

HOSTILE = "x<img src=https://evil.example/a.png>|y`z[link](https://evil.example)\n```\n<details open>"


def run(*args):
    return CliRunner().invoke(main, list(map(str, args)))


def spec(tmp_path, filename="model.json", layer_name=HOSTILE, model_name=HOSTILE, units=8):
    path = tmp_path / filename
    path.write_text(json.dumps({"name": model_name, "input_shape": [16], "layers": [
        {"type": "Dense", "units": units, "name": layer_name}, {"type": "Dense", "units": 2, "name": "head"}]}))
    return path


def unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def outside_code_spans(markdown: str) -> str:
    """The text CommonMark reads as markup: a code span's content (`...`) is shown literally, HTML included."""
    return re.sub(r"(?<!\\)`[^`\n]*(?<!\\)`", "", markdown)


def assert_inert(markdown: str, columns: int | None = None):
    markup = outside_code_spans(markdown)
    assert "<img" not in markup and "<details open" not in markup
    assert not re.search(r"(?<!\\)\]\(", markup)  # no unescaped link or image syntax
    assert "\n```\n<details" not in markdown  # the name's fence never reaches the comment
    if columns:  # every table row has the header's cells: no name split one
        rows = [line for line in markdown.splitlines() if line.startswith("|")]
        assert rows and all(unescaped_pipes(line) == columns + 1 for line in rows), rows


def test_summary_markdown_keeps_hostile_names_inert(tmp_path):
    result = run("summary", spec(tmp_path), "--format", "markdown")
    assert result.exit_code == 0, result.output
    # the chain's layer columns (views/columns.py), "Connected to" left out
    assert_inert(result.stdout, columns=sum(1 for c in LAYER_COLUMNS if c.header != "Connected to"))
    assert "&lt;img" in result.stdout  # shown, as text


def test_check_markdown_keeps_hostile_names_inert_and_bullets_on_one_line(tmp_path):
    result = run("check", spec(tmp_path, units=64), "--max-params", "100", "--format", "markdown")
    assert result.exit_code == 1, result.output
    assert_inert(result.stdout.split("<details>")[0], columns=5)
    bullets = [line for line in result.stdout.splitlines() if line.startswith("- ")]
    assert len(bullets) == 1 and "exceeds the limit" in bullets[0]


def test_diff_markdown_keeps_hostile_names_inert(tmp_path):
    a, b = spec(tmp_path, "a.json"), spec(tmp_path, "b.json", units=12)
    result = run("diff", a, b, "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert_inert(result.stdout)
    assert result.stdout.splitlines()[0].startswith("### Diff: `")


def test_a_hostile_file_name_in_a_graph_summary_is_escaped(tmp_path):
    path = spec(tmp_path, "x<img src=x>|y`z.json", layer_name="d", model_name="m")
    result = run("check", path, "--max-params", "1M", "--format", "markdown")
    assert result.exit_code == 0, result.output
    summary = next(line for line in result.stdout.splitlines() if line.startswith("<details><summary>"))
    assert "<img" not in summary and "&lt;img src=x&gt;" in summary


def test_a_60000_character_name_is_cut_in_every_format(tmp_path):
    path = spec(tmp_path, layer_name="n" * 60_000, model_name="m")
    for fmt in ("table", "markdown", "html", "mermaid"):
        result = run("summary", path, "--format", fmt)
        assert result.exit_code == 0, (fmt, result.output[:300])
        assert "n" * 200 not in result.stdout and len(result.stdout) < 2_000_000, fmt
