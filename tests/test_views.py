"""Where users look: the Mermaid and dot graph, the HTML report, notebook display, and the same page rendered by
a real browser (headless Chromium) and from a notebook executed with nbclient."""
import html.parser
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import cnnscope
from cnnscope.cli import main
from cnnscope.views import graph

RESIDUAL = {"input_shape": [16, 16, 8], "layers": [
    {"type": "Conv2D", "name": "c1", "filters": 8, "kernel_size": 3, "padding": "same", "activation": "relu"},
    {"type": "Conv2D", "name": "c2", "filters": 8, "kernel_size": 3, "padding": "same"},
    {"type": "Add", "name": "add", "inputs": ["c2", "input_layer"]},
    {"type": "GlobalAveragePooling2D", "name": "gap"},
    {"type": "Dense", "name": "head", "units": 3, "activation": "softmax"},
]}


def _analysis(spec=RESIDUAL, **options):
    return cnnscope.analyze(cnnscope.stack_from_spec(spec), **options)


def test_mermaid_shows_every_layer_and_the_residual_branch():
    text = graph.mermaid(_analysis())
    assert text.startswith("flowchart TD")
    nodes = [line for line in text.splitlines() if line.strip().startswith("n") and "[" in line]
    assert len(nodes) == 6 and "(None, 16, 16, 8)" in nodes[2]
    assert "n0 --> n3" in text and "n2 --> n3" in text  # both branches into the Add


def test_hostile_names_cannot_break_out_of_a_mermaid_label():
    spec = {"input_shape": [4], "layers": [{"type": "Dense", "units": 2, "name": 'x"]; click n0 "evil<b>'}]}
    line = graph.mermaid(_analysis(spec)).splitlines()[2]
    assert line.count('"') == 2 and "<b>" not in line and "#quot;" in line


def test_dot_text_has_nodes_and_edges():
    text = graph.dot(_analysis())
    assert text.startswith('digraph "model"') and text.count("->") == 6 and text.rstrip().endswith("}")


class _Page(html.parser.HTMLParser):
    """The rows of the layer table and the ids of the figures."""

    def __init__(self):
        super().__init__()
        self.rows, self.ids, self._cells, self._in_cell, self.scripts = [], set(), None, False, 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "script":
            self.scripts += 1
        if tag == "tr":
            self._cells = []
        elif tag == "td" and self._cells is not None:
            self._in_cell = True
            self._cells.append("")

    def handle_endtag(self, tag):
        if tag == "td":
            self._in_cell = False
        elif tag == "tr" and self._cells:
            self.rows.append([cell.strip() for cell in self._cells])
            self._cells = None

    def handle_data(self, data):
        if self._in_cell:
            self._cells[-1] += data


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def test_the_html_report_is_one_self_contained_page(tmp_path):
    spec = tmp_path / "residual.json"
    spec.write_text(json.dumps(RESIDUAL))
    out = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["summary", str(spec), "--format", "html", "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    page = _parse(text)
    assert [row[0] for row in page.rows] == ["input_layer (InputLayer)", "c1 (Conv2D)", "c2 (Conv2D)", "add (Add)",
                                             "gap (GlobalAveragePooling2D)", "head (Dense)"]
    add = page.rows[3]
    assert add[5] == "c2, input_layer"  # Keras's "Connected to"
    assert sum(float(row[3].rstrip("%")) for row in page.rows) == pytest.approx(100, abs=0.5)
    assert {"memory-chart", "graph"} <= page.ids and page.scripts == 0
    # works offline: nothing is fetched (the SVGs' xmlns URIs are names, not downloads)
    assert not any(f'{attr}="http' in text for attr in ("src", "href", "xlink:href")) and "url(http" not in text


def test_notebook_display_and_markdown():
    analysis = _analysis()
    assert _parse(analysis._repr_html_()).rows[1][0] == "c1 (Conv2D)"
    assert analysis._repr_markdown_().startswith("### Model: `model`")


def test_graph_command_without_dot_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot here
    spec = tmp_path / "residual.json"
    spec.write_text(json.dumps(RESIDUAL))
    result = CliRunner().invoke(main, ["graph", str(spec), "-o", str(tmp_path / "model.svg")])
    assert result.exit_code == 2 and "install it (apt-get install graphviz" in result.output
    assert not (tmp_path / "model.svg").exists()
    result = CliRunner().invoke(main, ["graph", str(spec), "-o", str(tmp_path / "model.mmd")])
    assert result.exit_code == 0 and (tmp_path / "model.mmd").read_text().startswith("flowchart TD")


def test_graph_command_hands_the_dot_text_to_graphviz(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "dot"
    fake.parent.mkdir()
    fake.write_text(f"#!{sys.executable}\nimport sys\ntext = sys.stdin.read()\n"
                    "sys.stdout.write('<svg>' + str(text.count('->')) + ' edges ' + sys.argv[1] + '</svg>')\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    spec = tmp_path / "residual.json"
    spec.write_text(json.dumps(RESIDUAL))
    result = CliRunner().invoke(main, ["graph", str(spec), "-o", str(tmp_path / "model.svg")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "model.svg").read_text() == "<svg>6 edges -Tsvg</svg>"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (.ci/run installs "
                                    "Debian's chromium where apt-get is available)")
ARTIFACTS = Path(os.environ.get("CNNSCOPE_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))


def _chromium(*args, timeout=120):
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def _render(page: Path, name: str) -> _Page:
    """The DOM Chromium builds from PAGE, and a screenshot of it kept under test-artifacts/."""
    dom = _chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-500:]
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    _chromium(f"--screenshot={shot}", "--window-size=1400,1600", page.as_uri())
    assert shot.exists() and shot.stat().st_size > 10_000
    return _parse(dom.stdout)


@needs_chromium
def test_chromium_renders_the_report(tmp_path):
    out = tmp_path / "report.html"
    spec = tmp_path / "residual.json"
    spec.write_text(json.dumps(RESIDUAL))
    assert CliRunner().invoke(main, ["summary", str(spec), "--format", "html", "-o", str(out)]).exit_code == 0
    page = _render(out, "report")
    assert len(page.rows) == 6 and {"memory-chart", "graph"} <= page.ids


@needs_chromium
def test_a_notebook_cell_displays_the_analysis(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import cnnscope\n"
        f"cnnscope.analyze(cnnscope.stack_from_spec({RESIDUAL!r}))")])
    NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    output = notebook.cells[0].outputs[0]
    assert "text/html" in output["data"] and "text/markdown" in output["data"]
    page = tmp_path / "cell.html"
    page.write_text(f"<!DOCTYPE html><html><body>{output['data']['text/html']}</body></html>")
    rendered = _render(page, "notebook-cell")
    assert [row[0] for row in rendered.rows][-1] == "head (Dense)"


def test_the_cli_quiets_tensorflow_unless_the_user_chose_a_level(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    CliRunner().invoke(main, ["list"])
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    CliRunner().invoke(main, ["list"])
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


def test_graph_as_json_lists_nodes_and_edges(tmp_path):
    spec = tmp_path / "residual.json"
    spec.write_text(json.dumps(RESIDUAL))
    result = CliRunner().invoke(main, ["graph", str(spec), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert len(data["nodes"]) == 6 and ["input_layer", "add"] in data["edges"] and ["c2", "add"] in data["edges"]


def test_check_and_diff_as_html(tmp_path):
    spec = tmp_path / "residual.json"
    spec.write_text(json.dumps(RESIDUAL))
    checked = CliRunner().invoke(main, ["check", str(spec), "--max-params", "1000", "--format", "html"])
    assert checked.exit_code == 1  # over budget, as the table says
    page = _parse(checked.output)
    assert page.rows[0][1:] == ["max-params", "1,195", "1,000", "over"] and page.scripts == 0
    wider = {**RESIDUAL, "layers": [{**RESIDUAL["layers"][0], "filters": 8}, *RESIDUAL["layers"][1:-1],
                                    {**RESIDUAL["layers"][-1], "units": 5}]}
    other = tmp_path / "wider.json"
    other.write_text(json.dumps(wider))
    diffed = CliRunner().invoke(main, ["diff", str(spec), str(other), "--format", "html"])
    assert diffed.exit_code == 0, diffed.output
    rows = _parse(diffed.output).rows
    assert ["~ head", "", "(3)", "(5)", "27", "45"] in rows


@pytest.mark.train
def test_a_training_run_as_an_html_report_and_a_diagnosis_in_a_notebook(tmp_path):
    run = tmp_path / "run"
    trained = CliRunner().invoke(main, ["train", "lenet", "--epochs", "2", "--train-size", "200", "--output", str(run)])
    assert trained.exit_code == 0, trained.output
    result = CliRunner().invoke(main, ["report", str(run)])
    assert result.exit_code == 0, result.output
    text = (run / "report.html").read_text()
    page = _parse(text)
    assert {"learning-curves", "diagnosis", "recommendations"} & page.ids >= {"learning-curves", "diagnosis"}
    assert 'src="data:image/png;base64,' in text and page.scripts == 0
    from cnnscope.training.run_folder import RunFolder

    diagnosis = RunFolder(run).diagnosis()
    assert _parse(diagnosis._repr_html_()).rows[0] == ["train error", f"{diagnosis.train_error:.2%}"]


def test_compare_as_one_page_with_its_curves(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cnnscope.training.experiments import compare_page

    plt.plot([1, 2], [0.3, 0.2])
    plt.savefig(tmp_path / "compare.png")
    plt.close()
    row = {"model": "a<b>", "params": 10, "training_memory_bytes": 2048, "flops": 5, "train_error": 0.1,
           "val_error": 0.2, "test_error": 0.25, "avoidable_bias": 0.1, "variance": 0.1, "diagnosis": "high_variance",
           "seconds_per_epoch": 1.5}
    text = compare_page([row], tmp_path)
    page = _parse(text)
    assert page.rows[0][0] == "a<b>" and "<b>" not in text.split("<table")[1].split("</table>")[0]
    assert "validation-curves" in page.ids and 'src="data:image/png;base64,' in text


def test_a_comparison_displays_as_a_table_in_a_notebook():
    from cnnscope.training.experiments import Comparison

    row = {"model": "vgg-lite", "params": 10, "training_memory_bytes": 2048, "flops": None, "train_error": 0.1,
           "val_error": 0.2, "test_error": None, "avoidable_bias": 0.1, "variance": 0.1, "diagnosis": "good_fit",
           "seconds_per_epoch": None}
    comparison = Comparison([row])
    assert _parse(comparison._repr_html_()).rows[0][:2] == ["vgg-lite", "10"]
    markdown = comparison._repr_markdown_().splitlines()
    assert markdown[0].startswith("| Model") and markdown[2].split("|")[1].strip() == "vgg-lite"


@pytest.mark.parametrize("spec", [
    "mnist-cnn",
    # a depthwise convolution's dense filter gradient is a transient that does not grow with the batch
    {"input_shape": [14, 14, 256], "layers": [{"type": "DepthwiseConv2D", "kernel_size": 3},
                                              {"type": "GlobalAveragePooling2D"}, {"type": "Dense", "units": 10}]},
    # the peak is a forward: drawing the dropout's mask while the Dense output it masks, kept by nobody, is alive
    {"input_shape": [64, 32], "layers": [{"type": "Dense", "units": 128}, {"type": "Dropout", "rate": 0.1},
                                         {"type": "Dense", "units": 32}, {"type": "GlobalAveragePooling1D"},
                                         {"type": "Dense", "units": 10}]},
])
def test_the_memory_chart_adds_up_to_the_training_memory_at_any_depth(spec):
    from cnnscope.views.html import memory_parts

    analysis = (cnnscope.analyze_target(spec, batch_size=8) if isinstance(spec, str)
                else cnnscope.analyze(cnnscope.stack_from_spec(spec), batch_size=8))
    for shown in (analysis, analysis.folded(0)):
        assert sum(size for _, size in memory_parts(shown)) == analysis.totals.training_memory_bytes


def test_the_graph_of_a_long_chain_is_sized_to_fill_a_page_readably(examples):
    import re

    from cnnscope.views.graph import FONT_PT, svg_with_networkx

    svg = svg_with_networkx(cnnscope.analyze(cnnscope.load_file(examples / "vgg16.toml")))
    width, height = (float(v) for v in re.search(r'<svg[^>]*width="([\d.]+)pt"[^>]*height="([\d.]+)pt"', svg).groups())
    assert 1.0 < width / height < 2.5  # wrapped into columns: no narrow one-node-wide strip
    assert width * 4 / 3 <= 1400  # shown at its natural size on a 1400 px page, so the font stays FONT_PT
    assert FONT_PT >= 8 and "2,359,808 params" in svg  # parameter counts on the nodes
